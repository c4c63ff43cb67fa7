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
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.environment import PRODUCTS

TIMEOUT = 10.0
ENDPOINTS = ("POST /orders", "GET /orders/{id}")


@dataclass
class Samples:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {e: [] for e in ENDPOINTS})
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ENDPOINTS, 0))
    # What the errors were: an HTTP status, or the client-side exception's name.
    reasons: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    elapsed: float = 0.0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values, so a missing number is never a zero."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summarize(samples: Samples, cpu_seconds: float, offered_rps: float | None) -> dict[str, Any]:
    """Throughput, latency percentiles (ms) and errors per endpoint and overall."""
    result: dict[str, Any] = {"offered_rps": offered_rps, "duration_s": samples.elapsed}
    completed = 0
    for endpoint in ENDPOINTS:
        ok = samples.latencies[endpoint]
        completed += len(ok)
        result[endpoint] = {
            "throughput_rps": len(ok) / samples.elapsed,
            "p50_ms": percentile(ok, 50) * 1000,
            "p95_ms": percentile(ok, 95) * 1000,
            "p99_ms": percentile(ok, 99) * 1000,
            "errors": samples.errors[endpoint],
        }
    everything = [x for e in ENDPOINTS for x in samples.latencies[e]]
    errors = sum(samples.errors.values())
    result["all"] = {
        "throughput_rps": completed / samples.elapsed,
        "p50_ms": percentile(everything, 50) * 1000,
        "p95_ms": percentile(everything, 95) * 1000,
        "p99_ms": percentile(everything, 99) * 1000,
        "errors": errors,
        "error_rate": errors / max(1, completed + errors),
        "error_reasons": dict(samples.reasons),
    }
    result["cpu_s_per_request"] = cpu_seconds / max(1, completed)
    return result


class Workload:
    def __init__(self, base_url: str, order_ids: list[str], get_share: float = 0.5) -> None:
        self.base_url = base_url
        self.order_ids = order_ids
        self.get_share = get_share
        self.random = random.Random(42)

    def next(self) -> tuple[str, str, dict[str, Any]]:
        """(endpoint, path, httpx request arguments) of the next request."""
        if self.order_ids and self.random.random() < self.get_share:
            order_id = self.random.choice(self.order_ids)
            return ENDPOINTS[1], f"/orders/{order_id}", {"method": "GET"}
        skus = self.random.sample(range(1, PRODUCTS + 1), self.random.choice((1, 2)))
        body = {
            "customer_id": f"bench-{self.random.randrange(1000)}",
            "items": [{"sku": f"SKU-{n:05d}", "quantity": 1} for n in skus],
        }
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        return ENDPOINTS[0], "/orders", {"method": "POST", "json": body, "headers": headers}


def _client(connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(timeout=TIMEOUT, limits=limits)


async def _send(
    client: httpx.AsyncClient,
    base_url: str,
    request: tuple[str, str, dict[str, Any]],
    due: float,
    samples: Samples,
) -> None:
    endpoint, path, kwargs = request
    method = kwargs.pop("method")
    try:
        response = await client.request(method, base_url + path, **kwargs)
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
    samples.errors[ENDPOINTS[0]] += lost  # cancelled at the deadline
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


async def create_orders(base_url: str, count: int) -> list[str]:
    """Orders for the GETs to read, created before any measurement."""
    workload = Workload(base_url, [], get_share=0.0)
    async with _client(10) as client:

        async def one() -> str:
            _, path, kwargs = workload.next()
            response = await client.request(kwargs.pop("method"), base_url + path, **kwargs)
            response.raise_for_status()
            return str(response.json()["id"])

        return list(await asyncio.gather(*(one() for _ in range(count))))


def run_open(
    cpu_seconds: Callable[[], float], workload: Workload, rate: float, duration: float
) -> dict[str, Any]:
    """One open-loop step, summarized with the services' CPU time it cost."""
    return _measure(cpu_seconds, open_loop(workload, rate, duration), rate)


def run_closed(
    cpu_seconds: Callable[[], float], workload: Workload, clients: int, duration: float
) -> dict[str, Any]:
    """One closed-loop run, summarized with the services' CPU time it cost."""
    return _measure(cpu_seconds, closed_loop(workload, clients, duration), None)


def _measure(
    cpu_seconds: Callable[[], float], run: Coroutine[Any, Any, Samples], offered: float | None
) -> dict[str, Any]:
    before, own_before = cpu_seconds(), time.process_time()
    samples = asyncio.run(run)
    result = summarize(samples, cpu_seconds() - before, offered)
    # The generator shares the 2 cores with the services: what it costs is reported too.
    result["loadgen_cpu_s_per_request"] = (time.process_time() - own_before) / max(1, samples.sent)
    return result
