"""Talking to the shop as a test does: admin credentials, keys, products and orders."""

import subprocess
import sys
import uuid

import httpx

from devtools.stack import hydra
from devtools.stack.services import Services


def admin(services: Services, service: str) -> dict[str, str]:
    """The Authorization header of the operator's admin token for one service (scope admin)."""
    return {"Authorization": f"Bearer {services.provider.admin_token(service)}"}


def as_customer(services: Services, subject: str) -> dict[str, str]:
    """The Authorization header of a customer's token for the order API, from the sign-in flow."""
    return {"Authorization": f"Bearer {services.provider.customer_token(subject)}"}


def as_order_service(services: Services, callee: str) -> dict[str, str]:
    """The Authorization header of the order service's own token (client credentials, no
    scope) for `callee`: what the order service sends, or whoever stole its credential."""
    provider = services.provider
    assert provider.clients is not None
    token = hydra.client_credentials(
        provider.issuer, hydra.ORDER_CLIENT, provider.clients.order_secret, callee
    )
    return {"Authorization": f"Bearer {token['access_token']}"}


def idempotency_key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def new_product(services: Services, stock: int = 100, price: str = "10.00") -> str:
    """A SKU no other test uses, priced and in stock, so tests share the services without
    sharing data; fails the test if pricing or inventory refuses it."""
    sku = f"T-{uuid.uuid4().hex[:12].upper()}"
    with httpx.Client(timeout=30) as client:
        response = client.put(
            f"{services.url('pricing')}/prices/{sku}",
            json={"name": "Test product", "unit_price": price, "currency": "EUR"},
            headers=admin(services, "pricing"),
        )
        assert response.status_code == 200, response.text
        response = client.put(
            f"{services.url('inventory')}/stock/{sku}",
            json={"available": stock},
            headers=admin(services, "inventory"),
        )
        assert response.status_code == 200, response.text
    return sku


def place_order(
    services: Services,
    items: list[dict[str, object]],
    customer: str = "tracer",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST /orders as `customer` (signed in at the provider), with a new Idempotency-Key."""
    with httpx.Client(base_url=services.order_url, timeout=30) as client:
        headers = {**idempotency_key(), **as_customer(services, customer), **(headers or {})}
        return client.post("/orders", json={"items": items}, headers=headers)


def seed_database(url: str) -> None:
    """The catalog `make run` and the chart seed (SKU-00001..SKU-00100), through the CLI."""
    seed = [sys.executable, "-m", "shopctl.cli", "seed", "--products", "100"]
    subprocess.run([*seed, "--database-url", url], check=True, capture_output=True)
