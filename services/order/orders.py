"""Placing and reading orders: the order service's logic, free of HTTP.

Every public function runs its own short transactions: placing an order never holds a
database connection while it waits for another service. It claims the Idempotency-Key in
one transaction, quotes and reserves (both at once, unless the fan-out it was given says
otherwise), then stores the order and completes the claim in a second one. Whatever fails
after the reservation gives the stock back (compensation) and frees the key for a retry.

The claim is also the saga's outbox: a process that dies mid-order leaves it unfinished, and
recovery.py finishes it from any order instance. The claim's `attempt` fences the two apart:
only the holder of the current attempt may complete the claim or release its stock, so a slow
request and the recovery that took its claim over never both act. See docs/failure-model.md.
"""

import base64
import hashlib
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from opentelemetry import metrics, trace
from sqlalchemy import (
    Row,
    Select,
    Uuid,
    bindparam,
    delete,
    func,
    literal,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from inventory.contract import OutOfStock, ReservationConflict
from order.clients import InventoryClient, PricingClient
from order.fanout import FanOut, concurrently
from order.models import IdempotencyRecord, Order, OrderLine
from order.schemas import LiveLine, OrderDetail, OrderRequest
from pricing.contract import Quote, UnknownSkus
from shopkit.db import Database
from shopkit.problems import DependencyUnavailable

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)
meter = metrics.get_meter(__name__)
orders_created = meter.create_counter(
    "shop.orders.created", unit="{order}", description="Orders placed (replays not counted)"
)
orders_failed = meter.create_counter(
    "shop.orders.failed", unit="{order}", description="Orders not placed, by reason"
)
order_value = meter.create_histogram(
    "shop.order.value",
    unit="{currency}",
    description="Total of each placed order, in its currency",
    explicit_bucket_boundaries_advisory=(10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000),
)


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

    key: str
    order_id: uuid.UUID
    attempt: int


class InvalidCursor(Exception):
    pass


@dataclass(frozen=True, slots=True)
class OrderPlacement:
    """Placing an order once per Idempotency-Key: the saga's steps and what they need.

    The API builds one per request (order/deps.py), with the fan-out the scenarios chose;
    recovery builds one per instance and drives unfinished claims with the same steps.
    """

    database: Database
    inventory: InventoryClient
    pricing: PricingClient
    # The lease of a claim: an unfinished claim older than this may be taken over.
    claim_ttl_seconds: float
    fan_out: FanOut = concurrently

    async def place(self, key: str, request: OrderRequest) -> tuple[Order, bool]:
        """Place the order, or find the one this key placed. Returns it and whether it is a
        replay."""
        with tracer.start_as_current_span(
            "place-order",
            attributes={
                "customer.id": request.customer_id,
                "order.item_count": len(request.items),
            },
        ) as span:
            try:
                order, replayed = await self._place(key, request)
            except Exception as exc:
                orders_failed.add(1, {"reason": _failure_reason(exc)})
                raise
            span.set_attributes(
                {
                    "order.id": str(order.id),
                    "order.total": str(order.total),
                    "order.currency": order.currency,
                    "order.replayed": replayed,
                }
            )
            if not replayed:
                count_placed(order)
            return order, replayed

    async def _place(self, key: str, request: OrderRequest) -> tuple[Order, bool]:
        with tracer.start_as_current_span("claim-idempotency-key"):
            claim = await self._claim(key, request)
        if isinstance(claim, Order):
            trace.get_current_span().set_attribute("order.id", str(claim.id))
            return claim, True
        trace.get_current_span().set_attribute("order.id", str(claim.order_id))

        quote, reserved = await self.quote_and_reserve(claim, request)
        try:
            order = await self.store(claim, request, quote, reserved)
        except ClaimTakenOver:
            raise  # the claim, and its stock, are recovery's now
        except BaseException:
            with tracer.start_as_current_span("compensate-order"):
                # A claim taken over may hold what an earlier attempt reserved (or will: its
                # call may still be on its way), whatever this attempt's call answered.
                release = claim.attempt > 1 or _may_hold_stock(reserved)
                await self._compensate(claim, release)
            raise
        return order, False

    async def quote_and_reserve(
        self, claim: Claim, request: OrderRequest
    ) -> tuple[Quote | BaseException, BaseException | None]:
        """Quote and reserve as the fan-out says. Both run to the end even when one fails, so
        that no reservation is still on its way when a release goes out."""
        return await self.fan_out(
            self.pricing.quote(request.items),
            self.inventory.reserve(claim.order_id, request.items),
        )

    async def store(
        self,
        claim: Claim,
        request: OrderRequest,
        quote: Quote | BaseException,
        reserved: BaseException | None,
    ) -> Order:
        """The saga's last step forward: raise the first failure of the two calls, or store
        the order (see `persist`)."""
        for outcome in (quote, reserved):
            if isinstance(outcome, BaseException):
                raise outcome
        assert isinstance(quote, Quote)
        with tracer.start_as_current_span("persist-order"):
            return await persist(self.database, claim, request, quote)

    async def _claim(self, key: str, request: OrderRequest) -> Claim | Order:
        """Claim the key for a new order, or return the order it already placed."""
        parameters = claim_parameters(key, request)
        # The common case, a new key, is this one statement (no BEGIN/COMMIT around it).
        async with self.database.statement() as connection:
            claimed = await connection.scalar(CLAIM_KEY, parameters)
        if claimed is not None:
            return Claim(key, claimed, attempt=1)

        # A key seen before: a replay, a conflict, or a claim left unfinished (rare paths).
        async with self.database.sessionmaker() as session, session.begin():
            record = await session.scalar(
                select(IdempotencyRecord).where(IdempotencyRecord.key == key)
            )
            if record is None:  # its request failed and freed the key a moment ago
                raise IdempotencyKeyInProgress
            if record.request_hash != parameters["request_hash"]:
                raise IdempotencyKeyReused
            if record.state == "completed":
                order = await _select_order(session, record.order_id)
                assert order is not None, "a completed claim always has its order"
                return order

            # The claim's request died without finishing and recovery has not got to it yet:
            # take it over with the same order id, so a reservation it may have made is found
            # again instead of leaking stock. A claim being released is left to its releaser.
            lease = timedelta(seconds=self.claim_ttl_seconds)
            taken_over = (
                await session.execute(
                    update(IdempotencyRecord)
                    .where(
                        IdempotencyRecord.key == key,
                        IdempotencyRecord.state == "in_progress",
                        IdempotencyRecord.claimed_at < func.now() - lease,
                    )
                    .values(claimed_at=func.now(), attempt=IdempotencyRecord.attempt + 1)
                    .returning(IdempotencyRecord.order_id, IdempotencyRecord.attempt)
                )
            ).first()
            if taken_over is None:
                raise IdempotencyKeyInProgress
            return Claim(key, taken_over.order_id, taken_over.attempt)

    async def _compensate(self, claim: Claim, release: bool) -> None:
        """Give the stock back and free the key, unless the claim is no longer ours.

        Whatever fails here leaves the claim unfinished, and recovery finishes it after the
        lease.
        """
        try:
            if release:
                await self.release(claim)
            else:
                async with self.database.statement() as connection:
                    await connection.execute(
                        delete(IdempotencyRecord).where(_held(claim, "in_progress"))
                    )
        except Exception:
            log.exception("could not compensate order %s; recovery will", claim.order_id)

    async def release(self, claim: Claim, state: str = "in_progress") -> bool:
        """The saga backwards: release the order's reservation, then free the key.

        The claim is first moved to `releasing` (fenced), so it can never be completed once its
        stock may have been given back: an order acknowledged with 201 is never released.
        Returns False when the claim was not ours (any more). Raises if the release fails; the
        claim then stays `releasing` for recovery.
        """
        if state == "in_progress":
            async with self.database.statement() as connection:
                marked = await connection.scalar(
                    update(IdempotencyRecord)
                    .where(_held(claim, "in_progress"))
                    .values(state="releasing", claimed_at=func.now())
                    .returning(IdempotencyRecord.key)
                )
            if marked is None:
                return False
        # Idempotent, and it leaves a tombstone: a reservation of ours still on its way is
        # refused.
        await self.inventory.release(claim.order_id)
        async with self.database.statement() as connection:
            await connection.execute(delete(IdempotencyRecord).where(_held(claim, "releasing")))
        return True


def count_placed(order: Order) -> None:
    orders_created.add(1)
    order_value.record(float(order.total), {"currency": order.currency})


def _failure_reason(exc: Exception) -> str:
    """A low-cardinality label for shop.orders.failed."""
    match exc:
        case OutOfStock():
            return "out_of_stock"
        case UnknownSkus():
            return "unknown_sku"
        case DependencyUnavailable():
            return f"{exc.dependency}_unavailable"
        case IdempotencyKeyReused() | IdempotencyKeyInProgress() | ReservationConflict():
            return "idempotency_conflict"
        case SQLAlchemyError():
            return "database_error"
        case _:
            return "internal_error"


def _may_hold_stock(reserved: object) -> bool:
    """Whether the reservation call may have taken stock, so that it must be released."""
    if isinstance(reserved, (OutOfStock, ReservationConflict)):
        return False  # inventory refused and rolled back
    if isinstance(reserved, DependencyUnavailable):
        return reserved.reached  # a request that never connected reserved nothing
    return True


def order_from_quote(order_id: uuid.UUID, request: OrderRequest, quote: Quote) -> Order:
    """The order to store, priced line by line as pricing quoted it."""
    return Order(
        id=order_id,
        customer_id=request.customer_id,
        status="confirmed",
        currency=quote.currency,
        subtotal=quote.subtotal,
        discount=quote.discount,
        total=quote.total,
        lines=[
            OrderLine(
                position=position,
                sku=line.sku,
                quantity=line.quantity,
                unit_price=line.unit_price,
                discount=line.discount,
                line_total=line.line_total,
            )
            for position, line in enumerate(quote.lines)
        ],
    )


def _held(claim: Claim, state: str) -> Any:
    """The fencing condition: the claim is still in `state` at this process's attempt."""
    return (
        (IdempotencyRecord.key == claim.key)
        & (IdempotencyRecord.attempt == claim.attempt)
        & (IdempotencyRecord.state == state)
    )


async def persist(database: Database, claim: Claim, request: OrderRequest, quote: Quote) -> Order:
    """Store the order and complete its claim in one transaction, if the claim is still ours.

    Raises ClaimTakenOver, storing nothing, when recovery took the claim over meanwhile.
    """
    order = order_from_quote(claim.order_id, request, quote)
    async with database.statement() as connection:
        created_at = await connection.scalar(PERSIST_ORDER, persist_parameters(claim, order))
    if created_at is None:
        raise ClaimTakenOver  # the claim was not ours any more: nothing was stored
    order.created_at = created_at
    return order


def claim_parameters(key: str, request: OrderRequest) -> dict[str, Any]:
    """CLAIM_KEY's parameters for a new order: the request is serialized once, for its
    fingerprint and for recovery, which needs it to finish the order if this process dies."""
    body = request.model_dump_json()
    return {
        "key": key,
        "request_hash": hashlib.sha256(body.encode()).hexdigest(),
        "order_id": uuid.uuid4(),
        "request": body,
    }


def persist_parameters(claim: Claim, order: Order) -> dict[str, Any]:
    """PERSIST_ORDER's parameters: the claim that must still be ours, the order, its lines."""
    lines = order.lines
    return {
        "key": claim.key,
        "attempt": claim.attempt,
        "customer_id": order.customer_id,
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


# Text, not the ORM's insert(): SQLAlchemy 2.0 compiles an INSERT .. ON CONFLICT anew on every
# call (it has no cache key), which cost more CPU than the round trip. Each statement below is
# the same for every order, so it is prepared once per connection.
CLAIM_KEY = text(
    "INSERT INTO orders.idempotency_records (key, request_hash, order_id, state, request)"
    " VALUES (:key, :request_hash, :order_id, 'in_progress', CAST(:request AS jsonb))"
    " ON CONFLICT DO NOTHING RETURNING order_id"
).columns(order_id=Uuid)

# The order, its lines and the claim's completion as one statement, so one atomic step with no
# BEGIN/COMMIT: the claim is completed only if it is still ours (the fencing condition of
# `_held`), and the order and its lines are inserted only from that completed claim's row.
PERSIST_ORDER = text(
    "WITH claim AS ("
    " UPDATE orders.idempotency_records SET state = 'completed'"
    " WHERE key = :key AND attempt = :attempt AND state = 'in_progress' RETURNING order_id),"
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


async def _select_order(session: AsyncSession, order_id: uuid.UUID) -> Order | None:
    order: Order | None = await session.scalar(
        select(Order).where(Order.id == order_id).options(selectinload(Order.lines))
    )
    return order


async def get_order_detail(
    database: Database,
    inventory: InventoryClient,
    pricing: PricingClient,
    order_id: uuid.UUID,
    fan_out: FanOut = concurrently,
) -> OrderDetail | None:
    """The order with live stock and prices, fetched from both services as `fan_out` says."""
    rows = await _read_order(database, order_id)
    if not rows:
        return None
    skus = [row.sku for row in rows]
    available, unit_prices = await fan_out(inventory.stock_levels(skus), pricing.unit_prices(skus))
    for outcome in (available, unit_prices):
        if isinstance(outcome, BaseException):
            raise outcome
    assert isinstance(available, dict) and isinstance(unit_prices, dict)
    return order_detail(rows, available, unit_prices)


def order_detail(
    rows: Sequence[Row[Any]], available: dict[str, int], unit_prices: dict[str, Decimal]
) -> OrderDetail:
    """The response: the order as stored (rows of ORDER_WITH_LINES) with live stock and prices."""
    order = rows[0]
    return OrderDetail(
        id=order.id,
        status=order.status,
        customer_id=order.customer_id,
        subtotal=order.subtotal,
        discount=order.discount,
        total=order.total,
        currency=order.currency,
        created_at=order.created_at,
        lines=[
            LiveLine(
                sku=row.sku,
                quantity=row.quantity,
                unit_price=row.unit_price,
                discount=row.line_discount,
                line_total=row.line_total,
                available_now=available.get(row.sku),
                unit_price_now=unit_prices.get(row.sku),
            )
            for row in rows
        ],
    )


def _order_with_lines() -> Select[Any]:
    order, line = Order.__table__.c, OrderLine.__table__.c
    return (
        select(
            order.id,
            order.status,
            order.customer_id,
            order.subtotal,
            order.discount,
            order.total,
            order.currency,
            order.created_at,
            line.sku,
            line.quantity,
            line.unit_price,
            line.discount.label("line_discount"),
            line.line_total,
        )
        .join_from(Order.__table__, OrderLine.__table__, line.order_id == order.id)
        .where(order.id == bindparam("order_id"))
        .order_by(line.position)
    )


# Built once: the statement is the same for every order.
ORDER_WITH_LINES = _order_with_lines()


async def _read_order(database: Database, order_id: uuid.UUID) -> list[Row[Any]]:
    """An order and its lines in one statement, one row per line (every order has one).

    Core, not the ORM: the rows go straight into the response model, so loading entities
    into the session (identity map, a second query for the lines) would be pure cost.
    """
    async with database.statement() as connection:
        return list(await connection.execute(ORDER_WITH_LINES, {"order_id": order_id}))


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
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, order_id = json.loads(raw)
        return datetime.fromisoformat(created_at), uuid.UUID(order_id)
    except (ValueError, TypeError) as exc:
        raise InvalidCursor from exc
