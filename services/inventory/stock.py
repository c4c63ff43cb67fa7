"""Stock levels and reservations: the inventory service's logic, free of HTTP.

Every public function runs its own short transaction, so no connection is held between
calls. Every change of stock happens in one database transaction that locks the stock rows
it touches in SKU order, so concurrent reservations never oversell and never deadlock. The
request paths run Core statements on a connection (shopkit.db.Database); only reading a
whole reservation loads entities, through a session.
"""

import uuid
from collections.abc import Awaitable, Callable, Sequence

from opentelemetry import metrics, trace
from sqlalchemy import (
    Integer,
    String,
    Uuid,
    any_,
    bindparam,
    func,
    select,
    text,
    update,
)
from sqlalchemy import insert as sa_insert
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.dml import ReturningInsert

from inventory.contract import OutOfStock, ReservationConflict, ReservationStatus, Shortage
from inventory.models import Reservation, ReservationLine, Stock
from shopkit.db import Database
from shopkit.types import LineItem

tracer = trace.get_tracer(__name__)
conflicts = metrics.get_meter(__name__).create_counter(
    "shop.reservation.conflicts",
    unit="{reservation}",
    description="Reservations refused, by reason (out_of_stock, reservation_conflict)",
)


# Spelled out rather than built with sqlalchemy.dialects.postgresql.insert: that construct
# has no cache key (its ON CONFLICT clause cannot be cached, sqlalchemy/sqlalchemy#10445),
# so SQLAlchemy compiled it again on every reservation. A text statement is compiled once.
CREATE_RESERVATION = (
    text(
        f"INSERT INTO {Reservation.metadata.schema}.{Reservation.__tablename__} (order_id, status)"
        f" VALUES (:order_id, '{ReservationStatus.RESERVED}') ON CONFLICT DO NOTHING"
        " RETURNING order_id"
    )
    .bindparams(bindparam("order_id", type_=Uuid))
    .columns(order_id=Uuid)
)


# Work done while a reservation holds its stock rows locked: the lock-contention scenario's
# slow work, chosen by the API layer.
WhileLocked = Callable[[], Awaitable[None]]


# The SKUs travel as one array (`= ANY`), not as `IN (...)`: an IN list is rendered into the
# SQL anew for every call, so each basket size would be another statement to compile.
LEVELS = (
    select(Stock.sku, Stock.available)
    .where(Stock.sku == any_(bindparam("skus", type_=ARRAY(String))))
    .order_by(Stock.sku)
)


async def get_levels(database: Database, skus: Sequence[str]) -> dict[str, int]:
    async with database.statement() as connection:
        rows = await connection.execute(LEVELS, {"skus": list(skus)})
        return {sku: available for sku, available in rows}


async def set_level(session: AsyncSession, sku: str, available: int) -> None:
    async with session.begin():
        await session.execute(
            insert(Stock)
            .values(sku=sku, available=available)
            .on_conflict_do_update(
                index_elements=[Stock.sku], set_={"available": available, "updated_at": func.now()}
            )
        )


async def _lock_levels(connection: AsyncConnection, skus: Sequence[str]) -> dict[str, int]:
    rows = await connection.execute(LEVELS.with_for_update(), {"skus": list(skus)})
    return {sku: available for sku, available in rows}


async def _change_levels(connection: AsyncConnection, deltas: dict[str, int]) -> None:
    """One statement for all SKUs (executemany), not one round trip per SKU."""
    stock = Stock.__table__.c
    await connection.execute(
        # Core, not ORM, update: a list of parameters runs as one executemany.
        update(Stock.__table__)  # type: ignore[arg-type]  # a Table, typed as FromClause
        .where(stock.sku == bindparam("target_sku"))
        .values(available=stock.available + bindparam("delta"), updated_at=func.now()),
        [{"target_sku": sku, "delta": delta} for sku, delta in sorted(deltas.items())],
    )


async def reserve(
    database: Database,
    order_id: uuid.UUID,
    items: Sequence[LineItem],
    while_locked: WhileLocked | None = None,
) -> bool:
    """Reserve every item or none. Returns whether the reservation was created now.

    Repeating the call for the same order and items returns the existing reservation, so
    callers may retry after a timeout without reserving twice. `while_locked`, if given, runs
    with the items' stock rows locked, before any stock is taken.
    """
    with tracer.start_as_current_span(
        "reserve-stock", attributes={"order.id": str(order_id), "order.item_count": len(items)}
    ):
        try:
            return await _reserve(database, order_id, items, while_locked)
        except OutOfStock:
            conflicts.add(1, {"reason": "out_of_stock"})
            raise
        except ReservationConflict:
            conflicts.add(1, {"reason": "reservation_conflict"})
            raise


async def _reserve(
    database: Database,
    order_id: uuid.UUID,
    items: Sequence[LineItem],
    while_locked: WhileLocked | None,
) -> bool:
    async with database.transaction() as connection:
        created = (await connection.execute(CREATE_RESERVATION, {"order_id": order_id})).scalar()
        if created is None:
            # A retry, or a conflict: the existing reservation, read in this transaction.
            async with AsyncSession(bind=connection) as session:
                existing = await _select_reservation(session, order_id)
            assert existing is not None, "the insert just saw it"
            wanted = sorted((i.sku, i.quantity) for i in items)
            held = existing.status == ReservationStatus.RESERVED
            if held and wanted == _lines(existing):
                return False
            raise ReservationConflict(
                f"order {order_id} already has a {existing.status} reservation"
                + (" with other items" if held else "")
            )

        skus = [i.sku for i in items]
        if while_locked is not None:
            await _lock_levels(connection, skus)
            await while_locked()
        taken = set(
            await connection.scalars(
                TAKE_STOCK,
                {
                    "order_id": order_id,
                    "skus": [i.sku for i in items],
                    "quantities": [i.quantity for i in items],
                },
            )
        )
        if len(taken) < len(items):
            levels = await _lock_levels(connection, skus)  # locked already: no one changed them
            shortages = [
                Shortage(sku=i.sku, requested=i.quantity, available=levels.get(i.sku, 0))
                for i in items
                if i.sku not in taken
            ]
            raise OutOfStock(shortages)  # leaving the block rolls the whole reservation back
        return True


def _take_stock() -> ReturningInsert[tuple[str]]:
    """One statement: lock the stock rows in SKU order, take each item's quantity where
    enough is left, and record the reservation's lines; returns the SKUs it could take.

    Locking in SKU order (the CTE) is what keeps concurrent reservations free of
    deadlocks; the UPDATE only touches rows the CTE locked. Under READ COMMITTED, a row
    another reservation changed meanwhile is re-read and `available >= quantity` checked
    again on its newest version, so stock never goes below zero. The items travel as two
    arrays, so the SQL text is the same for any basket: compiled once, prepared once.
    """
    stock, lines = Stock.__table__.c, ReservationLine.__table__.c
    wanted = (
        func.unnest(
            bindparam("skus", type_=ARRAY(String)),
            bindparam("quantities", type_=ARRAY(Integer)),
        )
        .table_valued("sku", "quantity")
        .render_derived("wanted")
    )
    locked = (
        select(stock.sku)
        .where(stock.sku == any_(bindparam("skus")))
        .order_by(stock.sku)
        .with_for_update()
        .cte("locked")
    )
    taken = (
        update(Stock.__table__)  # type: ignore[arg-type]  # a Table, typed as FromClause
        .where(
            stock.sku == wanted.c.sku,
            stock.sku.in_(select(locked.c.sku)),
            stock.available >= wanted.c.quantity,
        )
        .values(available=stock.available - wanted.c.quantity, updated_at=func.now())
        .returning(stock.sku, wanted.c.quantity)
        .cte("taken")
    )
    # sqlalchemy.insert, not the PostgreSQL dialect's: that one has no cache key, so it is
    # compiled again on every execution (sqlalchemy/sqlalchemy#10445).
    return (
        sa_insert(ReservationLine.__table__)  # type: ignore[arg-type]  # a Table
        .from_select(
            ["order_id", "sku", "quantity"],
            select(bindparam("order_id", type_=Uuid), taken.c.sku, taken.c.quantity),
        )
        .returning(lines.sku)
    )


TAKE_STOCK = _take_stock()


async def release(database: Database, order_id: uuid.UUID) -> ReservationStatus:
    """Give a reservation's stock back, unless its order is stored. Idempotent; unknown orders
    get a tombstone. Returns RELEASED, or CONFIRMED when the reservation was confirmed: then
    nothing changed."""
    with tracer.start_as_current_span("release-stock", attributes={"order.id": str(order_id)}):
        return await _release(database, order_id)


async def _release(database: Database, order_id: uuid.UUID) -> ReservationStatus:
    async with database.transaction() as connection:
        # Insert-or-update in one statement: it waits for a concurrent reserve or confirm of
        # the same order to commit, then releases a held reservation and leaves any other alone.
        released = await connection.scalar(
            insert(Reservation)
            .values(order_id=order_id, status=ReservationStatus.RELEASED, released_at=func.now())
            .on_conflict_do_update(
                index_elements=[Reservation.order_id],
                set_={"status": ReservationStatus.RELEASED, "released_at": func.now()},
                where=Reservation.status == ReservationStatus.RESERVED,
            )
            .returning(Reservation.order_id)
        )
        if released is None:
            # Released already, or confirmed: both are final, so this read cannot miss a change.
            status = (await connection.execute(STATUS, {"order_id": order_id})).scalar_one()
            return ReservationStatus(status)
        lines = (
            await connection.execute(
                select(ReservationLine.sku, ReservationLine.quantity).where(
                    ReservationLine.order_id == order_id
                )
            )
        ).all()
        if lines:
            await _lock_levels(connection, [line.sku for line in lines])
            await _change_levels(connection, {line.sku: line.quantity for line in lines})
        return ReservationStatus.RELEASED


STATUS = select(Reservation.status).where(Reservation.order_id == bindparam("order_id"))
CONFIRM = (
    update(Reservation)
    .where(
        # Not named `order_id`: an UPDATE reserves its columns' names for its SET values.
        Reservation.order_id == bindparam("target_order_id"),
        Reservation.status == ReservationStatus.RESERVED,
    )
    .values(status=ReservationStatus.CONFIRMED, confirmed_at=func.now())
    .returning(Reservation.order_id)
)


async def confirm(database: Database, order_id: uuid.UUID) -> ReservationStatus | None:
    """Keep a reservation's stock taken for good: its order is stored. Idempotent. Returns the
    reservation's status now: CONFIRMED, RELEASED when it was released first (then it stays
    released), or None when the order has no reservation (to confirm)."""
    with tracer.start_as_current_span(
        "confirm-reservation", attributes={"order.id": str(order_id)}
    ):
        # One statement in the common case, so no BEGIN and COMMIT: a held reservation becomes
        # confirmed. Otherwise its status is final already (or it does not exist): read it.
        async with database.statement() as connection:
            if await connection.scalar(CONFIRM, {"target_order_id": order_id}) is not None:
                return ReservationStatus.CONFIRMED
            status = await connection.scalar(STATUS, {"order_id": order_id})
        # `reserved` only if the reservation was made after the update looked: none to confirm.
        final = (ReservationStatus.CONFIRMED, ReservationStatus.RELEASED)
        return ReservationStatus(status) if status in final else None


async def get_reservation(session: AsyncSession, order_id: uuid.UUID) -> Reservation | None:
    async with session.begin():
        return await _select_reservation(session, order_id)


async def _select_reservation(session: AsyncSession, order_id: uuid.UUID) -> Reservation | None:
    reservation: Reservation | None = await session.scalar(
        select(Reservation)
        .where(Reservation.order_id == order_id)
        .options(selectinload(Reservation.lines))
        .execution_options(populate_existing=True)
    )
    return reservation


def _lines(reservation: Reservation) -> list[tuple[str, int]]:
    return sorted((line.sku, line.quantity) for line in reservation.lines)


async def seed_stock(session: AsyncSession, products: int, available: int) -> bool:
    """Give SKU-00001 .. SKU-<products> the same stock level, if the stock table is empty.

    Seeding runs on every start of the local stack and every chart upgrade, so stock that
    exists (seeded or set since) is the shop's state and is left alone. Returns whether it seeded.
    """
    rows = [{"sku": f"SKU-{n:05d}", "available": available} for n in range(1, products + 1)]
    async with session.begin():
        if await session.scalar(select(Stock.sku).limit(1)) is not None:
            return False
        # Two seeds racing on an empty table insert the same rows: the later ones are skipped.
        await session.execute(
            insert(Stock).on_conflict_do_nothing(index_elements=[Stock.sku]), rows
        )
    return True
