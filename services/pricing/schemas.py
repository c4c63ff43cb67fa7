"""Request and response bodies of the pricing API. Money travels as decimal strings."""

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, StringConstraints

from shopkit.types import LineItems, StrictModel


def _no_float(value: Any) -> Any:
    # A JSON number becomes a binary float before we see it: 0.1 is already inexact.
    if isinstance(value, float):
        raise ValueError('send money as a decimal string, e.g. "12.50"')
    return value


MoneyIn = Annotated[
    Decimal,
    BeforeValidator(_no_float),
    Field(gt=0, max_digits=12, decimal_places=2, examples=["12.50"]),
]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), Field(examples=["EUR"])]


class Price(BaseModel):
    sku: str
    name: str
    unit_price: Decimal
    currency: str


class PriceList(BaseModel):
    items: list[Price]


class PriceUpdate(StrictModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    unit_price: MoneyIn
    currency: Currency


class QuoteRequest(StrictModel):
    items: LineItems


class QuoteLine(BaseModel):
    sku: str
    quantity: int
    unit_price: Decimal
    discount: Decimal
    line_total: Decimal


class Quote(BaseModel):
    lines: list[QuoteLine]
    subtotal: Decimal
    discount: Decimal
    total: Decimal
    currency: str
