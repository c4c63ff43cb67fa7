"""Admission control as an operator sees it, through the real Collector, Jaeger and Prometheus.

A pricing service admitting one request at a time, with one place in its queue, every request
slowed by the slow-dependency scenario: of three requests sent at once, one runs, one waits
for it and one is refused at the gate. The refusal is counted in shop_requests_shed_total
and has no span; the request that waited shows its wait as an `await-admission` span.
"""

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.stack.processes import wait_for
from devtools.stack.services import Services
from devtools.stack.telemetry import Telemetry
from tests.support.shop import new_product
from tests.support.telemetry import jaeger, promql, settled_traces

SERVICE = "pricing-admission"  # its own service.name: its spans and series are the test's alone
HELD_MS = 1000  # how long each request runs (slow-dependency)


@pytest.fixture(scope="module")
def saturable(traced: Services, logs_dir: Path) -> Iterator[Services]:
    """A second pricing service on the traced stack's database, with room for two requests."""
    services = Services.on_free_ports(traced.database_url, traced.provider, logs_dir / "admission")
    services.env = dict(traced.env)
    services.service_env = {
        "pricing": {
            "OTEL_SERVICE_NAME": SERVICE,
            "ADMISSION_MAX_IN_FLIGHT": "1",
            "ADMISSION_MAX_QUEUED": "1",
            "ADMISSION_QUEUE_TIMEOUT_SECONDS": "5",
            "SCENARIOS": f'{{"slow-dependency": {{"enabled": true, "latency_ms": {HELD_MS}}}}}',
        }
    }
    services.start("pricing")
    yield services
    services.stop()


async def _three_at_once(url: str, path: str) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:

        async def get(delay: float) -> httpx.Response:
            await asyncio.sleep(delay)  # in this order: the first runs, the second queues
            return await client.get(path)

        return await asyncio.gather(get(0), get(0.2), get(0.4))


def test_a_refusal_at_the_gate_is_counted_and_an_admitted_wait_is_traced(
    traced: Services, saturable: Services, backends: Telemetry
) -> None:
    path = f"/prices/{new_product(traced)}"
    answers = asyncio.run(_three_at_once(saturable.url("pricing"), path))
    assert [a.status_code for a in answers] == [200, 200, 503], [a.text for a in answers]
    assert answers[2].json()["reason"] == "queue_full"

    def shed() -> float | None:
        query = f'sum(shop_requests_shed_total{{service_name="{SERVICE}", reason="queue_full"}})'
        found = promql(backends, query)
        return float(found[0]["value"][1]) if found else None

    assert wait_for("the refusal in shop_requests_shed_total", shed, 60) == 1.0

    def search() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = jaeger(backends, "/api/traces", service=SERVICE)["data"]
        return found

    # The two admitted requests are traced; the refused one is not. (Refused inside the
    # server telemetry, it had a trace of its own: a span named `GET`, status 503. The wait
    # for two traces would not see a third, so they are counted again once settled.)
    traces = settled_traces("the admitted requests' traces", search, 2)
    assert len(search()) == 2
    waits = []
    for trace in traces:
        names = {span["spanID"]: span["operationName"] for span in trace["spans"]}
        [server] = [s for s in trace["spans"] if names[s["spanID"]] == "GET /prices/{sku}"]
        tags = {tag["key"]: tag["value"] for tag in server["tags"]}
        assert tags["http.response.status_code"] == 200
        waits.append(tags["shop.admission.wait_s"])
        queued = [s for s in trace["spans"] if s["operationName"] == "await-admission"]
        assert len(queued) == (1 if tags["shop.admission.wait_s"] > 0.1 else 0), trace
    # The second waited for the first: about its run time less the 0.2 s it came later.
    assert sorted(waits)[0] < 0.05 and 0.5 < sorted(waits)[1] < HELD_MS / 1000 + 0.5, waits
