"""Request and response bodies of the order API. Money travels as decimal strings."""

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shopkit.types import LineItems, StrictModel

CUSTOMER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
CustomerId = Annotated[
    str,
    StringConstraints(pattern=CUSTOMER_ID_PATTERN),
    Field(description="An opaque customer identifier", examples=["customer-42"]),
]


class NewOrder(StrictModel):
    """The body of POST /orders. No customer: the order is the caller's, the subject of the
    access token (a customer id in the body would let anyone order as anyone)."""

    items: LineItems


class OrderRequest(StrictModel):
    """An order to place: the caller's customer id and the body's items. Stored with its
    Idempotency-Key claim, so a replay of the key by another customer is not the same request,
    and recovery finishes the order for the customer who placed it."""

    customer_id: CustomerId
    items: LineItems


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
