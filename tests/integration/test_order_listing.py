"""Keyset pagination and Idempotency-Key claims (with their fencing), on the order schema."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from order import orders
from order.clients import InventoryClient, PricingClient
from order.models import IdempotencyRecord, Order, OrderLine
from order.schemas import OrderRequest
from order.settings import OrderSettings
from pricing.contract import Quote, QuoteLine
from shopkit.db import Database


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
        page, cursor = await orders.list_orders(session, "a", limit=4, cursor=cursor)
        assert all(len(o.lines) == 1 for o in page)
        seen += [o.id for o in page]
        if cursor is None:
            break

    assert len(seen) == 25
    assert set(seen) == set(ids)
    expected = sorted(ids, key=lambda i: (ids.index(i) // 10, i), reverse=True)
    assert seen == expected


@pytest.mark.parametrize("cursor", ["", "not-base64!", "WyJ4Il0", "bnVsbA"])
def test_a_forged_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(orders.InvalidCursor):
        orders.decode_cursor(cursor)


@pytest.fixture
async def placing(database: Database) -> AsyncIterator[orders.OrderPlacement]:
    """Placing orders with inventory and pricing at an address where nothing listens: were a
    call attempted, it would raise DependencyUnavailable."""
    settings = OrderSettings(http_attempts=1)
    async with httpx.AsyncClient() as http:
        yield orders.OrderPlacement(
            database=database,
            inventory=InventoryClient("inventory", "http://127.0.0.1:9", http, settings),
            pricing=PricingClient("pricing", "http://127.0.0.1:9", http, settings),
            claim_ttl_seconds=30,
        )


async def test_a_stale_claim_is_taken_over_with_the_same_order_id(
    placing: orders.OrderPlacement, session: AsyncSession
) -> None:
    request = OrderRequest.model_validate(
        {"customer_id": "c1", "items": [{"sku": "SKU-00001", "quantity": 1}]}
    )
    other = request.model_copy(update={"customer_id": "c2"})
    claim = await placing._claim("key-1", request)
    assert isinstance(claim, orders.Claim) and claim.attempt == 1

    with pytest.raises(orders.IdempotencyKeyInProgress):
        await placing._claim("key-1", request)
    with pytest.raises(orders.IdempotencyKeyReused):
        await placing._claim("key-1", other)

    async with session.begin():  # as if its process died a minute ago
        await session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.key == "key-1")
            .values(claimed_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    taken_over = await placing._claim("key-1", request)
    # The same order id, so its reservation is found again; the next attempt, so the
    # request that died, were it only slow, is fenced out.
    assert taken_over == orders.Claim("key-1", claim.order_id, attempt=2)


FIVE = Decimal("5.00")
QUOTE = Quote(
    currency="EUR",
    subtotal=FIVE,
    discount=Decimal("0.00"),
    total=FIVE,
    lines=[
        QuoteLine(
            sku="SKU-00001",
            quantity=1,
            unit_price=FIVE,
            discount=Decimal("0.00"),
            line_total=FIVE,
        )
    ],
)


async def test_a_fenced_out_attempt_can_neither_store_nor_release(
    placing: orders.OrderPlacement, database: Database, session: AsyncSession
) -> None:
    request = OrderRequest.model_validate(
        {"customer_id": "c1", "items": [{"sku": "SKU-00001", "quantity": 1}]}
    )
    first = await placing._claim("key-fenced", request)
    assert isinstance(first, orders.Claim)
    async with session.begin():  # recovery took it over
        await session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.key == "key-fenced")
            .values(attempt=IdempotencyRecord.attempt + 1)
        )
    with pytest.raises(orders.ClaimTakenOver):
        await orders.persist(database, first, request, QUOTE)
    async with session.begin():
        assert await session.get(Order, first.order_id) is None

    assert await placing.release(first) is False  # no call to inventory either

    current = orders.Claim("key-fenced", first.order_id, attempt=2)
    order = await orders.persist(database, current, request, QUOTE)
    assert order.id == first.order_id
    # Completed: no one may release it any more, not even the holder of the attempt.
    assert await placing.release(current) is False
    async with session.begin():
        record = await session.get(IdempotencyRecord, "key-fenced")
        assert record is not None and (record.state, record.attempt) == ("completed", 2)
