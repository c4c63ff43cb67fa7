"""Quote arithmetic: pure functions on Decimals, rounded once per line to the cent."""

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal

from pricing.contract import Quote, QuoteLine

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def price_line(
    sku: str,
    quantity: int,
    unit_price: Decimal,
    percent_off: Decimal | None = None,
    min_quantity: int = 1,
) -> QuoteLine:
    """Price one line; a promotion applies once the quantity reaches its minimum."""
    gross = (unit_price * quantity).quantize(CENT)
    discount = ZERO
    if percent_off is not None and quantity >= min_quantity:
        # Banker's rounding: no systematic drift up or down over many lines.
        discount = (gross * percent_off / 100).quantize(CENT, rounding=ROUND_HALF_EVEN)
    return QuoteLine(
        sku=sku,
        quantity=quantity,
        unit_price=unit_price,
        discount=discount,
        line_total=gross - discount,
    )


def build_quote(lines: Sequence[QuoteLine], currency: str) -> Quote:
    subtotal = sum((line.unit_price * line.quantity for line in lines), ZERO).quantize(CENT)
    discount = sum((line.discount for line in lines), ZERO)
    return Quote(
        lines=list(lines),
        subtotal=subtotal,
        discount=discount,
        total=subtotal - discount,
        currency=currency,
    )
