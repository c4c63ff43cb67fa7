"""One owner of server telemetry: one server span per request, one duration series per route.

shopkit.server_telemetry owns them, FastAPI's own telemetry is off
(shopkit.telemetry.FASTAPI_TELEMETRY_OFF). Were FastAPI's on too, or the ASGI
instrumentation added, a request would be traced and counted twice (two server spans, two
series of http.server.request.duration per route, under two instrumentation scopes). Health
probes make neither.
"""

import httpx
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from shopkit.app import ServiceApp
from shopkit.server_telemetry import SCOPE
from shopkit.telemetry import setup_telemetry
from tests.support.metrics import collected


async def test_a_request_makes_one_server_span_and_one_duration_series_per_route() -> None:
    spans, metrics = InMemorySpanExporter(), InMemoryMetricReader()
    telemetry = setup_telemetry("test", "0", span_exporter=spans, metric_reader=metrics)
    app = ServiceApp(admission=None, telemetry=telemetry)  # as shopkit.app.create_service_app

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {}

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.get("/other")
    async def other() -> dict[str, str]:
        return {}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for path in ("/items/1", "/items/2", "/items/3", "/other", "/healthz"):
            assert (await client.get(path)).status_code == 200
    assert telemetry.tracer_provider is not None
    telemetry.tracer_provider.force_flush()

    server = [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert sorted(s.name for s in server) == ["GET /items/{item_id}"] * 3 + ["GET /other"]

    series = [
        (scope.scope.name, dict(point.attributes or {}).get("http.route"), point.count)
        for scope, _, point in collected(metrics, "http.server.request.duration")
        if isinstance(point, HistogramDataPoint)
    ]
    assert sorted((route, count) for _, route, count in series) == [
        ("/items/{item_id}", 3),
        ("/other", 1),
    ], series
    assert {scope for scope, _, _ in series} == {SCOPE}, series
    telemetry.shutdown()
