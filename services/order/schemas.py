"""Request and response bodies of the order API. Money travels as decimal strings."""

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from shopkit.types import LineItem, LineItems, StrictModel

CUSTOMER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
CustomerId = Annotated[
    str,
    StringConstraints(pattern=CUSTOMER_ID_PATTERN),
    Field(description="An opaque customer identifier", examples=["customer-42"]),
]


# The most units one order takes, over all its lines (each line is also 1-10,000 units, the
# bound inventory and pricing accept). It caps what one request can hold: a seeded product's
# 1,000 units take ten orders to empty, not one, and the largest total an order can reach
# (order/models.py's money columns hold it) follows from it.
MAX_UNITS_PER_ORDER = 100


def _within_units_cap(items: list[LineItem]) -> list[LineItem]:
    units = sum(item.quantity for item in items)
    if units > MAX_UNITS_PER_ORDER:
        raise ValueError(f"{units} units: an order takes at most {MAX_UNITS_PER_ORDER}")
    return items


# Checked on the body (NewOrder), and again when recovery reads a stored request.
OrderItems = Annotated[LineItems, AfterValidator(_within_units_cap)]


class NewOrder(StrictModel):
    """The body of POST /orders. No customer: the order is the caller's, the subject of the
    access token (a customer id in the body would let anyone order as anyone)."""

    items: OrderItems


class OrderRequest(StrictModel):
    """An order to place: the caller's customer id and the body's items. Stored with its
    Idempotency-Key claim, so a replay of the key by another customer is not the same request,
    and recovery finishes the order for the customer who placed it."""

    customer_id: CustomerId
    items: OrderItems


class OrderLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    sku: str
    quantity: int
    unit_price: Decimal
    discount: Decimal
    line_total: Decimal


class OrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: str
    customer_id: str
    lines: list[OrderLineOut]
    subtotal: Decimal
    discount: Decimal
    total: Decimal
    currency: str
    created_at: datetime


class OrderPage(BaseModel):
    items: list[OrderOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")


class LiveLine(OrderLineOut):
    available_now: int | None = Field(description="Stock in inventory now; null if unknown")
    unit_price_now: Decimal | None = Field(description="Price in pricing now; null if unknown")


class OrderDetail(OrderOut):
    lines: list[LiveLine]  # type: ignore[assignment]
