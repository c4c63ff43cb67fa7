"""Talking to the shop as a test does: admin credentials, keys, products and orders."""

import subprocess
import sys
import uuid

import httpx

from devtools.stack.services import Services

ADMIN_TOKEN = "test-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def idempotency_key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def new_product(services: Services, stock: int = 100, price: str = "10.00") -> str:
    """A SKU no other test uses, priced and in stock, so tests share the services without
    sharing data; fails the test if pricing or inventory refuses it."""
    sku = f"T-{uuid.uuid4().hex[:12].upper()}"
    with httpx.Client(headers=ADMIN, timeout=30) as client:
        response = client.put(
            f"{services.url('pricing')}/prices/{sku}",
            json={"name": "Test product", "unit_price": price, "currency": "EUR"},
        )
        assert response.status_code == 200, response.text
        response = client.put(f"{services.url('inventory')}/stock/{sku}", json={"available": stock})
        assert response.status_code == 200, response.text
    return sku


def place_order(
    services: Services,
    items: list[dict[str, object]],
    customer: str = "tracer",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    with httpx.Client(base_url=services.order_url, timeout=30) as client:
        return client.post(
            "/orders",
            json={"customer_id": customer, "items": items},
            headers={**idempotency_key(), **(headers or {})},
        )


def seed_database(url: str) -> None:
    """The catalog `make run` and the chart seed (SKU-00001..SKU-00100), through the CLI."""
    seed = [sys.executable, "-m", "shopctl.cli", "seed", "--products", "100"]
    subprocess.run([*seed, "--database-url", url], check=True, capture_output=True)
