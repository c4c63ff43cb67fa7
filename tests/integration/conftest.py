"""Domain functions against a real, migrated PostgreSQL; every test starts from empty tables."""

from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from devtools.stack.postgres import LocalPostgres
from shopkit.db import Database

TABLES = (
    "orders.order_lines, orders.orders, orders.idempotency_records, "
    "inventory.reservation_lines, inventory.reservations, inventory.stock, "
    "pricing.promotions, pricing.products"
)


@pytest.fixture(scope="session")
def database_url(postgres: LocalPostgres) -> str:
    return postgres.create_database("shop_integration")


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url, pool_size=60, max_overflow=0)
    yield engine
    await engine.dispose()


@pytest.fixture
async def database(engine: AsyncEngine) -> Database:
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {TABLES}"))
    return Database(engine)


@pytest.fixture
def sessions(database: Database) -> async_sessionmaker[AsyncSession]:
    return database.sessionmaker


@pytest.fixture
async def session(
    sessions: Callable[[], AsyncSession],
) -> AsyncIterator[AsyncSession]:
    async with sessions() as session:
        yield session
