"""How many orders one customer may place: a token bucket per customer.

The cap per order (MAX_UNITS_PER_ORDER, order/schemas.py) bounds what one request can hold; this
bounds how fast one customer can repeat it, so that no signed-up account drains a product's
stock, or the shop's capacity, in a few seconds. Each customer may place `burst` orders at once,
then `per_second` more each second; the rest get 429 problem+json with Retry-After, before any
claim, stock or price is touched.

The buckets live in each order process, as in most rate limiters without a shared store: with N
replicas behind a Service a customer may place up to N times as many. A limit that must hold
across replicas belongs in a shared store (or the gateway in front); this one costs no round
trip and keeps its promise per process.
"""

import math
import time
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from opentelemetry import metrics

from shopkit.problems import Problem

meter = metrics.get_meter(__name__)
rate_limited = meter.create_counter(
    "shop.orders.rate_limited",
    unit="{request}",
    description="Order placements refused because their customer placed too many",
)


class CustomerRateLimit:
    """Token buckets by customer: `burst` tokens each, refilled at `per_second`."""

    def __init__(
        self, per_second: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_second = per_second
        self.burst = burst
        self._clock = clock
        # customer -> (tokens, when they were counted). A full bucket is the same as none, so
        # only customers active in the last burst / per_second seconds need an entry.
        self._buckets: dict[str, tuple[float, float]] = {}
        self._sweep_above = 1024

    def take(self, customer: str) -> float:
        """Take one token from the customer's bucket: 0.0 if there was one, else the seconds
        until there is."""
        now = self._clock()
        tokens, counted = self._buckets.get(customer, (self.burst, now))
        tokens = min(self.burst, tokens + (now - counted) * self.per_second)
        if tokens < 1:
            self._buckets[customer] = (tokens, now)
            return (1 - tokens) / self.per_second
        self._buckets[customer] = (tokens - 1, now)
        if len(self._buckets) > self._sweep_above:
            self._forget_full(now)
        return 0.0

    def _forget_full(self, now: float) -> None:
        """Drop the buckets that have refilled; amortized, as the next sweep waits until the
        map has doubled."""
        self._buckets = {
            customer: (tokens, counted)
            for customer, (tokens, counted) in self._buckets.items()
            if tokens + (now - counted) * self.per_second < self.burst
        }
        self._sweep_above = max(1024, 2 * len(self._buckets))

    def __len__(self) -> int:
        return len(self._buckets)


def admit(limit: CustomerRateLimit, customer: str) -> None:
    """Take a token for the customer's order, or refuse it with 429 and Retry-After."""
    wait = limit.take(customer)
    if wait:
        rate_limited.add(1)
        retry_after = math.ceil(wait)
        raise Problem(
            429,
            "rate-limited",
            "Too many orders",
            f"a customer may place {limit.burst} orders at once and {limit.per_second:g} a"
            f" second after that; retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )


async def get_order_rate_limit(request: Request) -> CustomerRateLimit:
    limit: CustomerRateLimit = request.app.state.order_rate_limit
    return limit


OrderRateLimitDep = Annotated[CustomerRateLimit, Depends(get_order_rate_limit)]
