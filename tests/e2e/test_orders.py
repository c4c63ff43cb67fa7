"""An order flows through pricing and inventory, is stored, and reads back."""

import asyncio
import uuid
from decimal import Decimal

import httpx

from devtools.stack.services import Services
from tests.support.shop import as_customer, idempotency_key, new_product


async def test_order_is_priced_reserved_and_stored(
    order_api: httpx.AsyncClient,
    services: Services,
    inventory_api: httpx.AsyncClient,
) -> None:
    cheap = new_product(services, stock=10, price="2.50")
    dear = new_product(services, stock=10, price="19.99")
    body = {"items": [{"sku": cheap, "quantity": 4}, {"sku": dear, "quantity": 1}]}
    alice = as_customer(services, "alice")

    response = await order_api.post("/orders", json=body, headers={**idempotency_key(), **alice})

    assert response.status_code == 201, response.text
    order = response.json()
    assert response.headers["location"] == f"/orders/{order['id']}"
    assert order["status"] == "confirmed"
    assert order["customer_id"] == "alice"
    assert [
        (line["sku"], line["quantity"], line["unit_price"], line["line_total"])
        for line in order["lines"]
    ] == [
        (cheap, 4, "2.50", "10.00"),
        (dear, 1, "19.99", "19.99"),
    ]
    assert (order["total"], order["currency"]) == ("29.99", "EUR")
    assert (await inventory_api.get(f"/stock/{cheap}")).json()["available"] == 6
    # Confirmed once the order was stored: from now on no one can release its stock.
    reservation = await inventory_api.get(f"/reservations/{order['id']}")
    assert reservation.json()["status"] == "confirmed"

    detail = (await order_api.get(f"/orders/{order['id']}", headers=alice)).json()
    assert detail["total"] == "29.99"
    assert [
        (line["sku"], line["available_now"], line["unit_price_now"]) for line in detail["lines"]
    ] == [
        (cheap, 6, "2.50"),
        (dear, 9, "19.99"),
    ]


async def test_order_detail_shows_live_price_changes(
    order_api: httpx.AsyncClient,
    services: Services,
    pricing_api: httpx.AsyncClient,
) -> None:
    sku = new_product(services, stock=5, price="3.00")
    bob = as_customer(services, "bob")
    order = (
        await order_api.post(
            "/orders",
            json={"items": [{"sku": sku, "quantity": 1}]},
            headers={**idempotency_key(), **bob},
        )
    ).json()
    await pricing_api.put(
        f"/prices/{sku}", json={"name": "Dearer", "unit_price": "3.50", "currency": "EUR"}
    )

    line = (await order_api.get(f"/orders/{order['id']}", headers=bob)).json()["lines"][0]

    assert (line["unit_price"], line["unit_price_now"]) == ("3.00", "3.50")


async def test_unknown_order_is_404(order_api: httpx.AsyncClient, services: Services) -> None:
    response = await order_api.get(
        "/orders/00000000-0000-4000-8000-000000000000", headers=as_customer(services, "alice")
    )
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_listing_pages_through_a_customers_orders_newest_first(
    order_api: httpx.AsyncClient,
    services: Services,
) -> None:
    sku = new_product(services, stock=100)
    customer = as_customer(services, f"pager-{sku.lower()}")
    placed = []
    for _ in range(7):
        response = await order_api.post(
            "/orders",
            json={"items": [{"sku": sku, "quantity": 1}]},
            headers={**idempotency_key(), **customer},
        )
        placed.append(response.json()["id"])

    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await order_api.get("/orders", params=params, headers=customer)).json()
        seen += [order["id"] for order in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert pages == 3
    assert seen == list(reversed(placed))


async def test_replays_of_one_key_place_one_order_and_one_reservation(
    order_api: httpx.AsyncClient,
    services: Services,
    inventory_api: httpx.AsyncClient,
) -> None:
    sku = new_product(services, stock=1000)
    carol = as_customer(services, "carol")
    headers = {**idempotency_key(), **carol}
    body = {"items": [{"sku": sku, "quantity": 2}]}

    responses = await asyncio.gather(
        *(order_api.post("/orders", json=body, headers=headers) for _ in range(100))
    )
    # Replays that arrive while the first is in flight get 409; those beyond what admission
    # control takes in at once (docs/overload.md) get 503. Both retry, as a client would.
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 409, 503}, statuses
    retried = [
        await _until_done(order_api, body, headers)
        for _ in range(statuses.count(409) + statuses.count(503))
    ]

    ids = {r.json()["id"] for r in [*responses, *retried] if r.status_code == 201}
    assert len(ids) == 1
    assert (await inventory_api.get(f"/stock/{sku}")).json()["available"] == 998
    orders = (await order_api.get("/orders", params={"limit": 100}, headers=carol)).json()
    assert [o["id"] for o in orders["items"]].count(ids.pop()) == 1


async def _until_done(
    api: httpx.AsyncClient, body: dict[str, object], headers: dict[str, str]
) -> httpx.Response:
    for _ in range(100):
        response = await api.post("/orders", json=body, headers=headers)
        if response.status_code not in (409, 503):
            return response
        await asyncio.sleep(0.05)
    raise AssertionError("the first request with this key never finished")


async def _unless_shed(
    api: httpx.AsyncClient, body: dict[str, object], headers: dict[str, str]
) -> httpx.Response:
    """POST until admitted: a 503 of admission control is retried with the same key."""
    for _ in range(200):
        response = await api.post("/orders", json=body, headers=headers)
        if response.status_code != 503:
            return response
        await asyncio.sleep(0.05)
    raise AssertionError("shed 200 times in a row")


async def test_same_key_with_another_body_is_rejected(
    order_api: httpx.AsyncClient,
    services: Services,
    inventory_api: httpx.AsyncClient,
) -> None:
    sku = new_product(services, stock=10)
    headers = {**idempotency_key(), **as_customer(services, "dan")}
    first = await order_api.post(
        "/orders", json={"items": [{"sku": sku, "quantity": 1}]}, headers=headers
    )
    second = await order_api.post(
        "/orders", json={"items": [{"sku": sku, "quantity": 2}]}, headers=headers
    )

    assert first.status_code == 201
    assert second.status_code == 422
    assert second.json()["type"].endswith("/idempotency-key-reused")
    assert (await inventory_api.get(f"/stock/{sku}")).json()["available"] == 9


async def test_concurrent_orders_never_oversell(
    order_api: httpx.AsyncClient,
    services: Services,
    inventory_api: httpx.AsyncClient,
) -> None:
    sku = new_product(services, stock=50)
    body = {"items": [{"sku": sku, "quantity": 1}]}
    # Ten customers, each within the orders one customer may place at once (order/rate_limit.py).
    rush = [as_customer(services, f"rush-{n}") for n in range(10)]

    # 200 at once is more than admission control takes in (docs/overload.md): each client
    # retries with its key while it is shed, as Retry-After asks, so all 200 race for the stock.
    responses = await asyncio.gather(
        *(_unless_shed(order_api, body, {**idempotency_key(), **rush[n % 10]}) for n in range(200))
    )

    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 50, statuses
    assert statuses.count(409) == 150
    shortages = {r.json()["shortages"][0]["sku"] for r in responses if r.status_code == 409}
    assert shortages == {sku}
    assert (await inventory_api.get(f"/stock/{sku}")).json()["available"] == 0


async def test_out_of_stock_names_the_short_skus_and_reserves_nothing(
    order_api: httpx.AsyncClient,
    services: Services,
    inventory_api: httpx.AsyncClient,
) -> None:
    plenty = new_product(services, stock=100)
    scarce = new_product(services, stock=2)
    body = {"items": [{"sku": plenty, "quantity": 5}, {"sku": scarce, "quantity": 3}]}
    erin = as_customer(services, "erin")

    response = await order_api.post("/orders", json=body, headers={**idempotency_key(), **erin})

    assert response.status_code == 409
    assert response.json()["shortages"] == [{"sku": scarce, "requested": 3, "available": 2}]
    assert (await inventory_api.get(f"/stock/{plenty}")).json()["available"] == 100


async def test_money_is_exact_decimal_strings(
    order_api: httpx.AsyncClient,
    services: Services,
) -> None:
    sku = new_product(services, stock=10_000, price="0.10")
    response = await order_api.post(
        "/orders",
        json={"items": [{"sku": sku, "quantity": 3}]},
        headers={**idempotency_key(), **as_customer(services, "frank")},
    )
    # 3 x 0.10 is 0.30 exactly; a float pipeline would say 0.30000000000000004.
    assert response.json()["total"] == "0.30"
    assert Decimal(response.json()["total"]) == Decimal("0.30")


async def test_no_access_log_keeps_the_access_log_off(
    services: Services, order_api: httpx.AsyncClient
) -> None:
    # devtools.stack starts uvicorn with --no-access-log (traces and metrics say more);
    # the services' JSON logging must not switch it back on. Errors still reach the log.
    marker = f"/orders/{uuid.uuid4()}"
    assert (await order_api.get(marker, headers=as_customer(services, "gina"))).status_code == 404
    log = (services.logs / "order.log").read_text()
    assert "Application startup complete" in log  # the right file, and uvicorn's own lines
    assert marker not in log


async def test_the_largest_order_pricing_can_price_is_stored(
    order_api: httpx.AsyncClient, services: Services, inventory_api: httpx.AsyncClient
) -> None:
    # The dearest price pricing takes, at the most units an order takes (README, "The API").
    sku = new_product(services, stock=150, price="9999999999.99")
    body = {"items": [{"sku": sku, "quantity": 100}]}

    response = await order_api.post("/orders", json=body, headers=idempotency_key())

    assert response.status_code == 201, response.text
    assert response.json()["total"] == "999999999999.00"
    stored = await order_api.get(f"/orders/{response.json()['id']}")
    assert stored.json()["total"] == "999999999999.00"
    assert (await inventory_api.get(f"/stock/{sku}")).json()["available"] == 50


async def test_an_order_over_the_units_cap_is_refused_before_anything_is_held(
    order_api: httpx.AsyncClient, services: Services, inventory_api: httpx.AsyncClient
) -> None:
    skus = [new_product(services, stock=1_000) for _ in range(2)]
    body = {"items": [{"sku": skus[0], "quantity": 60}, {"sku": skus[1], "quantity": 41}]}

    response = await order_api.post("/orders", json=body, headers=idempotency_key())

    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["items"]
    for sku in skus:
        assert (await inventory_api.get(f"/stock/{sku}")).json()["available"] == 1_000
