"""Load against the order service: open loop at a fixed rate, or closed loop at fixed concurrency.

The workload is half POST /orders (a new Idempotency-Key each, one or two SKUs) and half
GET /orders/{id} of orders created beforehand, drawn with a fixed seed.

Open loop: request i is due at start + i/rate whether or not earlier ones have answered, and
its latency counts from when it was due, not from when it could be sent; a generator that
waits for answers first (closed loop) hides queueing, the "coordinated omission" error.
Closed loop: N clients, each sending its next request when the previous one has answered;
its throughput at enough clients is the service's capacity.
"""

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from bench.environment import PRODUCTS
from bench.results import Endpoint, Latency, Repeated, Requests, Round
from devtools.stack.services import Services

TIMEOUT = 10.0
CUSTOMER = "bench"
K = TypeVar("K")


@dataclass
class Samples:
    latencies: dict[Endpoint, list[float]] = field(
        default_factory=lambda: {e: [] for e in Endpoint}
    )
    errors: dict[Endpoint, int] = field(default_factory=lambda: dict.fromkeys(Endpoint, 0))
    # What the errors were: an HTTP status, or the client-side exception's name.
    reasons: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    elapsed: float = 0.0


def summarize(
    samples: Samples,
    cpu_seconds_by_service: dict[str, float],
    loadgen_cpu_seconds: float,
    offered_rps: float | None,
) -> Round:
    """Throughput, latency percentiles and errors per endpoint and overall, and CPU per request."""

    def requests(latencies: list[float], errors: int) -> Requests:
        return Requests(
            answered=len(latencies),
            throughput_rps=len(latencies) / samples.elapsed,
            latency=Latency.of(latencies),
            errors=errors,
        )

    everything = [x for e in Endpoint for x in samples.latencies[e]]
    answered = max(1, len(everything))
    cpu_ms = {name: 1000 * s / answered for name, s in cpu_seconds_by_service.items()}
    return Round(
        offered_rps=offered_rps,
        duration_s=samples.elapsed,
        by_endpoint={e: requests(samples.latencies[e], samples.errors[e]) for e in Endpoint},
        overall=requests(everything, sum(samples.errors.values())),
        error_reasons=dict(samples.reasons),
        cpu_ms_per_request_by_service=cpu_ms,
        cpu_ms_per_request=sum(cpu_ms.values()),
        loadgen_cpu_ms_per_request=1000 * loadgen_cpu_seconds / max(1, samples.sent),
    )


@dataclass(frozen=True)
class Request:
    """One request of the workload, ready for httpx."""

    endpoint: Endpoint
    method: str
    path: str
    json: dict[str, Any] | None = None
    headers: dict[str, str] | None = None


class Workload:
    """Requests to one stack's order service, all as one customer signed in at its provider
    (who places an order changes nothing of its cost; verifying the token is part of it)."""

    def __init__(self, services: Services, order_ids: list[str], get_share: float = 0.5) -> None:
        self.base_url = services.order_url
        self.order_ids = order_ids
        self.get_share = get_share
        self.random = random.Random(42)
        token = services.provider.customer_token(CUSTOMER)
        self.signed_in = {"Authorization": f"Bearer {token}"}

    def next(self) -> Request:
        """A read of an order created before (`get_share` of them), else a new order."""
        if self.order_ids and self.random.random() < self.get_share:
            order_id = self.random.choice(self.order_ids)
            return Request(Endpoint.READ_ORDER, "GET", f"/orders/{order_id}", None, self.signed_in)
        skus = self.random.sample(range(1, PRODUCTS + 1), self.random.choice((1, 2)))
        body = {"items": [{"sku": f"SKU-{n:05d}", "quantity": 1} for n in skus]}
        headers = {"Idempotency-Key": str(uuid.uuid4()), **self.signed_in}
        return Request(Endpoint.CREATE_ORDER, "POST", "/orders", body, headers)


def _client(connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(timeout=TIMEOUT, limits=limits)


async def _call(client: httpx.AsyncClient, base_url: str, request: Request) -> httpx.Response:
    return await client.request(
        request.method, base_url + request.path, json=request.json, headers=request.headers
    )


async def _send(
    client: httpx.AsyncClient, base_url: str, request: Request, due: float, samples: Samples
) -> None:
    endpoint = request.endpoint
    try:
        response = await _call(client, base_url, request)
        reason = f"{endpoint} {response.status_code}" if response.status_code >= 400 else None
    except httpx.HTTPError as exc:
        reason = f"{endpoint} {type(exc).__name__}"
    if reason is None:
        samples.latencies[endpoint].append(time.perf_counter() - due)
    else:
        samples.errors[endpoint] += 1
        samples.reasons[reason] += 1


async def open_loop(workload: Workload, rate: float, duration: float) -> Samples:
    """Send at `rate` per second for `duration` seconds; wait for the stragglers (10 s max)."""
    samples = Samples()
    total = max(1, round(rate * duration))
    async with _client(2000) as client:
        tasks = []
        start = time.perf_counter()
        for i in range(total):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(
                asyncio.create_task(_send(client, workload.base_url, workload.next(), due, samples))
            )
        samples.sent = total
        await asyncio.wait(tasks, timeout=TIMEOUT + 1)
        for task in tasks:
            if not task.done():
                task.cancel()
        samples.elapsed = max(duration, time.perf_counter() - start)
    lost = total - sum(len(v) for v in samples.latencies.values()) - sum(samples.errors.values())
    samples.errors[Endpoint.CREATE_ORDER] += lost  # cancelled at the deadline
    if lost:
        samples.reasons["unanswered at the deadline"] += lost
    return samples


async def closed_loop(workload: Workload, concurrency: int, duration: float) -> Samples:
    samples = Samples()
    async with _client(concurrency) as client:
        deadline = time.perf_counter() + duration

        async def user() -> None:
            while time.perf_counter() < deadline:
                samples.sent += 1
                await _send(
                    client, workload.base_url, workload.next(), time.perf_counter(), samples
                )

        start = time.perf_counter()
        await asyncio.gather(*(user() for _ in range(concurrency)))
        samples.elapsed = time.perf_counter() - start
    return samples


async def create_orders(services: Services, count: int) -> list[str]:
    """Orders for the GETs to read, created before any measurement."""
    workload = Workload(services, [], get_share=0.0)
    base_url = workload.base_url
    async with _client(10) as client:

        async def one() -> str:
            response = await _call(client, base_url, workload.next())
            response.raise_for_status()
            return str(response.json()["id"])

        return list(await asyncio.gather(*(one() for _ in range(count))))


def prepared_workload(services: Services, orders: int, get_share: float = 0.5) -> Workload:
    """A workload whose reads draw from `orders` orders, created now."""
    return Workload(services, asyncio.run(create_orders(services, orders)), get_share)


# The services' CPU seconds so far, by service (bench.environment.Services).
CpuClock = Callable[[], dict[str, float]]


def run_open(cpu_seconds: CpuClock, workload: Workload, rate: float, duration: float) -> Round:
    """One open-loop step, summarized with the services' CPU time it cost."""
    return _measure(cpu_seconds, open_loop(workload, rate, duration), rate)


def run_closed(cpu_seconds: CpuClock, workload: Workload, clients: int, duration: float) -> Round:
    """One closed-loop run, summarized with the services' CPU time it cost."""
    return _measure(cpu_seconds, closed_loop(workload, clients, duration), None)


def _measure(
    cpu_seconds: CpuClock, run: Coroutine[Any, Any, Samples], offered: float | None
) -> Round:
    before, own_before = cpu_seconds(), time.process_time()
    samples = asyncio.run(run)
    after, own = cpu_seconds(), time.process_time() - own_before
    used = {name: after[name] - before.get(name, 0.0) for name in after}
    return summarize(samples, used, own, offered)


def take_turns(
    rounds: int, runs: Mapping[K, Callable[[], Round]], median_by: Callable[[Round], float | None]
) -> dict[K, Repeated]:
    """Each run `rounds` times, all of them in turn (a, b, a, b, ...): on a shared machine whose
    load drifts, a variant measured minutes after another would be compared with a different
    machine. Each one's median round is the middle one by `median_by`."""
    measured: dict[K, list[Round]] = {key: [] for key in runs}
    for _ in range(rounds):
        for key, run in runs.items():
            measured[key].append(run())
    return {key: Repeated.of(found, median_by) for key, found in measured.items()}
