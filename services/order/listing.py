"""Listing orders: pages newest first, by keyset, with their lines."""

import base64
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import Select, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from order.models import Order, OrderLine


class InvalidCursor(Exception):
    pass


class LineLoading(Protocol):
    """How `list_orders` loads the lines of a page of orders."""

    def prepare(self, query: Select[tuple[Order]]) -> Select[tuple[Order]]:
        """The page's query, with what it needs to load the lines along."""
        ...

    async def load(self, session: AsyncSession, orders: Sequence[Order]) -> None:
        """Load what the query did not, in the page's transaction."""
        ...


class BatchedLines:
    """The lines of the whole page in one more query (SQLAlchemy's selectin loading)."""

    def prepare(self, query: Select[tuple[Order]]) -> Select[tuple[Order]]:
        return query.options(selectinload(Order.lines))

    async def load(self, session: AsyncSession, orders: Sequence[Order]) -> None:
        pass


class LinesPerOrder:
    """The n-plus-one scenario: one query per order of the page."""

    def prepare(self, query: Select[tuple[Order]]) -> Select[tuple[Order]]:
        return query

    async def load(self, session: AsyncSession, orders: Sequence[Order]) -> None:
        for order in orders:
            lines = await session.scalars(
                select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.position)
            )
            set_committed_value(order, "lines", list(lines))


BATCHED_LINES = BatchedLines()
LINES_PER_ORDER = LinesPerOrder()


async def list_orders(
    session: AsyncSession,
    customer_id: str | None,
    limit: int,
    cursor: str | None,
    lines: LineLoading = BATCHED_LINES,
) -> tuple[list[Order], str | None]:
    """Newest first, by keyset on (created_at, id): stable and fast on any page."""
    query = lines.prepare(select(Order))
    if customer_id is not None:
        query = query.where(Order.customer_id == customer_id)
    if cursor is not None:
        created_at, last_id = decode_cursor(cursor)
        after = tuple_(literal(created_at), literal(last_id))
        query = query.where(tuple_(Order.created_at, Order.id) < after)
    query = query.order_by(Order.created_at.desc(), Order.id.desc()).limit(limit + 1)
    async with session.begin():
        orders = list(await session.scalars(query))
        await lines.load(session, orders)
    if len(orders) <= limit:
        return orders, None
    last = orders[limit - 1]
    return orders[:limit], encode_cursor(last.created_at, last.id)


def encode_cursor(created_at: datetime, order_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(order_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The position a cursor holds, as a UTC instant and an order id; InvalidCursor otherwise.

    Anything a client can send is checked here: a well-formed time the database driver cannot
    convert (`0001-01-01T00:00:00+14:00` is before year 1 in UTC) would otherwise fail in the
    driver and be reported as "database unavailable", a fake outage on every such request.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, order_id = json.loads(raw)
        moment = datetime.fromisoformat(created_at)
        if moment.tzinfo is None:
            raise ValueError("a cursor's time carries its offset")
        return moment.astimezone(UTC), uuid.UUID(order_id)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidCursor from exc
