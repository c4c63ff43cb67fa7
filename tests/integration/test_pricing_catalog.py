"""Quotes from the catalog in the database; a deterministic seed."""

from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from pricing import catalog
from pricing.contract import MixedCurrencies, PriceUpdate, UnknownSkus
from shopkit.db import Database
from shopkit.types import LineItem


async def test_quote_applies_seeded_promotions(database: Database, session: AsyncSession) -> None:
    await catalog.seed_catalog(session, products=10)
    price = catalog.seed_price(10)

    quote = await catalog.quote(
        database, [LineItem(sku="SKU-00010", quantity=3), LineItem(sku="SKU-00001", quantity=1)]
    )

    promoted, plain = quote.lines
    assert promoted.discount == (price * 3 / 10).quantize(Decimal("0.01"))
    assert plain.discount == Decimal("0.00")
    assert quote.total == promoted.line_total + plain.line_total
    assert quote.currency == "EUR"


async def test_seed_is_deterministic_and_repeatable(
    database: Database, session: AsyncSession
) -> None:
    await catalog.seed_catalog(session, products=5)
    first = await catalog.get_prices(database, [f"SKU-{n:05d}" for n in range(1, 6)])
    await catalog.seed_catalog(session, products=5)
    second = await catalog.get_prices(database, [f"SKU-{n:05d}" for n in range(1, 6)])

    assert first == second
    assert [p.unit_price for p in first] == [catalog.seed_price(n) for n in range(1, 6)]


async def test_unknown_skus_are_reported_by_position(
    database: Database, session: AsyncSession
) -> None:
    await catalog.seed_catalog(session, products=1)
    with pytest.raises(UnknownSkus) as refused:
        await catalog.quote(
            database,
            [
                LineItem(sku="NOPE-1", quantity=1),
                LineItem(sku="SKU-00001", quantity=1),
                LineItem(sku="NOPE-2", quantity=1),
            ],
        )
    assert [(e.field, e.message) for e in refused.value.errors] == [
        ("items[0].sku", "no price for NOPE-1"),
        ("items[2].sku", "no price for NOPE-2"),
    ]


async def test_mixed_currencies_are_refused(database: Database, session: AsyncSession) -> None:
    await catalog.set_price(
        session, "USD-1", PriceUpdate(name="a", unit_price=Decimal("1"), currency="USD")
    )
    await catalog.set_price(
        session, "EUR-1", PriceUpdate(name="b", unit_price=Decimal("1"), currency="EUR")
    )
    with pytest.raises(MixedCurrencies):
        await catalog.quote(
            database, [LineItem(sku="USD-1", quantity=1), LineItem(sku="EUR-1", quantity=1)]
        )
