"""Reservations are all-or-nothing, idempotent per order, and never oversell."""

import asyncio
import contextlib
import uuid

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inventory import stock
from inventory.contract import OutOfStock, ReservationConflict, ReservationStatus
from inventory.models import Reservation, Stock
from shopkit.db import Database
from shopkit.types import LineItem


def items(*pairs: tuple[str, int]) -> list[LineItem]:
    return [LineItem(sku=sku, quantity=quantity) for sku, quantity in pairs]


async def test_reservation_takes_every_item(database: Database, session: AsyncSession) -> None:
    await stock.seed_stock(session, products=2, available=10)
    order = uuid.uuid4()

    created = await stock.reserve(database, order, items(("SKU-00001", 3), ("SKU-00002", 10)))

    assert created is True
    assert await stock.get_levels(database, ["SKU-00001", "SKU-00002"]) == {
        "SKU-00001": 7,
        "SKU-00002": 0,
    }


async def test_one_short_item_reserves_nothing(database: Database, session: AsyncSession) -> None:
    await stock.seed_stock(session, products=2, available=5)

    with pytest.raises(OutOfStock) as refused:
        await stock.reserve(database, uuid.uuid4(), items(("SKU-00001", 5), ("SKU-00002", 6)))

    assert [(s.sku, s.requested, s.available) for s in refused.value.shortages] == [
        ("SKU-00002", 6, 5)
    ]
    assert await stock.get_levels(database, ["SKU-00001", "SKU-00002"]) == {
        "SKU-00001": 5,
        "SKU-00002": 5,
    }
    assert (await session.scalar(select(func.count(Reservation.order_id)))) == 0


async def test_unknown_sku_is_short_with_nothing_available(
    database: Database, session: AsyncSession
) -> None:
    with pytest.raises(OutOfStock) as refused:
        await stock.reserve(database, uuid.uuid4(), items(("NOPE-1", 1)))
    assert refused.value.shortages[0].available == 0


async def test_repeating_a_reservation_takes_stock_once(
    database: Database, session: AsyncSession
) -> None:
    await stock.seed_stock(session, products=1, available=10)
    order = uuid.uuid4()

    first = await stock.reserve(database, order, items(("SKU-00001", 4)))
    again = await stock.reserve(database, order, items(("SKU-00001", 4)))

    assert (first, again) == (True, False)
    assert await stock.get_levels(database, ["SKU-00001"]) == {"SKU-00001": 6}


async def test_same_order_with_other_items_conflicts(
    database: Database, session: AsyncSession
) -> None:
    await stock.seed_stock(session, products=1, available=10)
    order = uuid.uuid4()
    await stock.reserve(database, order, items(("SKU-00001", 4)))

    with pytest.raises(ReservationConflict):
        await stock.reserve(database, order, items(("SKU-00001", 5)))
    assert await stock.get_levels(database, ["SKU-00001"]) == {"SKU-00001": 6}


async def test_release_gives_stock_back_once(database: Database, session: AsyncSession) -> None:
    await stock.seed_stock(session, products=1, available=10)
    order = uuid.uuid4()
    await stock.reserve(database, order, items(("SKU-00001", 4)))

    await stock.release(database, order)
    await stock.release(database, order)

    assert await stock.get_levels(database, ["SKU-00001"]) == {"SKU-00001": 10}
    reservation = await stock.get_reservation(session, order)
    assert reservation is not None and reservation.status == "released"


async def test_a_confirmed_reservation_is_never_released(
    database: Database, session: AsyncSession
) -> None:
    await stock.seed_stock(session, products=1, available=10)
    order = uuid.uuid4()
    await stock.reserve(database, order, items(("SKU-00001", 4)))

    confirmed = [await stock.confirm(database, order) for _ in range(2)]
    released = await stock.release(database, order)

    assert confirmed == [ReservationStatus.CONFIRMED] * 2  # confirming again changes nothing
    assert released == ReservationStatus.CONFIRMED
    assert await stock.get_levels(database, ["SKU-00001"]) == {"SKU-00001": 6}
    reservation = await stock.get_reservation(session, order)
    assert reservation is not None and reservation.status == ReservationStatus.CONFIRMED


async def test_a_released_or_unknown_reservation_is_not_confirmed(
    database: Database, session: AsyncSession
) -> None:
    await stock.seed_stock(session, products=1, available=10)
    order = uuid.uuid4()
    await stock.reserve(database, order, items(("SKU-00001", 4)))
    assert await stock.release(database, order) == ReservationStatus.RELEASED

    assert await stock.confirm(database, order) == ReservationStatus.RELEASED
    assert await stock.confirm(database, uuid.uuid4()) is None
    assert await stock.get_levels(database, ["SKU-00001"]) == {"SKU-00001": 10}


async def test_a_reservation_arriving_after_its_release_is_refused(
    database: Database, session: AsyncSession
) -> None:
    await stock.seed_stock(session, products=1, available=10)
    order = uuid.uuid4()

    await stock.release(database, order)  # compensation overtook a slow reservation request
    with pytest.raises(ReservationConflict):
        await stock.reserve(database, order, items(("SKU-00001", 4)))

    assert await stock.get_levels(database, ["SKU-00001"]) == {"SKU-00001": 10}


async def test_concurrent_reservations_never_oversell(
    database: Database,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        await stock.seed_stock(session, products=2, available=20)

    async def attempt(n: int) -> bool:
        # Two SKUs in alternating order: a lock-order bug would deadlock here.
        pairs = [("SKU-00001", 1), ("SKU-00002", 1)]
        try:
            await stock.reserve(database, uuid.uuid4(), items(*pairs[:: 1 if n % 2 else -1]))
        except OutOfStock:
            return False
        return True

    outcomes = await asyncio.gather(*(attempt(n) for n in range(50)))

    assert outcomes.count(True) == 20
    assert await stock.get_levels(database, ["SKU-00001", "SKU-00002"]) == {
        "SKU-00001": 0,
        "SKU-00002": 0,
    }


async def test_concurrent_reserve_and_release_balance_out(
    database: Database,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        await stock.seed_stock(session, products=1, available=5)
    orders = [uuid.uuid4() for _ in range(30)]

    async def reserve_then_release(order: uuid.UUID) -> None:
        with contextlib.suppress(OutOfStock):
            await stock.reserve(database, order, items(("SKU-00001", 1)))
        await stock.release(database, order)

    await asyncio.gather(*(reserve_then_release(order) for order in orders))

    assert await stock.get_levels(database, ["SKU-00001"]) == {"SKU-00001": 5}


async def test_the_database_refuses_negative_stock(session: AsyncSession) -> None:
    await stock.seed_stock(session, products=1, available=1)
    with pytest.raises(IntegrityError, match="available_not_negative"):
        async with session.begin():
            await session.execute(
                update(Stock).values(available=-1).where(Stock.sku == "SKU-00001")
            )
