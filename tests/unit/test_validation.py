"""Request validation: field names in errors, limits, and problem documents."""

from typing import Any

import pytest
from pydantic import ValidationError

from order.schemas import OrderRequest
from pricing.contract import PriceUpdate
from shopkit.problems import field_name


def _errors(model: type[Any], data: object) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return [(field_name(("body", *e["loc"])), e["type"]) for e in caught.value.errors()]


def test_valid_order_request() -> None:
    request = OrderRequest.model_validate(
        {"customer_id": "c-1", "items": [{"sku": "SKU-00001", "quantity": 100}]}
    )
    assert request.items[0].quantity == 100


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"customer_id": "c", "items": []}, ("items", "too_short")),
        (
            {
                "customer_id": "c",
                "items": [{"sku": f"SKU-{n:05d}", "quantity": 1} for n in range(51)],
            },
            ("items", "too_long"),
        ),
        (
            {"customer_id": "c", "items": [{"sku": "SKU-1", "quantity": 1}] * 2},
            ("items", "value_error"),
        ),
        (
            {"customer_id": "c", "items": [{"sku": "SKU-1", "quantity": 10_001}]},
            ("items[0].quantity", "less_than_equal"),
        ),
        (
            {"customer_id": "c", "items": [{"sku": "SKU-1", "quantity": 1.0}]},
            ("items[0].quantity", "int_type"),
        ),
        (
            {"customer_id": "c", "items": [{"sku": "s", "quantity": 1}]},
            ("items[0].sku", "string_pattern_mismatch"),
        ),
        (
            {"customer_id": "", "items": [{"sku": "SKU-1", "quantity": 1}]},
            ("customer_id", "string_pattern_mismatch"),
        ),
        (
            {"customer_id": "c", "items": [{"sku": "SKU-1", "quantity": 1}], "x": 1},
            ("x", "extra_forbidden"),
        ),
    ],
)
def test_invalid_order_request_names_the_field(data: object, expected: tuple[str, str]) -> None:
    assert expected in _errors(OrderRequest, data)


def test_duplicate_skus_are_named_in_the_message() -> None:
    with pytest.raises(ValidationError, match="duplicate SKU SKU-1"):
        OrderRequest.model_validate(
            {"customer_id": "c", "items": [{"sku": "SKU-1", "quantity": 1}] * 2}
        )


@pytest.mark.parametrize("price", [1.5, "0", "-1.00", "1.001", "12345678901.00"])
def test_bad_prices_are_refused(price: object) -> None:
    errors = _errors(PriceUpdate, {"name": "x", "unit_price": price, "currency": "EUR"})
    assert [field for field, _ in errors] == ["unit_price"]


@pytest.mark.parametrize(
    ("loc", "name"),
    [
        (("body", "items", 0, "quantity"), "items[0].quantity"),
        (("body", "customer_id"), "customer_id"),
        (("header", "Idempotency-Key"), "Idempotency-Key header"),
        (("query", "limit"), "limit"),
        (("body",), "body"),
    ],
)
def test_field_names(loc: tuple[str | int, ...], name: str) -> None:
    assert field_name(loc) == name
