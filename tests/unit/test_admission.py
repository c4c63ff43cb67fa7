"""Admission control in front of an app whose requests are held until the test lets them go.

The middleware runs as in the services (shopkit.app adds it), on an ASGI app of its own: what
is measured is admission, not the shop.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Message

from shopkit import deadlines
from shopkit.admission import Admission, AdmissionControl, Shed
from shopkit.app import ServiceApp
from shopkit.telemetry import Telemetry
from tests.support.metrics import collected


class Held:
    """The app's business route waits for `release`; /healthz never does."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = 0
        self.bodies: list[bytes] = []
        self.budgets: list[float | None] = []

    async def business(self, request: Request) -> JSONResponse:
        self.started += 1
        self.budgets.append(deadlines.remaining())
        self.bodies.append(await request.body())
        await self.release.wait()
        return JSONResponse({"ok": True})

    async def healthz(self, request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})


def _client(held: Held, admission: Admission) -> httpx.AsyncClient:
    app = Starlette(
        routes=[
            Route("/work", held.business, methods=["GET", "POST"]),
            Route("/healthz", held.healthz),
        ]
    )
    app.add_middleware(
        AdmissionControl,
        admission=admission,
        request_timeout_seconds=5.0,
        exempt=frozenset({"/healthz"}),
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop")


@pytest.fixture
def held() -> Held:
    return Held()


async def _until(condition: object, what: str) -> None:
    deadline = time.monotonic() + 2
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.001)


@pytest.fixture
async def two_slots_one_seat(held: Held) -> AsyncIterator[tuple[httpx.AsyncClient, Admission]]:
    admission = Admission(max_in_flight=2, max_queued=1, queue_timeout_seconds=5)
    async with _client(held, admission) as client:
        yield client, admission


async def test_the_excess_is_refused_at_once_and_the_queue_served_in_turn(
    held: Held, two_slots_one_seat: tuple[httpx.AsyncClient, Admission]
) -> None:
    client, admission = two_slots_one_seat
    running = [asyncio.create_task(client.get("/work")) for _ in range(2)]
    await _until(lambda: held.started == 2, "two requests running")
    queued = asyncio.create_task(client.post("/work", content=b"kept while queued"))
    await _until(lambda: admission.queued == 1, "one request queued")

    started = time.monotonic()
    refused = await client.get("/work")
    assert time.monotonic() - started < 0.1
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["reason"] == "queue_full"
    # The probes do not wait behind the business requests.
    assert (await client.get("/healthz")).status_code == 200
    assert held.started == 2

    held.release.set()
    answers = await asyncio.gather(*running, queued)
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert held.bodies[2] == b"kept while queued"  # read while it waited, replayed to the app
    assert (admission.in_flight, admission.queued) == (0, 0)
    assert admission.refused == {Shed.QUEUE_FULL: 1}  # shop.requests.shed


async def test_a_request_waits_no_longer_than_the_queue_timeout(held: Held) -> None:
    admission = Admission(max_in_flight=1, max_queued=4, queue_timeout_seconds=0.05)
    async with _client(held, admission) as client:
        running = asyncio.create_task(client.get("/work"))
        await _until(lambda: held.started == 1, "one request running")
        started = time.monotonic()
        refused = await client.get("/work")
        waited = time.monotonic() - started
        held.release.set()
        assert (await running).status_code == 200
    assert refused.status_code == 503 and refused.json()["reason"] == "queue_timeout"
    assert 0.05 <= waited < 0.5
    assert held.started == 1
    assert (admission.in_flight, admission.queued) == (0, 0)
    assert admission.refused == {Shed.QUEUE_TIMEOUT: 1}


async def test_the_callers_budget_bounds_the_request_and_a_spent_one_is_not_started(
    held: Held,
) -> None:
    held.release.set()
    admission = Admission(max_in_flight=1, max_queued=1, queue_timeout_seconds=1)
    async with _client(held, admission) as client:
        answered = await client.get("/work", headers={deadlines.HEADER: "1500"})
        ours = await client.get("/work", headers={deadlines.HEADER: "60000"})
        spent = await client.get("/work", headers={deadlines.HEADER: "0"})
    assert answered.status_code == 200 and ours.status_code == 200
    first, second = held.budgets
    assert first is not None and 1.4 < first <= 1.5
    assert second is not None and 4.9 < second <= 5.0  # capped by the service's own
    assert spent.status_code == 504
    assert spent.json()["type"].endswith("/deadline-exceeded")
    assert held.started == 2
    assert admission.refused == {Shed.DEADLINE: 1}


async def test_a_queued_request_whose_client_goes_away_is_dropped(held: Held) -> None:
    """Driven as the server drives it: the second request's client disconnects while queued."""
    admission = Admission(max_in_flight=1, max_queued=4, queue_timeout_seconds=5)
    app = Starlette(routes=[Route("/work", held.business, methods=["POST"])])
    middleware = AdmissionControl(app, admission, 5.0, frozenset())
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/work",
        "raw_path": b"/work",
        "query_string": b"",
        "headers": [],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 1),
        "root_path": "",
    }

    def client(gone: asyncio.Event) -> tuple[Any, Any, list[Message]]:
        body_sent = False
        sent: list[Message] = []

        async def receive() -> Message:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": b"x", "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            sent.append(message)

        return receive, send, sent

    first_gone, second_gone = asyncio.Event(), asyncio.Event()
    receive, send, first_sent = client(first_gone)
    first = asyncio.create_task(middleware(dict(scope), receive, send))
    await _until(lambda: held.started == 1, "the first request running")
    receive, send, second_sent = client(second_gone)
    second = asyncio.create_task(middleware(dict(scope), receive, send))
    await _until(lambda: admission.queued == 1, "the second request queued")

    second_gone.set()
    await asyncio.wait_for(second, 1)
    assert admission.queued == 0 and second_sent == []  # dropped, nobody to answer
    held.release.set()
    await asyncio.wait_for(first, 1)
    assert first_sent[0]["status"] == 200
    assert held.started == 1  # the dropped request never ran
    assert admission.in_flight == 0
    assert admission.refused == {Shed.CLIENT_GONE: 1}


async def test_the_gate_refuses_the_excess_before_the_server_telemetry_sees_it(
    held: Held,
) -> None:
    """With no slot and no place in the queue left, a request is refused in front of FastAPI
    (shopkit.app.ServiceApp): no server span, no HTTP metrics, the same 503. The admitted
    request has both, and the probes still pass."""
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    telemetry = Telemetry(tracer_provider, MeterProvider(metric_readers=[reader]))
    admission = Admission(max_in_flight=1, max_queued=0, queue_timeout_seconds=5)
    app = ServiceApp(admission=admission, telemetry=telemetry)
    app.add_api_route("/work", held.business, methods=["GET"])
    app.add_api_route("/healthz", held.healthz)
    app.add_middleware(
        AdmissionControl,
        admission=admission,
        request_timeout_seconds=5.0,
        exempt=frozenset({"/healthz"}),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
        running = asyncio.create_task(client.get("/work"))
        await _until(lambda: held.started == 1, "one request running")
        assert admission.full

        refused = await client.get("/work")
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json() == {
            "type": "https://shop.example.com/problems/overloaded",
            "title": "Service overloaded",
            "status": 503,
            "detail": "too many requests in progress; retry after the delay Retry-After gives",
            "reason": "queue_full",
            "instance": "/work",
        }
        assert (await client.get("/healthz")).status_code == 200
        held.release.set()
        assert (await running).status_code == 200
    assert held.started == 1
    assert admission.refused == {Shed.QUEUE_FULL: 1}  # counted, though not by the telemetry

    server = [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert [(s.name, (s.attributes or {}).get("http.response.status_code")) for s in server] == [
        ("GET /work", 200)
    ]
    counted = [
        (dict(point.attributes or {}).get("http.response.status_code"), point.count)
        for _, _, point in collected(reader, "http.server.request.duration")
        if isinstance(point, HistogramDataPoint)
    ]
    assert counted == [(200, 1)]
