"""Server spans and HTTP server metrics of our own (shopkit.server_telemetry) are FastAPI's own:
the same requests through an app with FastAPI's telemetry (0.165) and through the services' app
give the same spans (name, kind, attributes, status) and the same metric series (name, unit,
description, buckets, attributes, counts), but for what the module says differs: the
instrumentation scope and `url.query`. Health probes make neither, and the duration's
exemplar names the request's trace.
"""

from typing import Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from shopkit import health
from shopkit.app import ServiceApp
from shopkit.server_telemetry import SCOPE
from shopkit.telemetry import Telemetry
from tests.support.metrics import collected

# (method, path, headers): found, a path parameter and a query string, a route that does not
# allow the method, no route, an exception, an HTTP error, an unknown method, Host headers with
# and without a port, IPv6, malformed, and a probe.
REQUESTS: list[tuple[str, str, dict[str, str]]] = [
    ("GET", "/items/1?customer_id=alice", {}),
    ("GET", "/items/2", {"host": "shop.example.com"}),
    ("GET", "/items/3", {"host": "[::1]:8443"}),
    ("GET", "/items/4", {"host": "bad host:port"}),
    ("GET", "/items/5", {"host": "user@host"}),
    ("POST", "/items/1", {}),
    ("GET", "/missing", {}),
    ("GET", "/boom", {}),
    ("GET", "/unavailable", {}),
    ("PURGE", "/items/1", {}),
    ("GET", "/healthz", {}),
]


class Recorded:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.metrics = InMemoryMetricReader()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.meter_provider = MeterProvider(metric_readers=[self.metrics])

    def server_spans(self) -> list[tuple[Any, ...]]:
        return sorted(
            (span.name, span.kind, _attributes(span), span.status.status_code)
            for span in self.spans.get_finished_spans()
        )

    def series(self, name: str) -> list[tuple[Any, ...]]:
        return sorted(
            (
                metric.unit,
                metric.description,
                tuple(sorted((point.attributes or {}).items())),
                point.count if isinstance(point, HistogramDataPoint) else point.value,
                tuple(point.explicit_bounds) if isinstance(point, HistogramDataPoint) else (),
            )
            for _, metric, point in collected(self.metrics, name)
        )

    def scopes(self) -> set[str]:
        data = self.metrics.get_metrics_data()
        assert data is not None
        metrics = {
            scope.scope.name
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
        }
        spans = self.spans.get_finished_spans()
        return metrics | {s.instrumentation_scope.name for s in spans if s.instrumentation_scope}


def _attributes(span: ReadableSpan) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, v) for k, v in (span.attributes or {}).items() if k != "url.query"))


def routes(app: FastAPI) -> FastAPI:
    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    @app.get("/unavailable")
    async def unavailable() -> None:
        raise HTTPException(503)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {}

    return app


async def send_all(app: Any) -> list[int]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8001") as client:
        return [
            (await client.request(method, path, headers=headers)).status_code
            for method, path, headers in REQUESTS
        ]


def fastapis(recorded: Recorded) -> FastAPI:
    return routes(
        FastAPI(
            telemetry={
                "tracer_provider": recorded.tracer_provider,
                "meter_provider": recorded.meter_provider,
                "logs": False,
                "operation_spans": False,
                "exclude": lambda scope: scope["path"] in health.PATHS,
            }
        )
    )


def ours(recorded: Recorded) -> FastAPI:
    telemetry = Telemetry(recorded.tracer_provider, recorded.meter_provider)
    return routes(ServiceApp(admission=None, telemetry=telemetry, trusted_callers=True))


@pytest.fixture
def both() -> tuple[Recorded, Recorded]:
    return Recorded(), Recorded()


async def test_the_same_spans_and_metrics_as_fastapis_own(both: tuple[Recorded, Recorded]) -> None:
    reference, shop = both
    answers = await send_all(fastapis(reference))
    assert answers == [200, 200, 200, 200, 200, 405, 404, 500, 503, 405, 200]
    assert await send_all(ours(shop)) == answers

    spans = shop.server_spans()
    assert spans == reference.server_spans()
    names = [name for name, kind, _, _ in spans if kind is SpanKind.SERVER]
    assert sorted(names) == sorted(
        ["GET /items/{item_id}"] * 5
        + ["POST /items/{item_id}", "GET", "GET /boom", "GET /unavailable", "HTTP /items/{item_id}"]
    )
    errors = {dict(attributes).get("error.type") for _, _, attributes, _ in spans}
    assert errors == {None, "RuntimeError", "503"}
    for name in ("http.server.request.duration", "http.server.active_requests"):
        assert shop.series(name) == reference.series(name), name
    assert sum(point[3] for point in shop.series("http.server.request.duration")) == 10
    assert shop.scopes() == {SCOPE}


async def test_no_query_string_and_an_exemplar_of_the_request(
    both: tuple[Recorded, Recorded],
) -> None:
    _, shop = both
    transport = httpx.ASGITransport(app=ours(shop))
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
        assert (await client.get("/items/1?customer_id=alice")).status_code == 200

    [span] = shop.spans.get_finished_spans()
    assert span.attributes is not None and span.context is not None
    assert (span.attributes["url.path"], "url.query" in span.attributes) == ("/items/1", False)
    [(_, _, point)] = collected(shop.metrics, "http.server.request.duration")
    assert isinstance(point, HistogramDataPoint)
    [exemplar] = point.exemplars
    assert (exemplar.trace_id, exemplar.span_id) == (span.context.trace_id, span.context.span_id)
