"""A shop's traffic for locust: mostly browsing prices, some orders, reading them back.

    locust -f load/locustfile.py --headless --host http://127.0.0.1:8000 \\
        --users 20 --spawn-rate 5 --run-time 2m --only-summary

--host is the order service; PRICING_URL (default http://localhost:8002) is the pricing
service, whose public catalog shoppers browse directly. PRODUCTS must not exceed what `shopctl
seed --products` created (default 100). LOAD_SEED makes each user's choices repeatable.
Requests are named by route, not URL, so the statistics have one row per endpoint.

Each user signs in once, as its own customer, at the stack's ORY Hydra (OIDC_ISSUER, default
http://127.0.0.1:4444, and its admin API HYDRA_ADMIN_URL, default http://127.0.0.1:4445: the
ports of `make run`), by the sign-in flow of devtools/stack/hydra.py.
"""

import itertools
import os
import random
import uuid
from typing import Any

from locust import HttpUser, between, task

from devtools.stack import hydra

PRICING_URL = os.environ.get("PRICING_URL", "http://localhost:8002").rstrip("/")
PRODUCTS = int(os.environ.get("PRODUCTS", "100"))
SEED = os.environ.get("LOAD_SEED", "0")
ISSUER = os.environ.get("OIDC_ISSUER", "http://127.0.0.1:4444").rstrip("/")
HYDRA_ADMIN_URL = os.environ.get("HYDRA_ADMIN_URL", "http://127.0.0.1:4445").rstrip("/")

_user_numbers = itertools.count(1)


class Shopper(HttpUser):
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        # Seeded per user, so a run with the same users, seed and timing asks for the same things.
        self.rng = random.Random(f"{SEED}-{next(_user_numbers)}")
        self.customer_id = f"load-{uuid.UUID(int=self.rng.getrandbits(128)).hex[:12]}"
        self.order_ids: list[str] = []
        token = hydra.customer_token(ISSUER, HYDRA_ADMIN_URL, self.customer_id)
        self.client.headers["Authorization"] = f"Bearer {token}"

    def sku(self) -> str:
        return f"SKU-{self.rng.randint(1, PRODUCTS):05d}"

    @task(6)
    def browse_price(self) -> None:
        # An absolute URL leaves --host (the order service) for the pricing service.
        self.client.get(f"{PRICING_URL}/prices/{self.sku()}", name="/prices/{sku}")

    @task(3)
    def place_order(self) -> None:
        skus = self.rng.sample(range(1, PRODUCTS + 1), k=self.rng.randint(1, min(3, PRODUCTS)))
        # No customer in the body: the order is the signed-in customer's.
        body: dict[str, Any] = {
            "items": [{"sku": f"SKU-{n:05d}", "quantity": self.rng.randint(1, 3)} for n in skus],
        }
        # A fresh key per attempt: the same key would replay the first order instead.
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        with self.client.post(
            "/orders", json=body, headers=headers, name="/orders", catch_response=True
        ) as response:
            if response.status_code == 201:
                self.order_ids.append(response.json()["id"])
            elif response.status_code == 409:
                # Running out of stock is the shop working, not failing: a success, on its own
                # row. Locust reports the request as it leaves this block, under this name.
                response.request_meta["name"] = "/orders (409 out of stock)"
                response.success()

    @task(2)
    def read_order(self) -> None:
        if not self.order_ids:
            self.place_order()  # nothing to read yet
            return
        self.client.get(f"/orders/{self.rng.choice(self.order_ids)}", name="/orders/{id}")

    @task(1)
    def list_orders(self) -> None:
        self.client.get("/orders", params={"limit": 20}, name="/orders (own)")
