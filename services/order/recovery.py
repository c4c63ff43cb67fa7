"""Recovery: finishes the orders whose process died mid-saga, from any order instance, and
deletes completed Idempotency-Key claims past their retention.

Every order instance runs `run_recovery` in the background. Each pass takes over, with
FOR UPDATE SKIP LOCKED, the claims left unfinished past their lease (so instances never
take the same one), increments each claim's attempt (the fencing token: the slow original
request, if it is still alive, can then neither store the order nor release its stock) and
drives each one:

- forward, when the claim is `in_progress` and its request is known: quote again, reserve
  again with the same order id (idempotent: a reservation the dead process made is found,
  not doubled), store the order, confirm its reservation;
- only forward when the claim is `confirming`: its order is stored, so its reservation is
  confirmed (idempotent) and the claim completed, never released;
- backward otherwise, or when forward fails: release the reservation (idempotent; leaves a
  tombstone) and free the key, as a failed request's compensation does.

A claim whose recovery fails stays unfinished and is taken over again after another lease.
See docs/failure-model.md for the bound this gives on held stock.
"""

import asyncio
import logging
import random
import time
from collections.abc import Iterable

from fastapi import FastAPI
from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation

from order import claims
from order.claims import ClaimTakenOver, UnfinishedClaim
from order.deps import order_placement
from order.models import ClaimState
from order.placement import OrderPlacement, count_placed
from order.schemas import OrderRequest
from order.settings import OrderSettings

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)
meter = metrics.get_meter(__name__)
recoveries = meter.create_counter(
    "shop.recoveries",
    unit="{claim}",
    description="Unfinished orders taken over by recovery, by outcome "
    "(completed, confirmed, released, superseded, failed)",
)
expired = meter.create_counter(
    "shop.reservations.expired",
    unit="{reservation}",
    description="Reservations of unfinished orders released by recovery after their lease",
)
keys_expired = meter.create_counter(
    "shop.idempotency_keys.expired",
    unit="{key}",
    description="Completed Idempotency-Key claims deleted after their retention",
)

CONCURRENCY = 8
# At the default 5 s interval, 200 keys/s per instance: more than an instance places (about 150
# orders/s at most on docs/benchmarks.md's machine), so the table never grows past retention.
EXPIRED_KEYS_PER_PASS = 1000


class _OldestUnfinished:
    """Age of the oldest unfinished claim, as of the last pass: the alert's signal."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def observe(self, _: CallbackOptions) -> Iterable[Observation]:
        yield Observation(self.seconds)


oldest = _OldestUnfinished()
meter.create_observable_gauge(
    "shop.recovery.oldest_unfinished",
    callbacks=[oldest.observe],
    unit="s",
    description="Age of the oldest order claim not yet completed or released",
)


async def recover_claims(placement: OrderPlacement, batch: int) -> int:
    """One pass: take over up to `batch` claims past their lease and finish each one with
    the placement's steps. Returns how many were taken over.
    """
    taken, oldest.seconds = await claims.take_over_unfinished(
        placement.database, placement.claim_ttl_seconds, batch
    )

    # Concurrently, so a batch finishes within about one claim's calls (the bound counts on
    # it), but at most CONCURRENCY at once, leaving the pool to the requests.
    slots = asyncio.Semaphore(CONCURRENCY)

    async def recover(unfinished: UnfinishedClaim) -> None:
        async with slots:
            await _recover(placement, unfinished)

    await asyncio.gather(*(recover(unfinished) for unfinished in taken))
    return len(taken)


async def _recover(placement: OrderPlacement, unfinished: UnfinishedClaim) -> None:
    claim = unfinished.claim
    with tracer.start_as_current_span(
        "recover-order",
        attributes={
            "order.id": str(claim.order_id),
            "recovery.attempt": claim.attempt,
            "recovery.claim_state": unfinished.state.value,
            "recovery.claim_age_s": round(unfinished.age_seconds, 3),
        },
    ) as span:
        outcome = await _forward_or_back(placement, unfinished)
        span.set_attribute("recovery.outcome", outcome)
        if outcome == "failed":
            span.set_status(trace.StatusCode.ERROR)
        recoveries.add(1, {"outcome": outcome})
        log.info("recovered order %s (attempt %d): %s", claim.order_id, claim.attempt, outcome)


async def _forward_or_back(placement: OrderPlacement, unfinished: UnfinishedClaim) -> str:
    claim, state, request = unfinished.claim, unfinished.state, unfinished.request
    if state == ClaimState.CONFIRMING:
        # Stored, perhaps acknowledged with 201: its stock is never given back. Should its
        # reservation have been released meanwhile, this fails at every lease (and alerts).
        return "confirmed" if await placement.confirm(claim) else "failed"
    if state == ClaimState.IN_PROGRESS and request is not None:
        try:
            order_request = OrderRequest.model_validate(request)
            # The request's own steps forward; its calls both end before the release below.
            quote, reserved = await placement.quote_and_reserve(claim, order_request)
            order = await placement.store(claim, order_request, quote, reserved)
            count_placed(order)
            await placement.confirm(claim)  # if it fails, the next lease confirms it
            return "completed"
        except ClaimTakenOver:
            return "superseded"
        except Exception as exc:
            # Out of stock, a tombstoned reservation, a dependency down: give the stock back.
            log.info("order %s cannot go forward (%r); releasing it", claim.order_id, exc)
    try:
        if not await placement.release(claim, state):
            return "superseded"
    except Exception:
        log.exception("could not release order %s; the next lease retries", claim.order_id)
        return "failed"
    expired.add(1)
    return "released"


async def run_recovery(app: FastAPI) -> None:
    """The background loop of one order instance: a pass every interval, jittered so that
    instances started together do not poll together. Never stops on an error."""
    settings: OrderSettings = app.state.settings
    # Concurrent calls whatever the scenarios say: recovery is not a request they apply to.
    placement = order_placement(app)
    while True:
        await asyncio.sleep(settings.recovery_interval_seconds * random.uniform(0.5, 1.5))
        started = time.monotonic()
        try:
            taken = await recover_claims(placement, settings.recovery_batch)
            deleted = await claims.delete_expired(
                placement.database,
                settings.idempotency_key_retention_seconds,
                EXPIRED_KEYS_PER_PASS,
            )
        except Exception:
            log.exception("recovery pass failed; retrying next interval")
            continue
        if taken:
            log.info("recovery pass: %d claims in %.2fs", taken, time.monotonic() - started)
        if deleted:
            keys_expired.add(deleted)
            log.info("deleted %d idempotency keys past their retention", deleted)
