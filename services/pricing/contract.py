"""The pricing API as its callers see it: request and response bodies, and the errors a
refused quote maps to. Money travels as decimal strings.

The order service imports this module and nothing else of pricing. It depends on pydantic
and shopkit.types only, so pricing's tables and logic stay private and each service still
deploys on its own. Change a body here and every caller that does not follow fails mypy.
"""

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from shopkit.types import LineItems, StrictModel


def _no_float(value: Any) -> Any:
    # A JSON number becomes a binary float before we see it: 0.1 is already inexact.
    if isinstance(value, float):
        raise ValueError('send money as a decimal string, e.g. "12.50"')
    return value


# The largest unit price pricing takes and stores (12 digits, 2 after the point: its money
# columns are Numeric(12, 2)); its callers size what they store by it.
MAX_UNIT_PRICE = Decimal("9999999999.99")

MoneyIn = Annotated[
    Decimal,
    BeforeValidator(_no_float),
    Field(gt=0, le=MAX_UNIT_PRICE, max_digits=12, decimal_places=2, examples=["12.50"]),
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


class FieldError(BaseModel):
    """One entry of a problem document's `errors`: which field, and what is wrong with it."""

    model_config = ConfigDict(populate_by_name=True)

    field: str
    message: str
    location: Literal["body", "query", "path", "header"] = Field(default="body", alias="in")


class QuoteRefused(BaseModel):
    """The problem document of a 422 from POST /quotes: `errors` names each unknown SKU
    (unknown-sku); without it the items are priced in several currencies (mixed-currencies)."""

    detail: str
    errors: list[FieldError] = []


class UnknownSkus(Exception):
    """Some items have no price. 422 `unknown-sku`, one error per such item."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors

    @classmethod
    def at(cls, positions: list[tuple[int, str]]) -> "UnknownSkus":
        """The error for the unknown SKUs at these positions of the basket."""
        return cls(
            [
                FieldError(field=f"items[{n}].sku", message=f"no price for {sku}")
                for n, sku in positions
            ]
        )


class MixedCurrencies(Exception):
    """The items are priced in several currencies. 422 `mixed-currencies`."""
