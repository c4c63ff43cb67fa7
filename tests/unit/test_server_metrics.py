"""`http.server.active_requests` read at collection (shopkit.server_metrics) reports what
FastAPI's own up-down counter reports: the same series, name, unit and values, in flight and
after, under the instrumentation scope of the services' server telemetry."""

from typing import Any

import httpx
from fastapi import FastAPI
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint, Sum
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shopkit.app import ServiceApp
from shopkit.server_metrics import ACTIVE_REQUESTS
from shopkit.server_telemetry import SCOPE
from shopkit.telemetry import setup_telemetry
from tests.support.metrics import collected

Series = list[tuple[Any, ...]]


def active_requests(reader: InMemoryMetricReader) -> Series:
    return sorted(
        (
            scope.scope.name,
            scope.scope.version,
            scope.scope.schema_url,
            metric.unit,
            metric.description,
            metric.data.is_monotonic,
            metric.data.aggregation_temporality,
            tuple(sorted((point.attributes or {}).items())),
            point.value,
        )
        for scope, metric, point in collected(reader, ACTIVE_REQUESTS)
        if isinstance(metric.data, Sum) and isinstance(point, NumberDataPoint)
    )


async def in_flight_and_after(app: FastAPI, reader: InMemoryMetricReader) -> tuple[Series, Series]:
    """The series read while two requests are in flight (the second one reads), and after."""
    during: Series = []

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        if item_id == 2:
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as inner:
                assert (await inner.get("/items/3")).status_code == 200
        if item_id == 3:
            during.extend(active_requests(reader))
        return {"id": item_id}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for path in ("/items/1", "/items/2"):
            assert (await client.get(path)).status_code == 200
    return during, active_requests(reader)


async def test_active_requests_reports_what_fastapis_counter_reports() -> None:
    ours = InMemoryMetricReader()
    telemetry = setup_telemetry("test", "0", InMemorySpanExporter(), ours)
    shop = await in_flight_and_after(ServiceApp(admission=None, telemetry=telemetry), ours)

    fastapis = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[fastapis])
    reference = FastAPI(telemetry={"tracing": False, "logs": False, "meter_provider": provider})
    expected = await in_flight_and_after(reference, fastapis)

    series = (("http.request.method", "GET"), ("url.scheme", "http"))
    assert [(point[-2], point[-1]) for point in shop[0]] == [(series, 2)], shop
    assert [(point[-2], point[-1]) for point in shop[1]] == [(series, 0)], shop
    assert {point[0] for points in shop for point in points} == {SCOPE}
    assert {point[0] for points in expected for point in points} == {"fastapi"}
    # The rest: unit, description, sum's kind and temporality, attributes, value.
    assert [[p[3:] for p in points] for points in shop] == [
        [p[3:] for p in points] for points in expected
    ]
    telemetry.shutdown()
    provider.shutdown()
