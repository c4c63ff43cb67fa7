"""Keyset pagination of the order list, on the order schema."""

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from order import listing
from order.models import Order, OrderLine


async def _store(session: AsyncSession, customer: str, created_at: datetime) -> uuid.UUID:
    order_id = uuid.uuid4()
    async with session.begin():
        session.add(
            Order(
                id=order_id,
                customer_id=customer,
                status="confirmed",
                currency="EUR",
                subtotal=Decimal("1.00"),
                discount=Decimal("0.00"),
                total=Decimal("1.00"),
                created_at=created_at,
                lines=[
                    OrderLine(
                        position=0,
                        sku="SKU-00001",
                        quantity=1,
                        unit_price=Decimal("1.00"),
                        discount=Decimal("0.00"),
                        line_total=Decimal("1.00"),
                    )
                ],
            )
        )
    return order_id


async def test_pages_cover_every_order_once_newest_first(session: AsyncSession) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    # Ten orders share one timestamp: the id breaks the tie, so none is skipped or repeated.
    ids = [await _store(session, "a", start + timedelta(seconds=n // 10)) for n in range(25)]
    await _store(session, "someone-else", start)

    seen: list[uuid.UUID] = []
    cursor = None
    while True:
        page, cursor = await listing.list_orders(session, "a", limit=4, cursor=cursor)
        assert all(len(o.lines) == 1 for o in page)
        seen += [o.id for o in page]
        if cursor is None:
            break

    assert len(seen) == 25
    assert set(seen) == set(ids)
    expected = sorted(ids, key=lambda i: (ids.index(i) // 10, i), reverse=True)
    assert seen == expected


def forged(created_at: str) -> str:
    """A cursor as the API writes one, around a time of the forger's choosing."""
    raw = json.dumps([created_at, str(uuid.uuid4())]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


FORGED = [
    "",
    "not-base64!",
    "WyJ4Il0",
    "bnVsbA",
    # Well-formed times out of the driver's range once in UTC, and one without its offset.
    forged("0001-01-01T00:00:00+14:00"),
    forged("9999-12-31T23:59:59-14:00"),
    forged("2026-01-01T00:00:00"),
]


@pytest.mark.parametrize(
    "cursor",
    FORGED,
    ids=["empty", "not-base64", "one-value", "null", "before-year-1", "after-9999", "no-offset"],
)
def test_a_forged_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(listing.InvalidCursor):
        listing.decode_cursor(cursor)
