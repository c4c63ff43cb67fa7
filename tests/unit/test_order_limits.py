"""What one order may hold, and what the order tables can store: numbers that must agree."""

from decimal import Decimal

import pytest
from pydantic import ValidationError

from order.models import MONEY
from order.schemas import MAX_UNITS_PER_ORDER, NewOrder, OrderRequest
from pricing.contract import MAX_UNIT_PRICE, PriceUpdate


def test_the_largest_total_an_order_can_reach_fits_its_money_columns() -> None:
    largest = MAX_UNITS_PER_ORDER * MAX_UNIT_PRICE
    digits_before_the_point = largest.adjusted() + 1
    assert MONEY.precision is not None and MONEY.scale == 2
    assert digits_before_the_point <= MONEY.precision - MONEY.scale, (largest, MONEY)


def test_pricing_takes_no_price_above_its_bound() -> None:
    PriceUpdate(name="Dear", unit_price=MAX_UNIT_PRICE, currency="EUR")
    with pytest.raises(ValidationError):
        PriceUpdate(name="Dearer", unit_price=MAX_UNIT_PRICE + Decimal("0.01"), currency="EUR")


def lines(*quantities: int) -> dict[str, object]:
    items = [{"sku": f"SKU-{n:05d}", "quantity": q} for n, q in enumerate(quantities, start=1)]
    return {"customer_id": "c-1", "items": items}


def test_an_order_takes_up_to_its_units_cap_over_all_lines() -> None:
    assert MAX_UNITS_PER_ORDER == 100  # the number README and the API docs state
    OrderRequest.model_validate(lines(MAX_UNITS_PER_ORDER))
    OrderRequest.model_validate(lines(60, 40))
    for over in (lines(MAX_UNITS_PER_ORDER + 1), lines(60, 41), lines(10_000)):
        with pytest.raises(ValidationError) as refused:
            OrderRequest.model_validate(over)
        [error] = refused.value.errors()
        assert error["loc"] == ("items",)
        assert "at most 100" in error["msg"]


def test_the_body_of_post_orders_has_the_same_cap() -> None:
    # The route builds the OrderRequest from the body and the token's subject without
    # validating it again: the cap must hold on the body itself.
    body = {"items": lines(MAX_UNITS_PER_ORDER)["items"]}
    NewOrder.model_validate(body)
    with pytest.raises(ValidationError) as refused:
        NewOrder.model_validate({"items": lines(60, 41)["items"]})
    [error] = refused.value.errors()
    assert error["loc"] == ("items",)
    assert "at most 100" in error["msg"]
