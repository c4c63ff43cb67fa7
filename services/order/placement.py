"""Placing an order once per Idempotency-Key: the saga forward and its compensation.

Every step runs its own short transaction: placing an order never holds a database connection
while it waits for another service. It claims the Idempotency-Key (claims.py), quotes and
reserves (both at once, unless the fan-out it was given says otherwise), then stores the order
and moves the claim on in one statement, and at last confirms the reservation at inventory (from
then on no one can release its stock) and completes the claim. Whatever fails after the
reservation and before the order is stored gives the stock back (compensation) and frees the key
for a retry; once it is stored, the order is placed whatever fails.

A process that dies mid-order leaves its claim unfinished, and recovery.py finishes it with the
same steps from any order instance. See docs/failure-model.md.
"""

import logging
import uuid
from dataclasses import dataclass

from opentelemetry import metrics, trace
from sqlalchemy.exc import SQLAlchemyError

from inventory.contract import OutOfStock, ReservationConflict
from order import claims
from order.claims import Claim, ClaimTakenOver, IdempotencyKeyInProgress, IdempotencyKeyReused
from order.clients import InventoryClient, PricingClient
from order.fanout import FanOut, concurrently
from order.models import ClaimState, Order, OrderLine
from order.pseudonyms import customer_pseudonym
from order.schemas import OrderRequest
from pricing.contract import Quote, UnknownSkus
from shopkit import deadlines
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
    # Spans carry a keyed pseudonym of the customer, not the id (order/pseudonyms.py).
    pseudonym_key: bytes
    fan_out: FanOut = concurrently

    async def place(self, key: str, request: OrderRequest) -> tuple[Order, bool]:
        """Place the order, or find the one this key placed. Returns it and whether it is a
        replay."""
        with tracer.start_as_current_span(
            "place-order",
            attributes={
                "customer.pseudonym": customer_pseudonym(self.pseudonym_key, request.customer_id),
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
            claim = await self.claim(key, request)
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
            # Not bound by the request's deadline: its caller may have gone (that may be why
            # this failed), but the stock must come back now, not a lease later.
            with tracer.start_as_current_span("compensate-order"), deadlines.unbounded():
                # A claim taken over may hold what an earlier attempt reserved (or will: its
                # call may still be on its way), whatever this attempt's call answered.
                release = claim.attempt > 1 or _may_hold_stock(reserved)
                await self._compensate(claim, release)
            raise
        await self.confirm(claim)
        return order, False

    async def claim(self, key: str, request: OrderRequest) -> Claim | Order:
        """Claim the key for a new order, or return the order it already placed."""
        return await claims.claim_key(self.database, key, request, self.claim_ttl_seconds)

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

    async def confirm(self, claim: Claim) -> bool:
        """The saga's last step, once the order is stored: confirm its reservation, so that no
        one can release its stock any more, then complete the claim.

        Returns False when either failed: the order stays placed, its claim `confirming`, and
        recovery confirms it after the lease.
        """
        try:
            # A step of its own, after the order is stored: the call waits for that on purpose.
            with tracer.start_as_current_span("confirm-order"):
                await self.inventory.confirm(claim.order_id)
                await claims.complete(self.database, claim)
        except Exception:
            log.exception("could not confirm order %s; recovery will", claim.order_id)
            return False
        return True

    async def _compensate(self, claim: Claim, release: bool) -> None:
        """Give the stock back and free the key, unless the claim is no longer ours.

        Whatever fails here leaves the claim unfinished, and recovery finishes it after the
        lease.
        """
        try:
            if release:
                await self.release(claim)
            else:
                await claims.abandon(self.database, claim)
        except Exception:
            log.exception("could not compensate order %s; recovery will", claim.order_id)

    async def release(self, claim: Claim, state: ClaimState = ClaimState.IN_PROGRESS) -> bool:
        """The saga backwards: release the order's reservation, then free the key.

        The claim is first moved to `releasing` (fenced), so its order can never be stored once
        its stock may have been given back: an order acknowledged with 201 is never released.
        Returns False when the claim was not ours (any more). Raises if the release fails; the
        claim then stays `releasing` for recovery.
        """
        if state == ClaimState.IN_PROGRESS and not await claims.mark_releasing(
            self.database, claim
        ):
            return False
        # Idempotent, and it leaves a tombstone: a reservation of ours still on its way is
        # refused.
        await self.inventory.release(claim.order_id)
        await claims.free(self.database, claim)
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


async def persist(database: Database, claim: Claim, request: OrderRequest, quote: Quote) -> Order:
    """Store the order and move its claim to `confirming` in one statement, if the claim is
    still ours.

    Raises ClaimTakenOver, storing nothing, when recovery took the claim over meanwhile.
    """
    order = order_from_quote(claim.order_id, request, quote)
    await claims.store_order(database, claim, order)
    return order
