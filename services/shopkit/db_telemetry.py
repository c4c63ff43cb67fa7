"""Database telemetry: one client span and one duration per statement, and the pool's usage.

This replaces opentelemetry-instrumentation-sqlalchemy (0.66b1) for the services, for what
it cost and what it named (docs/benchmarks.md, "Telemetry that costs what it should"):

- Span names. The instrumentation names a span after the statement's first word and puts the
  same string in `db.operation.name` (open-telemetry/opentelemetry-python-contrib#5042), so a
  waterfall showed `SELECT`, `INSERT` and `WITH` and nobody could tell which table a slow
  query touched. The stable database conventions name it by the query summary (its
  operations and the tables they touch, in order: `SELECT orders.orders orders.order_lines`).
  The services run a handful of statements built once, so the summary is computed once per
  statement text and looked up afterwards.
- Cost for spans nobody records. The instrumentation parses the engine's URL, reads the
  cursor's connection, strips comments with a regular expression and builds the attribute
  dicts for every statement, and attaches the span to the context around nothing, before it
  knows whether the span is sampled. Here the attributes are built once per statement and
  handed to `start_span`, which copies them only for a sampled span (and lets a sampler read
  them, open-telemetry/opentelemetry-python-contrib#3563).
- Pool usage. `db.client.connections.usage` was an up-down counter added to four times per
  transaction (checkout and checkin, `idle` and `used`), each add a lock and an exemplar
  offer. It is now read from the pool when metrics are collected: the same series, nothing
  per request.

`db.query.text` is the statement SQLAlchemy sends, with its placeholders (`$1`), never values.
"""

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, Observation
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer, TracerProvider
from opentelemetry.util.types import AttributeValue
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import QueuePool

# Latency buckets in seconds, fine-grained where queries live.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# db.query.summary: at most 255 characters (the conventions' limit).
SUMMARY_LIMIT = 255
# A service runs a few statements, each built once; the bound only guards against code that
# builds SQL text per call, which would otherwise grow the cache without end.
CACHED_STATEMENTS = 512

_OPERATIONS = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "MERGE"})
# Words that announce a table: `FROM t`, `JOIN t`, `INTO t` (and `UPDATE t`, an operation).
_TARGET_MARKERS = frozenset({"FROM", "JOIN", "INTO"})
# `SELECT ... FOR UPDATE`, `FOR NO KEY UPDATE`, `ON CONFLICT DO UPDATE` lock or resolve
# rows; they are not a further operation.
_NOT_AN_OPERATION_AFTER = frozenset({"FOR", "KEY", "DO"})
# Words that end a `FROM a, b` list (an alias is any other word).
_CLAUSES = frozenset(
    {
        "WHERE",
        "GROUP",
        "ORDER",
        "HAVING",
        "LIMIT",
        "OFFSET",
        "RETURNING",
        "ON",
        "USING",
        "WINDOW",
        "UNION",
        "EXCEPT",
        "INTERSECT",
        "FOR",
        "SET",
        "VALUES",
        "FETCH",
    }
)
_TOKEN = re.compile(
    r"""
    '(?:[^']|'')*'                                   # a string literal: skipped
    | /\*.*?\*/ | --[^\n]*                           # comments: skipped
    | (?P<name>(?:[A-Za-z_][\w$]*|"(?:[^"]|"")+")    # a word or a quoted name, dotted
               (?:\.(?:[A-Za-z_][\w$]*|"(?:[^"]|"")+"))*)
    | (?P<punct>[(),])
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class QuerySummary:
    """What the conventions derive from a statement's text: its first operation and table,
    and the summary (every operation and the tables it touches, in order)."""

    operation: str | None
    collection: str | None
    summary: str | None


def summarize(statement: str) -> QuerySummary:
    """The query summary of one SQL statement, as the stable database conventions describe
    it: `INSERT shipping_details SELECT orders`. The names of common table expressions
    (`WITH claim AS (...)`) and of functions (`unnest(...)`) are not tables and are left out;
    a statement with no operation the conventions know (`BEGIN`) is summarized by its first
    word."""
    tokens = [
        (m["name"], m["punct"]) for m in _TOKEN.finditer(statement) if m["name"] or m["punct"]
    ]
    words = [(name or punct or "") for name, punct in tokens]
    upper = [word.upper() for word in words]
    # `WITH name AS (`, `, name AS (`: names of common table expressions.
    ctes = {
        words[i]
        for i in range(1, len(words) - 1)
        if upper[i - 1] in ("WITH", "RECURSIVE", ",") and upper[i + 1] == "AS"
    }
    parts: list[str] = []
    operation = collection = None
    targets: list[str] = []  # of the current operation, to leave out a self-join's repeats
    depth = operation_depth = 0
    expect = None  # the word that announced a table: FROM, JOIN, INTO, UPDATE
    table_list = False  # in `FROM a, b`, where a comma announces the next table
    for i, (name, punct) in enumerate(tokens):
        if punct:
            if punct == "," and table_list and depth == operation_depth:
                expect = "FROM"
                continue
            depth += {"(": 1, ")": -1}.get(punct, 0)
            table_list = table_list and depth >= operation_depth
            expect = None
            continue
        word = upper[i]
        previous = upper[i - 1] if i else ""
        if word in _OPERATIONS and previous not in _NOT_AN_OPERATION_AFTER:
            parts.append(word)
            operation = operation or word
            targets, operation_depth = [], depth
            expect, table_list = ("UPDATE" if word == "UPDATE" else None), False
        elif word in _TARGET_MARKERS and depth == operation_depth:
            expect, table_list = word, word == "FROM"
        elif expect is not None and word in ("LATERAL", "ONLY"):
            continue
        elif expect is not None:
            # `INTO t (a, b)` lists columns; after FROM or JOIN, `f(...)` is a function.
            is_call = expect in _TARGET_MARKERS and expect != "INTO" and i + 1 < len(words)
            is_call = is_call and words[i + 1] == "("
            if name not in ctes and not is_call and name not in targets:
                targets.append(name)
                parts.append(name)
                collection = collection or name
            expect = None
        elif word in _CLAUSES:
            table_list = False
    if not parts:
        first = upper[0] if upper and tokens[0][0] else None
        return QuerySummary(first, None, first)
    summary = " ".join(parts)
    if len(summary) > SUMMARY_LIMIT:
        summary = summary[:SUMMARY_LIMIT].rsplit(" ", 1)[0]
    return QuerySummary(operation, collection, summary)


class StatementTelemetry:
    """The listeners of one engine: a client span and a `db.client.operation.duration` per
    statement, with the attributes of each statement text computed once."""

    def __init__(self, engine: Engine, tracer: Tracer, meter: Meter) -> None:
        url = engine.url
        self.system = "postgresql" if engine.dialect.name == "postgresql" else engine.dialect.name
        self.connection: dict[str, AttributeValue] = {"db.system.name": self.system}
        if url.database:
            self.connection["db.namespace"] = url.database
        if url.host:
            self.connection["server.address"] = url.host
        if url.port:
            self.connection["server.port"] = url.port
        self.tracer = tracer
        self.duration = meter.create_histogram(
            "db.client.operation.duration",
            unit="s",
            description="Duration of database client operations",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        # statement text -> (span name, span attributes, metric attributes)
        self._statements: dict[str, tuple[str, dict[str, AttributeValue], dict[str, Any]]] = {}
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        event.listen(engine, "handle_error", self._error)

    def _describe(self, statement: str) -> tuple[str, dict[str, AttributeValue], dict[str, Any]]:
        found = self._statements.get(statement)
        if found is not None:
            return found
        query = summarize(statement)
        span_attributes: dict[str, AttributeValue] = {
            **self.connection,
            "db.query.text": statement,
        }
        metric_attributes: dict[str, Any] = {"db.system.name": self.system}
        for key, value in (
            ("db.operation.name", query.operation),
            ("db.collection.name", query.collection),
            ("db.query.summary", query.summary),
        ):
            if value is not None:
                span_attributes[key] = value
                metric_attributes[key] = value
        described = (query.summary or self.system, span_attributes, metric_attributes)
        if len(self._statements) < CACHED_STATEMENTS:
            self._statements[statement] = described
        return described

    def _before(
        self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        if context is None:
            # SQLAlchemy's events may pass none: then there is nowhere to keep the span until
            # the statement ends, and the statement goes untraced.
            return
        name, attributes, metric_attributes = self._describe(statement)
        span = self.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
        context._shopkit_statement = (span, metric_attributes, time.perf_counter())

    def _after(
        self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        started = getattr(context, "_shopkit_statement", None) if context is not None else None
        if started is not None:
            span, attributes, start = started
            context._shopkit_statement = None
            # Recorded inside the caller's span: a sampled trace becomes the exemplar.
            self.duration.record(time.perf_counter() - start, attributes)
            span.end()

    def _error(self, exception_context: Any) -> None:
        context = exception_context.execution_context
        started = getattr(context, "_shopkit_statement", None) if context is not None else None
        if started is None:
            return
        span, attributes, start = started
        context._shopkit_statement = None
        error_type = type(exception_context.original_exception).__qualname__
        self.duration.record(time.perf_counter() - start, {**attributes, "error.type": error_type})
        if span.is_recording():
            span.set_attribute("error.type", error_type)
            span.set_status(Status(StatusCode.ERROR, str(exception_context.original_exception)))
        span.end()


def observe_pool_usage(engine: Engine, meter: Meter) -> None:
    """`db.client.connections.usage{pool.name, state}`, as the SQLAlchemy instrumentation
    names it (the database dashboard reads it), read from the pool at each collection."""
    pool = engine.pool
    if not isinstance(pool, QueuePool):  # asyncpg's pool is a QueuePool; others count nothing
        return
    name = pool.logging_name or (
        f"{engine.url.drivername}://{engine.url.host or ''}:{engine.url.port or ''}"
        f"/{engine.url.database or ''}"
    )
    used = {"pool.name": name, "state": "used"}
    idle = {"pool.name": name, "state": "idle"}

    def usage(options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(pool.checkedout(), used), Observation(pool.checkedin(), idle)]

    meter.create_observable_up_down_counter(
        "db.client.connections.usage",
        callbacks=[usage],
        unit="connections",
        description="The number of connections that are currently in state described by the "
        "state attribute.",
    )


def instrument(
    engine: Engine, tracer_provider: TracerProvider | None, meter_provider: MeterProvider | None
) -> StatementTelemetry:
    """Spans and durations for every statement of `engine` (the sync engine under an async
    one), and its pool's usage."""
    tracer = trace.get_tracer("shopkit.db", tracer_provider=tracer_provider)
    meter = metrics.get_meter("shopkit.db", meter_provider=meter_provider)
    observe_pool_usage(engine, meter)
    return StatementTelemetry(engine, tracer, meter)
