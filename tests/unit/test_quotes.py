"""Quote arithmetic, on exact decimals."""

from decimal import Decimal

import pytest

from pricing.quotes import build_quote, price_line


def test_line_without_promotion_is_price_times_quantity() -> None:
    line = price_line("SKU-1", 3, Decimal("19.99"))
    assert (line.discount, line.line_total) == (Decimal("0.00"), Decimal("59.97"))


def test_promotion_applies_from_its_minimum_quantity() -> None:
    below = price_line("SKU-1", 2, Decimal("10.00"), Decimal("10"), min_quantity=3)
    at = price_line("SKU-1", 3, Decimal("10.00"), Decimal("10"), min_quantity=3)
    assert below.discount == Decimal("0.00")
    assert (at.discount, at.line_total) == (Decimal("3.00"), Decimal("27.00"))


@pytest.mark.parametrize(
    ("unit_price", "quantity", "percent", "discount"),
    [
        ("0.25", 1, "10", "0.02"),  # 0.025 -> 0.02: half to even
        ("0.35", 1, "10", "0.04"),  # 0.035 -> 0.04: half to even
        ("33.33", 3, "33.33", "33.33"),  # 99.99 * 0.3333 = 33.326667
    ],
)
def test_discount_is_rounded_half_even_to_the_cent(
    unit_price: str, quantity: int, percent: str, discount: str
) -> None:
    line = price_line("SKU-1", quantity, Decimal(unit_price), Decimal(percent))
    assert line.discount == Decimal(discount)
    assert line.line_total == Decimal(unit_price) * quantity - Decimal(discount)


def test_quote_totals_add_up() -> None:
    lines = [
        price_line("A", 3, Decimal("0.10")),
        price_line("B", 4, Decimal("2.50"), Decimal("10"), min_quantity=3),
    ]
    quote = build_quote(lines, "EUR")
    assert (quote.subtotal, quote.discount, quote.total) == (
        Decimal("10.30"),
        Decimal("1.00"),
        Decimal("9.30"),
    )
    assert quote.total == sum(line.line_total for line in quote.lines)


def test_money_serializes_as_decimal_strings() -> None:
    quote = build_quote([price_line("A", 3, Decimal("0.10"))], "EUR")
    assert quote.model_dump(mode="json")["total"] == "0.30"
