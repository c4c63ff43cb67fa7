"""Bad requests get a 4xx problem document that names the problem, never a 500."""

import httpx
import pytest

from tests.support.shop import idempotency_key

GOOD_ITEM = {"sku": "SKU-00001", "quantity": 1}

BAD_ORDERS = [
    pytest.param({}, "items", id="missing-items"),
    # The customer is the access token's subject; naming one in the body is refused.
    pytest.param({"customer_id": "c1", "items": [GOOD_ITEM]}, "customer_id", id="customer-in-body"),
    pytest.param({"items": []}, "items", id="no-items"),
    pytest.param(
        {"items": [{"sku": f"SKU-{n:05d}", "quantity": 1} for n in range(51)]},
        "items",
        id="too-many-items",
    ),
    pytest.param({"items": [GOOD_ITEM, GOOD_ITEM]}, "items", id="duplicate-skus"),
    pytest.param(
        {"items": [{"sku": "SKU-00001", "quantity": 10_001}]},
        "items[0].quantity",
        id="huge-quantity",
    ),
    pytest.param(
        {"items": [{"sku": "SKU-00001", "quantity": 0}]}, "items[0].quantity", id="zero-quantity"
    ),
    pytest.param(
        {"items": [{"sku": "SKU-00001", "quantity": "1"}]},
        "items[0].quantity",
        id="quantity-as-string",
    ),
    pytest.param({"items": [{"sku": "sku 1", "quantity": 1}]}, "items[0].sku", id="sku-pattern"),
    pytest.param({"items": [GOOD_ITEM], "coupon": "FREE"}, "coupon", id="unknown-field"),
    pytest.param(
        {"items": [{**GOOD_ITEM, "price": "0.01"}]}, "items[0].price", id="unknown-item-field"
    ),
    pytest.param(["not", "an", "object"], "body", id="array-body"),
]


@pytest.mark.parametrize(("body", "field"), BAD_ORDERS)
async def test_invalid_order_names_the_field(
    order_api: httpx.AsyncClient, body: object, field: str
) -> None:
    response = await order_api.post("/orders", json=body, headers=idempotency_key())

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert field in [error["field"] for error in problem["errors"]], problem
    assert field in problem["detail"]


async def test_non_json_body_is_422(order_api: httpx.AsyncClient) -> None:
    response = await order_api.post(
        "/orders",
        content=b"items=SKU-00001",
        headers={**idempotency_key(), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body"


async def test_missing_idempotency_key_is_named(order_api: httpx.AsyncClient) -> None:
    response = await order_api.post("/orders", json={"items": [GOOD_ITEM]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "Idempotency-Key header"


async def test_oversized_body_is_413(order_api: httpx.AsyncClient) -> None:
    body = b'{"items": [], "padding": "' + b"x" * 100_000 + b'"}'
    response = await order_api.post(
        "/orders", content=body, headers={**idempotency_key(), "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["type"].endswith("/body-too-large")


async def test_oversized_chunked_body_is_413(order_api: httpx.AsyncClient) -> None:
    async def chunks():  # type: ignore[no-untyped-def]  # no Content-Length: streamed
        for _ in range(100):
            yield b"x" * 1000

    response = await order_api.post(
        "/orders",
        content=chunks(),
        headers={**idempotency_key(), "Content-Type": "application/json"},
    )
    assert response.status_code == 413


async def test_unknown_sku_names_the_item(order_api: httpx.AsyncClient) -> None:
    response = await order_api.post(
        "/orders",
        json={"items": [GOOD_ITEM, {"sku": "NO-SUCH-SKU", "quantity": 1}]},
        headers=idempotency_key(),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "items[1].sku"


async def test_money_as_float_is_refused(pricing_api: httpx.AsyncClient) -> None:
    response = await pricing_api.put(
        "/prices/SKU-00001", json={"name": "x", "unit_price": 1.1, "currency": "EUR"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "unit_price"


@pytest.mark.parametrize(
    ("service", "method", "path", "body"),
    [
        ("inventory", "PUT", "/stock/SKU-00001", {"available": 1}),
        (
            "pricing",
            "PUT",
            "/prices/SKU-00001",
            {"name": "x", "unit_price": "1.00", "currency": "EUR"},
        ),
    ],
)
@pytest.mark.parametrize("token", [None, "wrong-token"])
async def test_admin_routes_need_the_token(
    services: object, service: str, method: str, path: str, body: object, token: str | None
) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=services.url(service)) as client:  # type: ignore[attr-defined]
        response = await client.request(method, path, json=body, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer ")
    assert response.headers["content-type"] == "application/problem+json"
