"""Idempotency-Key claims and their fencing, on the order schema."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from order import claims
from order.claims import Claim, ClaimTakenOver, IdempotencyKeyInProgress, IdempotencyKeyReused
from order.clients import InventoryClient, PricingClient
from order.models import ClaimState, IdempotencyRecord, Order
from order.placement import OrderPlacement, persist
from order.schemas import OrderRequest
from order.settings import OrderSettings
from pricing.contract import Quote, QuoteLine
from shopkit.db import Database


@pytest.fixture
async def placing(database: Database) -> AsyncIterator[OrderPlacement]:
    """Placing orders with inventory and pricing at an address where nothing listens: were a
    call attempted, it would raise DependencyUnavailable."""
    # Calls would go nowhere: an issuer and a client secret only because the settings need them.
    settings = OrderSettings(
        http_attempts=1, oidc_issuer="http://127.0.0.1:9", oidc_client_secret="unused"
    )
    async with httpx.AsyncClient() as http:
        yield OrderPlacement(
            database=database,
            inventory=InventoryClient("inventory", "http://127.0.0.1:9", http, settings),
            pricing=PricingClient("pricing", "http://127.0.0.1:9", http, settings),
            claim_ttl_seconds=30,
            pseudonym_key=settings.customer_pseudonym_key.get_secret_value().encode(),
        )


async def test_a_stale_claim_is_taken_over_with_the_same_order_id(
    placing: OrderPlacement, session: AsyncSession
) -> None:
    request = OrderRequest.model_validate(
        {"customer_id": "c1", "items": [{"sku": "SKU-00001", "quantity": 1}]}
    )
    other = OrderRequest.model_validate(
        {"customer_id": "c1", "items": [{"sku": "SKU-00002", "quantity": 1}]}
    )
    claim = await placing.claim("key-1", request)
    assert isinstance(claim, Claim) and claim.attempt == 1

    with pytest.raises(IdempotencyKeyInProgress):
        await placing.claim("key-1", request)
    with pytest.raises(IdempotencyKeyReused):
        await placing.claim("key-1", other)

    async with session.begin():  # as if its process died a minute ago
        await session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.customer_id == "c1", IdempotencyRecord.key == "key-1")
            .values(claimed_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    taken_over = await placing.claim("key-1", request)
    # The same order id, so its reservation is found again; the next attempt, so the
    # request that died, were it only slow, is fenced out.
    assert taken_over == Claim("c1", "key-1", claim.order_id, attempt=2)


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
    placing: OrderPlacement, database: Database, session: AsyncSession
) -> None:
    request = OrderRequest.model_validate(
        {"customer_id": "c1", "items": [{"sku": "SKU-00001", "quantity": 1}]}
    )
    first = await placing.claim("key-fenced", request)
    assert isinstance(first, Claim)
    async with session.begin():  # recovery took it over
        await session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.customer_id == "c1", IdempotencyRecord.key == "key-fenced")
            .values(attempt=IdempotencyRecord.attempt + 1)
        )
    with pytest.raises(ClaimTakenOver):
        await persist(database, first, request, QUOTE)
    async with session.begin():
        assert await session.get(Order, first.order_id) is None

    assert await placing.release(first) is False  # no call to inventory either

    current = Claim("c1", "key-fenced", first.order_id, attempt=2)
    order = await persist(database, current, request, QUOTE)
    assert order.id == first.order_id
    # Stored: no one may release it any more, not even the holder of the attempt.
    assert await placing.release(current) is False
    assert await _claim_state(session, "key-fenced") == (ClaimState.CONFIRMING, 2)
    # While its reservation is being confirmed, the key replays the stored order.
    replayed = await placing.claim("key-fenced", request)
    assert isinstance(replayed, Order) and replayed.id == first.order_id

    # Once confirmed at inventory, only the holder of the attempt completes the claim.
    await claims.complete(database, first)
    assert await _claim_state(session, "key-fenced") == (ClaimState.CONFIRMING, 2)
    await claims.complete(database, current)
    assert await _claim_state(session, "key-fenced") == (ClaimState.COMPLETED, 2)


def _request(customer_id: str, sku: str = "SKU-00001") -> OrderRequest:
    return OrderRequest.model_validate(
        {"customer_id": customer_id, "items": [{"sku": sku, "quantity": 1}]}
    )


async def test_a_key_is_the_customer_s_own(placing: OrderPlacement) -> None:
    # c1 used the key first; c2, with another body, is neither refused nor given c1's order.
    first = await placing.claim("shared-key", _request("c1"))
    second = await placing.claim("shared-key", _request("c2", "SKU-00002"))

    assert isinstance(first, Claim) and isinstance(second, Claim)
    assert (first.customer_id, second.customer_id) == ("c1", "c2")
    assert first.order_id != second.order_id
    with pytest.raises(IdempotencyKeyReused):  # within one customer, a key is still one body
        await placing.claim("shared-key", _request("c2"))


async def test_a_stored_order_s_claim_keeps_no_request(
    placing: OrderPlacement, database: Database, session: AsyncSession
) -> None:
    request = _request("c1")
    claim = await placing.claim("key-stored", request)
    assert isinstance(claim, Claim)
    assert await _stored_request(session, "key-stored") == request.model_dump(mode="json")

    await persist(database, claim, request, QUOTE)

    assert await _stored_request(session, "key-stored") is None


async def test_only_completed_claims_past_their_retention_are_deleted(
    placing: OrderPlacement, database: Database, session: AsyncSession
) -> None:
    ages = {"completed-old": 25, "completed-new": 23, "unfinished-old": 25}  # hours
    for key, hours in ages.items():
        claim = await placing.claim(key, _request("c1"))
        assert isinstance(claim, Claim)
        if key.startswith("completed"):
            await persist(database, claim, _request("c1"), QUOTE)
            await claims.complete(database, claim)
        async with session.begin():
            await session.execute(
                update(IdempotencyRecord)
                .where(IdempotencyRecord.key == key)
                .values(created_at=datetime.now(UTC) - timedelta(hours=hours))
            )

    assert await claims.delete_expired(database, retention_seconds=86_400, batch=10) == 1

    async with session.begin():
        kept = await session.scalars(select(IdempotencyRecord.key))
        assert sorted(kept) == ["completed-new", "unfinished-old"]
    # Its key is free again: a retry now places a new order.
    again = await placing.claim("completed-old", _request("c1"))
    assert isinstance(again, Claim) and again.attempt == 1


async def _stored_request(session: AsyncSession, key: str) -> object:
    async with session.begin():
        return await session.scalar(
            select(IdempotencyRecord.request).where(IdempotencyRecord.key == key)
        )


async def _claim_state(session: AsyncSession, key: str) -> tuple[str, int]:
    async with session.begin():
        record = await session.get(IdempotencyRecord, ("c1", key), populate_existing=True)
        assert record is not None
        return record.state, record.attempt
