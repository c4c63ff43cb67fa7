"""`python -m devtools traces analyze` on hand-built traces in Jaeger's JSON, shaped like ours.

Times are microseconds from the trace's start (Jaeger's unit), so the numbers read directly.
"""

import json
from collections.abc import Mapping
from datetime import timedelta
from itertools import count
from typing import Any
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from devtools import cli, traces
from devtools.traces import Call, PathStep

EPOCH_US = 1_700_000_000_000_000
ORDER, INVENTORY, PRICING = "order-service", "inventory-service", "pricing-service"


class TraceBuilder:
    """Spans in Jaeger's query API format; each method returns the span id to parent others on."""

    _ids = count(1)

    def __init__(self, trace_id: str = "trace-1") -> None:
        self.trace_id = trace_id
        self.spans: list[dict[str, Any]] = []
        self.processes: dict[str, dict[str, Any]] = {}

    def span(
        self,
        operation: str,
        start: int,
        duration: int,
        *,
        service: str = ORDER,
        parent: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> str:
        span_id = f"{next(self._ids):016x}"
        process_id = next(
            (p for p, v in self.processes.items() if v["serviceName"] == service),
            f"p{len(self.processes) + 1}",
        )
        self.processes[process_id] = {"serviceName": service, "tags": []}
        references = (
            [{"refType": "CHILD_OF", "traceID": self.trace_id, "spanID": parent}] if parent else []
        )
        self.spans.append(
            {
                "traceID": self.trace_id,
                "spanID": span_id,
                "operationName": operation,
                "references": references,
                "startTime": EPOCH_US + start,
                "duration": duration,
                "tags": [
                    {"key": key, "type": _jaeger_type(value), "value": value}
                    for key, value in (tags or {}).items()
                ],
                "logs": [],
                "processID": process_id,
            }
        )
        return span_id

    def server(
        self,
        route: str,
        start: int,
        duration: int,
        tags: Mapping[str, Any] | None = None,
        **kw: Any,
    ) -> str:
        server_tags = {"span.kind": "server", "http.route": route.split(" ", 1)[-1], **(tags or {})}
        return self.span(route, start, duration, tags=server_tags, **kw)

    def internal(
        self, name: str, start: int, duration: int, tags: Mapping[str, Any] | None = None, **kw: Any
    ) -> str:
        return self.span(
            name, start, duration, tags={"span.kind": "internal", **(tags or {})}, **kw
        )

    def query(
        self, sql: str, start: int, duration: int, tags: Mapping[str, Any] | None = None, **kw: Any
    ) -> str:
        db_tags = {
            "span.kind": "client",
            "db.system.name": "postgresql",
            "db.query.text": sql,
            **(tags or {}),
        }
        return self.span(sql.split()[0].upper(), start, duration, tags=db_tags, **kw)

    def call(
        self,
        method: str,
        url: str,
        start: int,
        duration: int,
        *,
        downstream: str | None = None,
        route: str | None = None,
        tags: Mapping[str, Any] | None = None,
        **kw: Any,
    ) -> str:
        """An httpx client span, and the server span it caused when `downstream` is given."""
        parts = urlsplit(url)
        client_tags = {
            "span.kind": "client",
            "http.request.method": method,
            "url.full": url,
            "server.address": parts.hostname,
            "server.port": parts.port,
            **(tags or {}),
        }
        client = self.span(method, start, duration, tags=client_tags, **kw)
        if downstream is not None:
            name = f"{method} {route or parts.path}"
            self.server(name, start + 1, duration - 2, service=downstream, parent=client)
        return client

    def build(self) -> dict[str, Any]:
        return {
            "traceID": self.trace_id,
            "spans": self.spans,
            "processes": self.processes,
            "warnings": None,
        }

    def parse(self) -> traces.Trace:
        return traces.parse_trace(self.build())


def _jaeger_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    return {int: "int64", float: "float64"}.get(type(value), "string")


FAILED = {"otel.status_code": "ERROR", "error": True}


def path_of(trace: traces.Trace) -> list[tuple[str, int]]:
    return [(step.operation, step.self_us) for step in traces.critical_path(trace)]


# --- a clean order, as our services trace it ---------------------------------------------------


def clean_order(trace_id: str = "clean") -> TraceBuilder:
    """POST /orders quoting prices and reserving stock concurrently, a handful of queries."""
    t = TraceBuilder(trace_id)
    root = t.server("POST /orders", 0, 10_000, {"http.response.status_code": 201})
    place = t.internal("place-order", 100, 9_800, parent=root)
    t.query(
        "INSERT INTO orders.idempotency_keys (key) VALUES ($1::VARCHAR)", 200, 300, parent=place
    )
    t.call("POST", "http://pricing:8000/quotes", 600, 3_000, parent=place, downstream=PRICING)
    t.call(
        "POST", "http://inventory:8000/reservations", 650, 4_000, parent=place, downstream=INVENTORY
    )
    persist = t.internal("persist-order", 5_000, 4_000, parent=place)
    for i, table in enumerate(("orders", "order_lines", "order_events")):
        t.query(
            f"INSERT INTO orders.{table} VALUES ($1, $2)", 5_100 + i * 1_000, 800, parent=persist
        )
    return t


def test_clean_trace_has_no_findings() -> None:
    report = traces.analyze([clean_order().parse()])

    assert (report.traces, report.failed_traces) == (1, 0)
    assert report.repeated_queries == []
    assert report.sequential_calls == []
    assert report.error_hotspots == []
    assert [s.trace_id for s in report.slowest] == ["clean"]


# --- critical path -----------------------------------------------------------------------------


def test_sequential_children_are_all_on_the_critical_path() -> None:
    t = TraceBuilder()
    root = t.internal("root", 0, 100)
    t.internal("a", 10, 30, parent=root)  # 10..40
    t.internal("b", 50, 40, parent=root)  # 50..90

    # root waits 0..10, 40..50 and 90..100 itself.
    assert path_of(t.parse()) == [("root", 30), ("a", 30), ("b", 40)]


def test_concurrent_children_only_the_last_to_finish_counts() -> None:
    t = TraceBuilder()
    root = t.internal("root", 0, 100)
    a = t.internal("a", 10, 70, parent=root)  # 10..80, the one root waited for
    t.internal("b", 10, 40, parent=root)  # 10..50, hidden behind a
    t.internal("a1", 20, 50, parent=a)  # 20..70

    path = traces.critical_path(t.parse())

    assert [(s.operation, s.self_us) for s in path] == [("root", 30), ("a", 20), ("a1", 50)]
    assert sum(step.self_us for step in path) == 100


def test_a_child_started_after_another_began_takes_over_the_wait() -> None:
    # b ends last; a was still running when b started, so nothing waited on a's end.
    t = TraceBuilder()
    root = t.internal("root", 0, 100)
    t.internal("a", 0, 60, parent=root)  # 0..60
    t.internal("b", 40, 50, parent=root)  # 40..90

    assert path_of(t.parse()) == [("root", 50), ("b", 50)]


def test_work_outliving_its_parent_counts_only_while_the_parent_waited() -> None:
    t = TraceBuilder()
    root = t.internal("root", 0, 100)
    t.internal("fire-and-forget", 50, 200, parent=root)

    assert path_of(t.parse()) == [("root", 50), ("fire-and-forget", 50)]


def test_critical_path_crosses_services_and_sums_self_time_by_service() -> None:
    trace = clean_order().parse()

    path = traces.critical_path(trace)
    by_service = traces.self_time_by_service(path)

    # Inventory's reservation ends last of the concurrent calls (650..4650); pricing is hidden.
    assert [(s.service, s.operation) for s in path] == [
        (ORDER, "POST /orders"),
        (ORDER, "place-order"),
        (ORDER, "INSERT"),
        (ORDER, "POST"),
        (INVENTORY, "POST /reservations"),
        (ORDER, "persist-order"),
        (ORDER, "INSERT"),
        (ORDER, "INSERT"),
        (ORDER, "INSERT"),
    ]
    assert sum(by_service.values()) == 10_000
    assert by_service[INVENTORY] == 3_998
    assert PRICING not in by_service


# --- N+1 queries -------------------------------------------------------------------------------


def order_detail_with_lookups(trace_id: str, lookups: int) -> TraceBuilder:
    """GET /orders/{id} reading stock one SKU at a time: the N+1 we want to catch."""
    t = TraceBuilder(trace_id)
    root = t.server("GET /stock/{sku}", 0, 5_000, service=INVENTORY)
    load = t.internal("load-stock", 10, 4_900, parent=root, service=INVENTORY)
    for i in range(lookups):
        t.query(
            f"SELECT inventory.stock.available \n  FROM inventory.stock\n"
            f"  WHERE inventory.stock.sku = $1::VARCHAR AND inventory.stock.warehouse = {i}",
            20 + i * 100,
            90,
            parent=load,
            service=INVENTORY,
        )
    return t


STOCK_SELECT = (
    "SELECT inventory.stock.available FROM inventory.stock"
    " WHERE inventory.stock.sku = ? AND inventory.stock.warehouse = ?"
)


def test_repeated_query_under_one_parent_is_an_n_plus_one() -> None:
    findings = traces.find_repeated_queries([order_detail_with_lookups("n1", 7).parse()], 5)

    assert len(findings) == 1
    found = findings[0]
    assert (found.service, found.parent_operation, found.statement) == (
        INVENTORY,
        "load-stock",
        STOCK_SELECT,
    )
    assert (found.traces, found.calls, found.max_calls, found.duration_us) == (1, 7, 7, 630)
    assert found.example_trace_id == "n1"


def test_repeats_below_the_threshold_are_not_reported() -> None:
    below = order_detail_with_lookups("few", 4).parse()
    at = order_detail_with_lookups("five", 5).parse()

    assert traces.find_repeated_queries([below], 5) == []
    assert [f.calls for f in traces.find_repeated_queries([at], 5)] == [5]


def test_n_plus_one_aggregates_across_traces_with_the_worst_as_example() -> None:
    batch = [order_detail_with_lookups(f"t{n}", n).parse() for n in (6, 9, 3)]

    [found] = traces.find_repeated_queries(batch, 5)

    assert (found.traces, found.calls, found.max_calls) == (2, 15, 9)
    assert found.example_trace_id == "t9"


def test_same_statement_under_different_parents_is_not_an_n_plus_one() -> None:
    t = TraceBuilder()
    root = t.server("GET /orders", 0, 1_000)
    for i in range(6):
        step = t.internal(f"step-{i}", i * 100, 90, parent=root)
        t.query("SELECT 1 FROM orders.orders WHERE id = $1", i * 100 + 1, 50, parent=step)

    assert traces.find_repeated_queries([t.parse()], 5) == []


@pytest.mark.parametrize(
    ("sql", "shape"),
    [
        ("SELECT  a\n\tFROM t   WHERE b = 1", "SELECT a FROM t WHERE b = ?"),
        (
            "SELECT a FROM t WHERE b = 'it''s' AND c = 2.5e3",
            "SELECT a FROM t WHERE b = ? AND c = ?",
        ),
        ("SELECT a FROM t WHERE b = $1::VARCHAR(32)", "SELECT a FROM t WHERE b = ?"),
        ("SELECT a FROM t WHERE b = %s AND c = %(c)s", "SELECT a FROM t WHERE b = ? AND c = ?"),
        ("SELECT a FROM t WHERE b = :b AND c = ?", "SELECT a FROM t WHERE b = ? AND c = ?"),
        ("SELECT a FROM t WHERE b IN ($1, $2, $3)", "SELECT a FROM t WHERE b IN (...)"),
        ("SELECT a FROM t WHERE b in (1,2)", "SELECT a FROM t WHERE b IN (...)"),
        ("SELECT t1.a::text FROM t1 /* it's */ -- x", "SELECT t1.a::text FROM t1"),
    ],
)
def test_statements_are_normalized_to_their_shape(sql: str, shape: str) -> None:
    assert traces.normalize_statement(sql) == shape


def test_in_lists_of_any_length_are_one_statement() -> None:
    t = TraceBuilder()
    parent = t.internal("get-prices", 0, 1_000)
    for n in range(1, 6):
        placeholders = ", ".join(f"${i}::VARCHAR" for i in range(1, n + 1))
        t.query(
            f"SELECT price FROM pricing.prices WHERE sku IN ({placeholders})",
            n * 100,
            50,
            parent=parent,
        )

    [found] = traces.find_repeated_queries([t.parse()], 5)

    assert found.statement == "SELECT price FROM pricing.prices WHERE sku IN (...)"


# --- calls made one after the other ------------------------------------------------------------


def fan_out(trace_id: str, *, concurrent: bool) -> TraceBuilder:
    t = TraceBuilder(trace_id)
    root = t.server("POST /orders", 0, 10_000)
    place = t.internal("place-order", 10, 9_900, parent=root)
    t.call("POST", "http://pricing:8000/quotes", 100, 2_000, parent=place, downstream=PRICING)
    second = 200 if concurrent else 2_200
    t.call(
        "POST",
        "http://inventory:8000/reservations",
        second,
        3_000,
        parent=place,
        downstream=INVENTORY,
    )
    return t


def test_calls_to_different_services_one_after_the_other_are_reported() -> None:
    [found] = traces.find_sequential_calls([fan_out("seq", concurrent=False).parse()])

    assert (found.service, found.parent_operation) == (ORDER, "place-order")
    assert found.calls == (
        Call(PRICING, "POST /quotes"),
        Call(INVENTORY, "POST /reservations"),
    )
    # 2000 + 3000 µs in a row; 3000 if they overlapped.
    assert (found.traces, found.lost_us, found.max_lost_us) == (1, 2_000, 2_000)
    assert found.example_trace_id == "seq"


def test_overlapping_calls_are_not_reported() -> None:
    assert traces.find_sequential_calls([fan_out("par", concurrent=True).parse()]) == []


def test_calls_to_the_same_service_one_after_the_other_are_not_reported() -> None:
    t = TraceBuilder()
    place = t.internal("place-order", 0, 1_000)
    t.call("POST", "http://inventory:8000/reservations", 0, 100, parent=place, downstream=INVENTORY)
    t.call(
        "DELETE",
        "http://inventory:8000/reservations/42",
        200,
        100,
        parent=place,
        downstream=INVENTORY,
        route="/reservations/{order_id}",
    )

    assert traces.find_sequential_calls([t.parse()]) == []


def test_without_a_server_span_the_downstream_is_the_address() -> None:
    # The pricing service's spans were sampled out or not exported: fall back to host:port.
    t = TraceBuilder()
    place = t.internal("place-order", 0, 1_000)
    t.call("POST", "http://pricing:8000/quotes", 0, 300, parent=place)
    t.call("POST", "http://inventory:8000/reservations", 300, 500, parent=place)

    [found] = traces.find_sequential_calls([t.parse()])

    assert found.calls == (Call("pricing:8000", "POST"), Call("inventory:8000", "POST"))
    assert found.lost_us == 300


def test_a_later_call_after_a_concurrent_wave_is_reported() -> None:
    t = TraceBuilder()
    place = t.internal("get-order", 0, 10_000)
    t.call(
        "GET",
        "http://inventory:8000/stock/SKU-1",
        0,
        1_000,
        parent=place,
        downstream=INVENTORY,
        route="/stock/{sku}",
    )
    t.call(
        "GET",
        "http://inventory:8000/stock/SKU-2",
        0,
        1_000,
        parent=place,
        downstream=INVENTORY,
        route="/stock/{sku}",
    )
    t.call(
        "GET",
        "http://pricing:8000/prices/SKU-1",
        1_000,
        500,
        parent=place,
        downstream=PRICING,
        route="/prices/{sku}",
    )

    [found] = traces.find_sequential_calls([t.parse()])

    # Wall time 1500 µs; inventory alone needs 1000 µs.
    assert found.lost_us == 500


# --- where failures start ----------------------------------------------------------------------


def out_of_stock(trace_id: str) -> TraceBuilder:
    """A failed reservation: the UPDATE fails in inventory and the error travels up."""
    t = TraceBuilder(trace_id)
    root = t.server("POST /orders", 0, 5_000, {"http.response.status_code": 500, **FAILED})
    place = t.internal("place-order", 10, 4_900, FAILED, parent=root)
    client = t.call(
        "POST", "http://inventory:8000/reservations", 100, 3_000, tags=FAILED, parent=place
    )
    server = t.server("POST /reservations", 110, 2_900, FAILED, service=INVENTORY, parent=client)
    reserve = t.internal("reserve-stock", 120, 2_800, FAILED, service=INVENTORY, parent=server)
    t.query(
        "SELECT available FROM inventory.stock WHERE sku = $1",
        130,
        100,
        service=INVENTORY,
        parent=reserve,
    )
    t.query(
        "UPDATE inventory.stock SET available = available - $1",
        300,
        100,
        FAILED,
        service=INVENTORY,
        parent=reserve,
    )
    # A later, shallower error in the caller (its rollback) is not where it started.
    t.internal("compensate-order", 3_200, 100, FAILED, parent=place)
    return t


def test_error_hotspot_is_where_the_failure_started() -> None:
    report = traces.analyze([out_of_stock("e1").parse(), out_of_stock("e2").parse()])

    assert report.failed_traces == 2
    assert [(h.service, h.operation, h.traces) for h in report.error_hotspots] == [
        (INVENTORY, "UPDATE", 2)
    ]
    assert report.error_hotspots[0].example_trace_id == "e1"


def test_a_failed_compensation_after_the_failure_is_not_its_origin() -> None:
    """A call fails, then the call that undoes it fails too, deeper in the tree."""
    t = TraceBuilder()
    root = t.server("POST /orders", 0, 5_000, {"http.response.status_code": 503, **FAILED})
    place = t.internal("place-order", 10, 4_900, FAILED, parent=root)
    reserve = t.call(
        "POST", "http://inventory:8000/reservations", 100, 1_000, tags=FAILED, parent=place
    )
    t.server("POST /reservations", 110, 800, FAILED, service=INVENTORY, parent=reserve)
    compensate = t.internal("compensate-order", 1_200, 2_000, FAILED, parent=place)
    release = t.call(
        "DELETE",
        "http://inventory:8000/reservations/1",
        1_300,
        1_000,
        tags=FAILED,
        parent=compensate,
    )
    t.server(
        "DELETE /reservations/{order_id}", 1_310, 800, FAILED, service=INVENTORY, parent=release
    )

    [hotspot] = traces.find_error_hotspots([t.parse()])

    assert (hotspot.service, hotspot.operation) == (INVENTORY, "POST /reservations")


def test_error_tag_alone_marks_a_failure() -> None:
    t = TraceBuilder()
    root = t.server("GET /orders/{order_id}", 0, 100)
    t.internal("load-order", 10, 50, {"error": True}, parent=root)

    [hotspot] = traces.find_error_hotspots([t.parse()])

    assert (hotspot.service, hotspot.operation) == (ORDER, "load-order")


# --- the JSON document -------------------------------------------------------------------------


QUERY: dict[str, str | int] = {"service": ORDER, "since": "15m"}


def test_json_shape() -> None:
    batch = [
        clean_order().parse(),
        order_detail_with_lookups("n1", 6).parse(),
        fan_out("seq", concurrent=False).parse(),
        out_of_stock("err").parse(),
        queued_read("queued", 8_000, duration=9_000).parse(),
    ]

    document = json.loads(json.dumps(traces.report_json(traces.analyze(batch, top=2), QUERY)))

    assert set(document) == {
        "version",
        "query",
        "traces",
        "failed_traces",
        "slowest_traces",
        "findings",
    }
    assert (document["version"], document["traces"], document["failed_traces"]) == (1, 5, 1)
    assert document["query"] == QUERY
    slowest = document["slowest_traces"]
    assert [t["trace_id"] for t in slowest] == ["clean", "seq"]
    assert set(slowest[0]) == {
        "trace_id",
        "service",
        "operation",
        "duration_us",
        "span_count",
        "failed",
        "critical_path",
        "self_us_by_service",
    }
    assert set(slowest[0]["critical_path"][0]) == {"span_id", "service", "operation", "self_us"}
    assert sum(slowest[0]["self_us_by_service"].values()) == slowest[0]["duration_us"] == 10_000

    findings = document["findings"]
    assert set(findings) == {"n_plus_one", "sequential_calls", "error_hotspots", "queueing"}
    assert findings["n_plus_one"] == [
        {
            "service": INVENTORY,
            "parent_operation": "load-stock",
            "statement": STOCK_SELECT,
            "traces": 1,
            "calls": 6,
            "max_calls": 6,
            "duration_us": 540,
            "example_trace_id": "n1",
        }
    ]
    assert findings["sequential_calls"] == [
        {
            "service": ORDER,
            "parent_operation": "place-order",
            "calls": [
                {"downstream": PRICING, "operation": "POST /quotes"},
                {"downstream": INVENTORY, "operation": "POST /reservations"},
            ],
            "traces": 1,
            "lost_us": 2_000,
            "max_lost_us": 2_000,
            "example_trace_id": "seq",
        }
    ]
    assert findings["error_hotspots"] == [
        {"service": INVENTORY, "operation": "UPDATE", "traces": 1, "example_trace_id": "err"}
    ]
    assert findings["queueing"] == [
        {
            "service": ORDER,
            "operation": "GET /orders/{order_id}",
            "traces": 1,
            "waited_us": 8_000,
            "max_waited_us": 8_000,
            "example_trace_id": "queued",
        }
    ]


def test_json_without_findings_has_empty_lists() -> None:
    document = traces.report_json(traces.analyze([clean_order().parse()]), QUERY)

    assert document["findings"] == {
        "n_plus_one": [],
        "sequential_calls": [],
        "error_hotspots": [],
        "queueing": [],
    }
    assert document["slowest_traces"][0]["critical_path"][0] == {
        "span_id": document["slowest_traces"][0]["critical_path"][0]["span_id"],
        "service": ORDER,
        "operation": "POST /orders",
        "self_us": 100 + 100,  # before place-order starts and after it ends
    }


# --- parsing and fetching ----------------------------------------------------------------------


def test_parse_reads_services_parents_and_typed_tags() -> None:
    t = TraceBuilder("abc")
    root = t.server("POST /orders", 0, 100, {"http.response.status_code": 201})
    t.call("POST", "http://inventory:8000/reservations", 10, 50, parent=root, downstream=INVENTORY)
    raw = t.build()
    # A span link arrives as FOLLOWS_FROM and must not be taken for the parent.
    raw["spans"][1]["references"].insert(
        0, {"refType": "FOLLOWS_FROM", "traceID": "other", "spanID": "ffff"}
    )

    trace = traces.parse_trace(raw)

    client, server = trace.spans[1], trace.spans[2]
    assert trace.root.operation == "POST /orders"
    assert (client.parent_id, server.parent_id) == (root, client.span_id)
    assert (server.service, server.kind) == (INVENTORY, "server")
    assert client.tags["server.port"] == 8000 and client.is_http_client
    assert trace.depth(server) == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
    ],
)
def test_since_parses_durations(text: str, expected: timedelta) -> None:
    assert traces.parse_since(text) == expected


@pytest.mark.parametrize("text", ["", "15", "0m", "1w", "-5m", "5 minutes"])
def test_since_rejects_other_text(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        traces.parse_since(text)


# --- the command -------------------------------------------------------------------------------


runner = CliRunner()


def test_unreachable_jaeger_is_a_one_line_error() -> None:
    # Port 9 (discard) on localhost: nothing listens there, so the connection is refused.
    result = runner.invoke(
        cli.app, ["traces", "analyze", "--jaeger-url", "http://127.0.0.1:9", "--json"]
    )

    assert result.exit_code == 1
    assert "cannot reach Jaeger at http://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.output and result.stdout == ""


def test_bad_since_is_a_usage_error() -> None:
    result = runner.invoke(cli.app, ["traces", "analyze", "--since", "soon"])

    assert result.exit_code == 2
    assert "not a duration" in result.output


def test_path_step_is_what_the_report_lists() -> None:
    t = TraceBuilder()
    t.internal("only", 0, 42)

    assert traces.critical_path(t.parse()) == [PathStep(t.spans[0]["spanID"], ORDER, "only", 42)]


# --- queueing ------------------------------------------------------------------------------------


def queued_read(trace_id: str, waited: int, duration: int = 10_000) -> TraceBuilder:
    """GET /orders/{id} that waited `waited` µs for admission before its own work."""
    t = TraceBuilder(trace_id)
    root = t.server("GET /orders/{order_id}", 0, duration)
    if waited:
        t.internal("await-admission", 10, waited, parent=root)
    t.query("SELECT orders.orders.id FROM orders.orders", waited + 100, 500, parent=root)
    return t


def test_a_trace_mostly_spent_waiting_for_admission_is_queueing() -> None:
    report = traces.analyze(
        [
            queued_read("q1", 6_000).parse(),
            queued_read("q2", 9_000).parse(),
            queued_read("short-wait", 2_000).parse(),  # a fifth of its trace: not the story
            queued_read("admitted-at-once", 0).parse(),
        ]
    )
    assert [(q.service, q.operation, q.traces) for q in report.queueing] == [
        (ORDER, "GET /orders/{order_id}", 2)
    ]
    [found] = report.queueing
    assert (found.waited_us, found.max_waited_us, found.example_trace_id) == (15_000, 9_000, "q2")
    assert traces.analyze([clean_order().parse()]).queueing == []
