"""Database telemetry against a real PostgreSQL: a span per statement named by its query
summary, parameter-free query text, a duration per statement sampled or not, errors, and
the pool's usage read at collection."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Sampler
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from inventory.stock import LEVELS
from shopkit import db_telemetry
from shopkit.db import Database
from tests.support.metrics import collected


class Telemetry:
    def __init__(self, sampler: Sampler) -> None:
        self.spans = InMemorySpanExporter()
        self.metrics = InMemoryMetricReader()
        self.tracer_provider = TracerProvider(sampler=sampler)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.meter_provider = MeterProvider(metric_readers=[self.metrics])

    def points(self, metric: str) -> list[tuple[dict[str, Any], Any]]:
        return [
            (dict(point.attributes or {}), point) for _, _, point in collected(self.metrics, metric)
        ]


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url, pool_size=2, max_overflow=0)
    yield engine
    await engine.dispose()


async def test_a_statement_is_a_span_named_by_its_summary_without_values(
    engine: AsyncEngine, database_url: str
) -> None:
    telemetry = Telemetry(ALWAYS_ON)
    db_telemetry.instrument(engine.sync_engine, telemetry.tracer_provider, telemetry.meter_provider)
    tracer = telemetry.tracer_provider.get_tracer("test")

    with tracer.start_as_current_span("GET /stock/{sku}", kind=SpanKind.SERVER) as server:
        async with Database(engine).statement() as connection:
            await connection.execute(LEVELS, {"skus": ["SKU-SECRET"]})

    [query] = [s for s in telemetry.spans.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert query.name == "SELECT inventory.stock"
    assert query.parent is not None
    assert query.parent.span_id == server.get_span_context().span_id
    attributes = dict(query.attributes or {})
    url = make_url(database_url)
    assert attributes.pop("db.query.text").startswith("SELECT inventory.stock.sku")
    assert attributes == {
        "db.system.name": "postgresql",
        "db.namespace": url.database,
        "server.address": url.host,
        "server.port": url.port,
        "db.operation.name": "SELECT",
        "db.collection.name": "inventory.stock",
        "db.query.summary": "SELECT inventory.stock",
    }
    assert "SKU-SECRET" not in str(query.to_json())
    assert "$1" in str(query.attributes["db.query.text"])  # type: ignore[index]

    [(labels, point)] = telemetry.points("db.client.operation.duration")
    assert labels == {
        "db.system.name": "postgresql",
        "db.operation.name": "SELECT",
        "db.collection.name": "inventory.stock",
        "db.query.summary": "SELECT inventory.stock",
    }
    assert point.count == 1
    # The duration links to the trace that was sampled.
    assert [e.trace_id for e in point.exemplars] == [server.get_span_context().trace_id]


async def test_unsampled_statements_make_no_span_and_are_still_timed(engine: AsyncEngine) -> None:
    telemetry = Telemetry(ALWAYS_OFF)
    db_telemetry.instrument(engine.sync_engine, telemetry.tracer_provider, telemetry.meter_provider)

    for _ in range(3):
        async with Database(engine).statement() as connection:
            await connection.execute(LEVELS, {"skus": ["SKU-00001"]})

    assert telemetry.spans.get_finished_spans() == ()
    [(labels, point)] = telemetry.points("db.client.operation.duration")
    assert labels["db.query.summary"] == "SELECT inventory.stock"
    assert point.count == 3


async def test_a_failed_statement_is_an_error_span_and_a_timed_error(engine: AsyncEngine) -> None:
    telemetry = Telemetry(ALWAYS_ON)
    db_telemetry.instrument(engine.sync_engine, telemetry.tracer_provider, telemetry.meter_provider)

    with pytest.raises(DBAPIError):
        async with Database(engine).statement() as connection:
            await connection.execute(text("SELECT 1 / 0 FROM inventory.stock"))

    [query] = telemetry.spans.get_finished_spans()
    assert query.name == "SELECT inventory.stock"
    assert query.status.status_code is StatusCode.ERROR
    error_type = dict(query.attributes or {})["error.type"]
    assert "Error" in str(error_type)
    [(labels, point)] = telemetry.points("db.client.operation.duration")
    assert (labels["error.type"], point.count) == (error_type, 1)


async def test_pool_usage_is_read_from_the_pool(engine: AsyncEngine) -> None:
    telemetry = Telemetry(ALWAYS_OFF)
    db_telemetry.instrument(engine.sync_engine, telemetry.tracer_provider, telemetry.meter_provider)

    def usage() -> dict[str, int]:
        return {
            labels["state"]: point.value
            for labels, point in telemetry.points("db.client.connections.usage")
        }

    async with engine.connect() as first, engine.connect() as second:
        await first.execute(text("SELECT 1"))
        await second.execute(text("SELECT 1"))
        assert usage() == {"used": 2, "idle": 0}
    assert usage() == {"used": 0, "idle": 2}
