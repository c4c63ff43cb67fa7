"""`shopctl seed` fills empty tables only: it runs on every `make run` and every chart upgrade."""

from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inventory import stock
from inventory.models import Stock
from pricing import catalog
from pricing.contract import PriceUpdate
from pricing.models import Product, Promotion
from shopctl.cli import seed_all
from shopkit.db import Database

SKUS = [f"SKU-{n:05d}" for n in range(1, 11)]


async def test_seed_fills_empty_tables(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    assert await seed_all(database_url, products=10, stock=7) == (True, True)

    async with sessions() as session, session.begin():
        assert await session.scalar(select(func.count()).select_from(Product)) == 10
        assert await session.scalar(select(func.count()).select_from(Promotion)) == 1
        assert await session.scalar(select(func.sum(Stock.available))) == 70


async def test_reseeding_keeps_the_shops_stock_and_prices(
    database: Database, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await seed_all(database_url, products=10, stock=7)
    async with sessions() as session:
        await stock.set_level(session, "SKU-00001", 2)
        await catalog.set_price(
            session,
            "SKU-00002",
            PriceUpdate(name="Renamed", unit_price=Decimal("123.45"), currency="EUR"),
        )

    assert await seed_all(database_url, products=10, stock=1_000) == (False, False)

    levels = await stock.get_levels(database, SKUS)
    prices = await catalog.get_prices(database, SKUS)
    assert levels == {"SKU-00001": 2} | {sku: 7 for sku in SKUS[1:]}
    assert [(p.sku, p.name, p.unit_price) for p in prices[:2]] == [
        ("SKU-00001", "Product 00001", catalog.seed_price(1)),
        ("SKU-00002", "Renamed", Decimal("123.45")),
    ]


async def test_each_service_seeds_its_own_empty_table(
    database: Database, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # An operator's own catalogue (one product, priced by hand) and no stock yet.
    async with sessions() as session:
        await catalog.set_price(
            session, "OWN-1", PriceUpdate(name="Own", unit_price=Decimal("9.99"), currency="EUR")
        )

    assert await seed_all(database_url, products=3, stock=5) == (False, True)

    assert [p.sku for p in await catalog.get_prices(database, ["OWN-1", *SKUS])] == ["OWN-1"]
    assert await stock.get_levels(database, SKUS) == {sku: 5 for sku in SKUS[:3]}
