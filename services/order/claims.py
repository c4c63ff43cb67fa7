"""The claim on an Idempotency-Key: every statement on `orders.idempotency_records`.

A claim binds a customer's key to one request body and one order id. It is also the placing saga's
outbox: while it is not `completed`, stock may be held for its order (or, once `confirming`,
its reservation not yet confirmed), and recovery can finish it from the request it stores.
`attempt` is the fencing token: whoever takes a claim over increments it, and every statement
that stores, completes or releases a claim names the attempt it holds, so a slow request and
the recovery that took its claim over never both act. The saga that drives a claim lives in
placement.py (forward and its compensation) and recovery.py (after a crash); see
docs/failure-model.md.
"""

import hashlib
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, Uuid, delete, func, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from order.models import ClaimState, IdempotencyRecord, Order
from order.schemas import OrderRequest
from shopkit.db import Database


class IdempotencyKeyReused(Exception):
    """The key was first used with another request body."""


class IdempotencyKeyInProgress(Exception):
    """Another request with this key is being processed right now."""


class ClaimTakenOver(IdempotencyKeyInProgress):
    """This request was slower than the claim's lease and recovery took the claim over:
    the request must neither store the order nor release its stock. A retry with the same
    key gets whatever the recovery decided."""


@dataclass(frozen=True)
class Claim:
    """The claim this process holds: the order id it places and its fencing token."""

    customer_id: str
    key: str
    order_id: uuid.UUID
    attempt: int


@dataclass(frozen=True)
class UnfinishedClaim:
    """A claim recovery took over: what it holds, where the saga stopped, and since when."""

    claim: Claim
    state: ClaimState
    # The OrderRequest as JSON; None only for claims made before the outbox existed.
    request: dict[str, Any] | None
    age_seconds: float


UNFINISHED = IdempotencyRecord.state != ClaimState.COMPLETED

# Text, not the ORM's insert(): SQLAlchemy 2.0 compiles an INSERT .. ON CONFLICT anew on every
# call (it has no cache key), which cost more CPU than the round trip. Each statement below is
# the same for every order, so it is prepared once per connection.
CLAIM_KEY = text(
    "INSERT INTO orders.idempotency_records"
    " (customer_id, key, request_hash, order_id, state, request)"
    f" VALUES (:customer_id, :key, :request_hash, :order_id, '{ClaimState.IN_PROGRESS}',"
    " CAST(:request AS jsonb)) ON CONFLICT DO NOTHING RETURNING order_id"
).columns(order_id=Uuid)

# The order and its lines, and the claim's move to `confirming`, as one statement, so one
# atomic step with no BEGIN/COMMIT: the claim moves only if it is still ours (the fencing
# condition of `_held`), and the order and its lines are inserted only from that claim's row.
# The claim drops its request: the order holds the items now, and recovery needs none.
PERSIST_ORDER = text(
    "WITH claim AS ("
    " UPDATE orders.idempotency_records"
    f" SET state = '{ClaimState.CONFIRMING}', request = NULL"
    " WHERE customer_id = :customer_id AND key = :key AND attempt = :attempt"
    f" AND state = '{ClaimState.IN_PROGRESS}' RETURNING order_id),"
    " stored AS ("
    " INSERT INTO orders.orders (id, customer_id, status, currency, subtotal, discount, total)"
    " SELECT order_id, :customer_id, 'confirmed', :currency, :subtotal, :discount, :total"
    " FROM claim RETURNING id, created_at),"
    " stored_lines AS ("
    " INSERT INTO orders.order_lines"
    " (order_id, position, sku, quantity, unit_price, discount, line_total)"
    " SELECT stored.id, line.n - 1, line.sku, line.quantity, line.unit_price, line.discount,"
    " line.line_total FROM stored, unnest(CAST(:skus AS varchar[]), CAST(:quantities AS int[]),"
    " CAST(:unit_prices AS numeric[]), CAST(:discounts AS numeric[]),"
    " CAST(:line_totals AS numeric[]))"
    " WITH ORDINALITY AS line(sku, quantity, unit_price, discount, line_total, n))"
    " SELECT created_at FROM stored"
)


def claim_parameters(key: str, request: OrderRequest) -> dict[str, Any]:
    """CLAIM_KEY's parameters for a new order: the request is serialized once, for its
    fingerprint and for recovery, which needs it to finish the order if this process dies."""
    body = request.model_dump_json()
    return {
        "customer_id": request.customer_id,
        "key": key,
        "request_hash": hashlib.sha256(body.encode()).hexdigest(),
        "order_id": uuid.uuid4(),
        "request": body,
    }


def persist_parameters(claim: Claim, order: Order) -> dict[str, Any]:
    """PERSIST_ORDER's parameters: the claim that must still be ours, the order, its lines."""
    lines = order.lines
    assert order.customer_id == claim.customer_id, "an order is stored under its own claim"
    return {
        "customer_id": claim.customer_id,
        "key": claim.key,
        "attempt": claim.attempt,
        "currency": order.currency,
        "subtotal": order.subtotal,
        "discount": order.discount,
        "total": order.total,
        "skus": [line.sku for line in lines],
        "quantities": [line.quantity for line in lines],
        "unit_prices": [line.unit_price for line in lines],
        "discounts": [line.discount for line in lines],
        "line_totals": [line.line_total for line in lines],
    }


def _held(claim: Claim, state: ClaimState) -> ColumnElement[bool]:
    """The fencing condition: the claim is still in `state` at this process's attempt."""
    return (
        _keyed(claim.customer_id, claim.key)
        & (IdempotencyRecord.attempt == claim.attempt)
        & (IdempotencyRecord.state == state)
    )


def _keyed(customer_id: str, key: str) -> ColumnElement[bool]:
    return (IdempotencyRecord.customer_id == customer_id) & (IdempotencyRecord.key == key)


def _past_lease(lease_seconds: float) -> ColumnElement[bool]:
    return IdempotencyRecord.claimed_at < func.now() - timedelta(seconds=lease_seconds)


# Taking a claim over, by a retry or by recovery: the same two changes, the new holder's.
_TAKE_OVER = {"claimed_at": func.now(), "attempt": IdempotencyRecord.attempt + 1}


async def claim_key(
    database: Database, key: str, request: OrderRequest, lease_seconds: float
) -> Claim | Order:
    """Claim the key for a new order, or return the order it already placed.

    Raises IdempotencyKeyReused for another body under the same key, IdempotencyKeyInProgress
    while another request holds the claim within its lease.
    """
    parameters = claim_parameters(key, request)
    # The common case, a new key, is this one statement (no BEGIN/COMMIT around it).
    async with database.statement() as connection:
        claimed = await connection.scalar(CLAIM_KEY, parameters)
    customer_id = request.customer_id
    if claimed is not None:
        return Claim(customer_id, key, claimed, attempt=1)

    # A key seen before: a replay, a conflict, or a claim left unfinished (rare paths).
    async with database.sessionmaker() as session, session.begin():
        record = await session.scalar(select(IdempotencyRecord).where(_keyed(customer_id, key)))
        if record is None:  # its request failed and freed the key a moment ago
            raise IdempotencyKeyInProgress
        if record.request_hash != parameters["request_hash"]:
            raise IdempotencyKeyReused
        if record.state in (ClaimState.CONFIRMING, ClaimState.COMPLETED):
            order = await _select_order(session, record.order_id)
            assert order is not None, "a confirming or completed claim always has its order"
            return order

        # The claim's request died without finishing and recovery has not got to it yet:
        # take it over with the same order id, so a reservation it may have made is found
        # again instead of leaking stock. A claim being released is left to its releaser.
        taken_over = (
            await session.execute(
                update(IdempotencyRecord)
                .where(
                    _keyed(customer_id, key),
                    IdempotencyRecord.state == ClaimState.IN_PROGRESS,
                    _past_lease(lease_seconds),
                )
                .values(_TAKE_OVER)
                .returning(IdempotencyRecord.order_id, IdempotencyRecord.attempt)
            )
        ).first()
        if taken_over is None:
            raise IdempotencyKeyInProgress
        return Claim(customer_id, key, taken_over.order_id, taken_over.attempt)


async def _select_order(session: AsyncSession, order_id: uuid.UUID) -> Order | None:
    order: Order | None = await session.scalar(
        select(Order).where(Order.id == order_id).options(selectinload(Order.lines))
    )
    return order


async def store_order(database: Database, claim: Claim, order: Order) -> None:
    """Store the order and move its claim to `confirming` in one statement, if the claim is
    still ours.

    Sets the order's created_at. Raises ClaimTakenOver, storing nothing, when recovery took the
    claim over meanwhile.
    """
    async with database.statement() as connection:
        created_at = await connection.scalar(PERSIST_ORDER, persist_parameters(claim, order))
    if created_at is None:
        raise ClaimTakenOver  # the claim was not ours any more: nothing was stored
    order.created_at = created_at


async def complete(database: Database, claim: Claim) -> None:
    """Complete a claim whose order is stored and whose reservation is confirmed, if the claim
    is still ours (else its new holder confirms again, idempotently, and completes it)."""
    async with database.statement() as connection:
        await connection.execute(
            update(IdempotencyRecord)
            .where(_held(claim, ClaimState.CONFIRMING))
            .values(state=ClaimState.COMPLETED)
        )


async def abandon(database: Database, claim: Claim) -> None:
    """Free the key of a claim that holds no stock, if it is still ours and in progress."""
    async with database.statement() as connection:
        await connection.execute(
            delete(IdempotencyRecord).where(_held(claim, ClaimState.IN_PROGRESS))
        )


async def mark_releasing(database: Database, claim: Claim) -> bool:
    """Move the claim from in progress to releasing, if it is still ours; committed before any
    stock is given back, so a claim whose stock may be released can never store its order.
    Returns False when the claim was not ours (any more) or its order is stored."""
    async with database.statement() as connection:
        marked = await connection.scalar(
            update(IdempotencyRecord)
            .where(_held(claim, ClaimState.IN_PROGRESS))
            .values(state=ClaimState.RELEASING, claimed_at=func.now())
            .returning(IdempotencyRecord.attempt)
        )
    return marked is not None


async def free(database: Database, claim: Claim) -> None:
    """Free the key once its stock is given back, if the releasing claim is still ours."""
    async with database.statement() as connection:
        await connection.execute(
            delete(IdempotencyRecord).where(_held(claim, ClaimState.RELEASING))
        )


async def take_over_unfinished(
    database: Database, lease_seconds: float, batch: int
) -> tuple[list[UnfinishedClaim], float]:
    """Recovery's take-over: up to `batch` claims unfinished past their lease, oldest first,
    locked with SKIP LOCKED so two instances never take the same one. Returns them and the age
    of the oldest claim still unfinished (0 if none), both from one transaction."""
    async with database.transaction() as connection:
        stale = (
            select(IdempotencyRecord.customer_id, IdempotencyRecord.key)
            .where(UNFINISHED, _past_lease(lease_seconds))
            .order_by(IdempotencyRecord.claimed_at)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
        rows = (
            await connection.execute(
                update(IdempotencyRecord)
                .where(tuple_(IdempotencyRecord.customer_id, IdempotencyRecord.key).in_(stale))
                .values(_TAKE_OVER)
                .returning(
                    IdempotencyRecord.customer_id,
                    IdempotencyRecord.key,
                    IdempotencyRecord.order_id,
                    IdempotencyRecord.attempt,
                    IdempotencyRecord.state,
                    IdempotencyRecord.request,
                    func.extract("epoch", func.now() - IdempotencyRecord.created_at),
                )
            )
        ).all()
        oldest = await connection.scalar(
            select(
                func.extract("epoch", func.now() - func.min(IdempotencyRecord.created_at))
            ).where(UNFINISHED)
        )
    taken = [
        UnfinishedClaim(
            Claim(customer_id, key, order_id, attempt), ClaimState(state), request, float(age)
        )
        for customer_id, key, order_id, attempt, state, request, age in rows
    ]
    return taken, float(oldest or 0)  # NULL: nothing unfinished


async def delete_expired(database: Database, retention_seconds: float, batch: int) -> int:
    """The retention: delete up to `batch` completed claims made more than `retention_seconds`
    ago, oldest first; their keys can then place new orders. Unfinished claims are never
    deleted here, whatever their age: they may hold stock, and recovery finishes them.
    Returns how many were deleted."""
    expired = (
        select(IdempotencyRecord.customer_id, IdempotencyRecord.key)
        .where(
            IdempotencyRecord.state == ClaimState.COMPLETED,
            IdempotencyRecord.created_at < func.now() - timedelta(seconds=retention_seconds),
        )
        .order_by(IdempotencyRecord.created_at)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    async with database.statement() as connection:
        deleted = await connection.execute(
            delete(IdempotencyRecord).where(
                tuple_(IdempotencyRecord.customer_id, IdempotencyRecord.key).in_(expired)
            )
        )
    return deleted.rowcount
