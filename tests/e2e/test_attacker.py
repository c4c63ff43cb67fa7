"""The order API as an attacker sees it: a customer's own token (anyone can sign up), and HTTP
to the public service; other customers' orders are out of reach (tests/e2e/test_identity.py).

Each attempt must get a 4xx, or be contained: no 5xx (no fake outage in logs and alerts),
nothing held in stock, nothing of the attacker's echoed back. What the traces keep of a forged
trace context is checked in Jaeger by tests/telemetry/test_trace_boundary.py; here, that it
changes nothing an attacker can see.
"""

import asyncio
import base64
import json
import secrets
import time
import uuid

import httpx
import pytest

from devtools.stack.services import Services
from order.settings import OrderSettings
from tests.support.shop import as_customer, as_order_service, idempotency_key, new_product

FORGED_CURSORS = {
    "before-year-1-in-utc": ["0001-01-01T00:00:00+14:00", str(uuid.uuid4())],
    "after-year-9999-in-utc": ["9999-12-31T23:59:59-14:00", str(uuid.uuid4())],
    "no-offset": ["2026-01-01T00:00:00", str(uuid.uuid4())],
    "not-a-uuid": ["2026-01-01T00:00:00+00:00", "' OR 1=1 --"],
    "a-number": [1, 2],
    "three-values": ["2026-01-01T00:00:00+00:00", str(uuid.uuid4()), "x"],
}


def cursor(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def forged_trace_context(sampled: str) -> dict[str, str]:
    return {
        "traceparent": f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-{sampled}",
        "tracestate": "attacker=1,victim=2",
        "baggage": "user.role=admin,tenant=victim," + ",".join(f"k{n}=v" for n in range(150)),
    }


@pytest.mark.parametrize("name", FORGED_CURSORS)
async def test_a_forged_cursor_is_a_422_and_no_outage(
    order_api: httpx.AsyncClient, name: str
) -> None:
    response = await order_api.get("/orders", params={"cursor": cursor(FORGED_CURSORS[name])})

    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "cursor"
    # The database was never blamed: the service still says it is ready.
    assert (await order_api.get("/readyz")).status_code == 200


async def test_an_order_over_the_units_cap_holds_nothing(
    order_api: httpx.AsyncClient, services: Services, inventory_api: httpx.AsyncClient
) -> None:
    skus = [new_product(services, stock=100) for _ in range(2)]
    # The whole stock of two products in one request, then in two requests of each half.
    whole = {"items": [{"sku": s, "quantity": 100} for s in skus]}
    assert (
        await order_api.post("/orders", json=whole, headers=idempotency_key())
    ).status_code == 422
    for sku in skus:
        half = {"items": [{"sku": sku, "quantity": 100}]}
        placed = await order_api.post("/orders", json=half, headers=idempotency_key())
        assert placed.status_code == 201, placed.text

    # Each accepted request took what it asked, no more; the refused one nothing.
    for sku in skus:
        assert (await inventory_api.get(f"/stock/{sku}")).json()["available"] == 0


async def test_the_largest_total_is_stored_exactly_and_one_unit_more_is_refused(
    order_api: httpx.AsyncClient, services: Services, inventory_api: httpx.AsyncClient
) -> None:
    sku = new_product(services, stock=200, price="9999999999.99")
    items = [{"sku": sku, "quantity": 100}]

    placed = await order_api.post("/orders", json={"items": items}, headers=idempotency_key())
    more = [{"sku": sku, "quantity": 101}]
    refused = await order_api.post("/orders", json={"items": more}, headers=idempotency_key())

    assert placed.status_code == 201, placed.text
    assert placed.json()["total"] == "999999999999.00"
    assert refused.status_code == 422, refused.text
    assert (await inventory_api.get(f"/stock/{sku}")).json()["available"] == 100


@pytest.mark.parametrize("sampled", ["00", "01", "ff"])
async def test_a_forged_trace_context_changes_nothing_the_caller_sees(
    order_api: httpx.AsyncClient, services: Services, sampled: str
) -> None:
    forged = forged_trace_context(sampled)
    sku = new_product(services)
    body = {"items": [{"sku": sku, "quantity": 1}]}

    placed = await order_api.post("/orders", json=body, headers={**idempotency_key(), **forged})
    read = await order_api.get(f"/orders/{placed.json()['id']}", headers=forged)
    listed = await order_api.get("/orders", headers=forged)

    assert (placed.status_code, read.status_code, listed.status_code) == (201, 200, 200)
    trace_id = forged["traceparent"].split("-")[1]
    for response in (placed, read, listed):
        echoed = json.dumps(dict(response.headers)) + response.text
        assert trace_id not in echoed
        assert "victim" not in echoed


async def test_a_placed_order_s_stock_cannot_be_released_even_with_the_order_service_s_token(
    order_api: httpx.AsyncClient, services: Services, inventory_api: httpx.AsyncClient
) -> None:
    sku = new_product(services, stock=10)
    body = {"items": [{"sku": sku, "quantity": 4}]}
    placed = await order_api.post("/orders", json=body, headers=idempotency_key())
    assert placed.status_code == 201, placed.text
    reservation = f"/reservations/{placed.json()['id']}"

    # Inventory straight away: with a customer's token, and with the order service's own (a
    # stolen credential, a bug, a replayed compensation).
    shopper, order_service = (
        as_customer(services, "shopper"),
        as_order_service(services, "inventory"),
    )
    as_shopper = await inventory_api.delete(reservation, headers=shopper)
    as_order = await inventory_api.delete(reservation, headers=order_service)

    assert as_shopper.status_code == 401, as_shopper.text
    assert as_order.status_code == 409, as_order.text
    assert as_order.headers["content-type"] == "application/problem+json"
    problem = as_order.json()
    assert problem["type"].endswith("/reservation-confirmed")
    assert problem["reservation_status"] == "confirmed"
    assert (await inventory_api.get(f"/stock/{sku}")).json()["available"] == 6
    assert (await inventory_api.get(reservation)).json()["status"] == "confirmed"
    # An operator sees the refusal: only a bug or a stolen credential asks this.
    log = (services.logs / "inventory.log").read_text().splitlines()
    refusals = [json.loads(line)["message"] for line in log if line.startswith("{")]
    assert (
        f"refused to release the confirmed reservation of order {placed.json()['id']}" in refusals
    )


async def test_a_key_someone_else_used_first_is_still_the_customer_s_own(
    order_api: httpx.AsyncClient, services: Services, inventory_api: httpx.AsyncClient
) -> None:
    sku = new_product(services, stock=10)
    key = idempotency_key()
    # The attacker learned (or guessed) a key the victim is about to use, and used it first.
    squatted = await order_api.post(
        "/orders",
        json={"items": [{"sku": sku, "quantity": 1}]},
        headers={**key, **as_customer(services, "squatter")},
    )
    victim = await order_api.post(
        "/orders",
        json={"items": [{"sku": sku, "quantity": 2}]},
        headers={**key, **as_customer(services, "victim")},
    )

    assert squatted.status_code == 201, squatted.text
    # Neither refused as a reused key, nor handed the attacker's order: an order of its own.
    assert victim.status_code == 201, victim.text
    assert "Idempotent-Replayed" not in victim.headers
    assert victim.json()["id"] != squatted.json()["id"]
    assert victim.json()["lines"][0]["quantity"] == 2
    assert (await inventory_api.get(f"/stock/{sku}")).json()["available"] == 7


async def test_one_customer_cannot_drain_stock_faster_than_the_rate_limit(
    order_api: httpx.AsyncClient, services: Services, inventory_api: httpx.AsyncClient
) -> None:
    limits = OrderSettings.model_fields
    burst = limits["customer_order_burst"].default
    per_second = limits["customer_orders_per_second"].default
    sku = new_product(services, stock=1000)
    body = {"items": [{"sku": sku, "quantity": 10}]}
    drainer = as_customer(services, "drainer")

    started, placed = time.monotonic(), 0
    while True:
        response = await order_api.post(
            "/orders", json=body, headers={**idempotency_key(), **drainer}
        )
        if response.status_code != 201:
            break
        placed += 1
    elapsed = time.monotonic() - started

    assert response.status_code == 429, response.text
    assert response.json()["type"].endswith("/rate-limited")
    assert int(response.headers["Retry-After"]) >= 1
    assert burst <= placed <= burst + elapsed * per_second + 1
    # Bad input is still named as such, not hidden behind the limit.
    empty = await order_api.post(
        "/orders", json={"items": []}, headers={**idempotency_key(), **drainer}
    )
    assert empty.status_code == 422, empty.text
    assert (await inventory_api.get(f"/stock/{sku}")).json()["available"] == 1000 - 10 * placed
    # Other customers are not held back by the drainer...
    other = await order_api.post("/orders", json=body, headers=idempotency_key())
    assert other.status_code == 201, other.text
    # ...and the drainer may order again once Retry-After has passed.
    await asyncio.sleep(int(response.headers["Retry-After"]))
    again = await order_api.post("/orders", json=body, headers={**idempotency_key(), **drainer})
    assert again.status_code == 201, again.text
