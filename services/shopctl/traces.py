"""What a batch of Jaeger traces says about latency: critical paths, N+1 queries, calls made one
after the other that could overlap, and where failures start.

Everything here is pure: functions over the `Trace` dataclass parsed from Jaeger's JSON, so it
can be tested with hand-built traces. Fetching lives in `shopctl.jaeger`; `render` only writes
to the console it is given.
"""

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table

TagValue = str | bool | int | float

# Bumped when a key of the --json document changes meaning or disappears; new keys may appear.
JSON_VERSION = 1


@dataclass(frozen=True)
class Span:
    span_id: str
    parent_id: str | None
    service: str
    operation: str
    start_us: int
    duration_us: int
    tags: Mapping[str, TagValue] = field(default_factory=dict)

    @property
    def end_us(self) -> int:
        return self.start_us + self.duration_us

    @property
    def kind(self) -> str:
        return str(self.tags.get("span.kind", "internal"))

    @property
    def failed(self) -> bool:
        # Jaeger turns an OTLP ERROR status into both tags; older SDKs set only `error`.
        return self.tags.get("otel.status_code") == "ERROR" or self.tags.get("error") in (
            True,
            "true",
        )

    @property
    def statement(self) -> str | None:
        """The SQL of a database span (current or pre-1.26 semantic conventions), else None."""
        if "db.system.name" not in self.tags and "db.system" not in self.tags:
            return None
        text = self.tags.get("db.query.text", self.tags.get("db.statement"))
        return str(text) if text is not None else None

    @property
    def is_http_client(self) -> bool:
        return self.kind == "client" and (
            "http.request.method" in self.tags or "http.method" in self.tags
        )


@dataclass
class Trace:
    trace_id: str
    spans: Sequence[Span]
    by_id: dict[str, Span] = field(init=False, repr=False)
    children: dict[str, list[Span]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.by_id = {span.span_id: span for span in self.spans}
        self.children = defaultdict(list)
        for span in self.spans:
            if span.parent_id is not None and span.parent_id in self.by_id:
                self.children[span.parent_id].append(span)
        for siblings in self.children.values():
            siblings.sort(key=lambda s: (s.start_us, s.span_id))

    @property
    def root(self) -> Span:
        """The span the caller waited on; with spans missing, the earliest and longest orphan."""
        orphans = [s for s in self.spans if s.parent_id not in self.by_id]
        return min(orphans, key=lambda s: (s.start_us, -s.duration_us, s.span_id))

    def parent(self, span: Span) -> Span | None:
        return self.by_id.get(span.parent_id) if span.parent_id else None

    def depth(self, span: Span) -> int:
        depth = 0
        current = self.parent(span)
        while current is not None:
            depth += 1
            current = self.parent(current)
        return depth


def parse_trace(raw: Mapping[str, Any]) -> Trace:
    """One item of `data` from Jaeger's `GET /api/traces` or `GET /api/traces/{id}`."""
    processes = raw.get("processes") or {}
    spans = []
    for item in raw["spans"]:
        process = processes.get(item.get("processID"), {})
        # Span links arrive as FOLLOWS_FROM: only CHILD_OF is the parent.
        parent = next(
            (r["spanID"] for r in item.get("references") or [] if r.get("refType") == "CHILD_OF"),
            None,
        )
        spans.append(
            Span(
                span_id=item["spanID"],
                parent_id=parent,
                service=process.get("serviceName", "unknown"),
                operation=item["operationName"],
                start_us=int(item["startTime"]),
                duration_us=int(item["duration"]),
                tags={tag["key"]: _tag_value(tag.get("value")) for tag in item.get("tags") or []},
            )
        )
    return Trace(raw["traceID"], spans)


def _tag_value(value: Any) -> TagValue:
    return value if isinstance(value, str | bool | int | float) else str(value)


def parse_since(text: str) -> timedelta:
    """`30s`, `15m`, `2h`, `1d` as a timedelta."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text)
    if match is None or int(match[1]) == 0:
        raise ValueError(f"{text!r} is not a duration like 30s, 15m, 2h or 1d")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match[2]]
    return timedelta(**{unit: int(match[1])})


# --- critical path -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PathStep:
    span_id: str
    service: str
    operation: str
    self_us: int


def critical_path(trace: Trace) -> list[PathStep]:
    """The spans the root's latency waited on, in time order, with their self time.

    From the end of a span, walk back in time: the child that finished last before the current
    point is what the span waited on; recurse into it, then continue from that child's start.
    Time no such child covers is the span's own. Children are clipped to their parent first, so
    work that outlived its parent (fire-and-forget) only counts while the parent still waited.
    The self times add up to the root's duration.
    """
    self_us: dict[str, int] = {}
    first_start: dict[str, int] = {}
    root = trace.root
    # An explicit stack instead of recursion: deep traces must not hit Python's recursion limit.
    stack = [(root, root.start_us, root.end_us)]
    while stack:
        span, start, end = stack.pop()
        first_start[span.span_id] = start
        own = 0
        cursor = end
        for child, child_start, child_end in _clipped_children(trace, span, start, end):
            if child_end > cursor:
                continue
            own += cursor - child_end
            stack.append((child, child_start, child_end))
            cursor = child_start
        self_us[span.span_id] = own + (cursor - start)
    # Parents were visited before their children, so a stable sort keeps them first on a tie.
    order = sorted(self_us, key=lambda span_id: first_start[span_id])
    spans = [trace.by_id[span_id] for span_id in order]
    return [PathStep(s.span_id, s.service, s.operation, self_us[s.span_id]) for s in spans]


def _clipped_children(
    trace: Trace, span: Span, start: int, end: int
) -> list[tuple[Span, int, int]]:
    """The children inside [start, end], latest end first (the longer one first on a tie)."""
    clipped = [
        (child, max(child.start_us, start), min(child.end_us, end))
        for child in trace.children.get(span.span_id, [])
    ]
    kept = [c for c in clipped if c[1] < c[2]]
    return sorted(kept, key=lambda c: (-c[2], c[1], c[0].span_id))


def self_time_by_service(path: Iterable[PathStep]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for step in path:
        totals[step.service] += step.self_us
    return dict(sorted(totals.items(), key=lambda item: (-item[1], item[0])))


@dataclass(frozen=True)
class SlowTrace:
    trace_id: str
    service: str
    operation: str
    duration_us: int
    span_count: int
    failed: bool
    critical_path: tuple[PathStep, ...]


def slowest_traces(traces: Iterable[Trace], top: int) -> list[SlowTrace]:
    ranked = sorted(traces, key=lambda t: (-t.root.duration_us, t.trace_id))[:top]
    return [
        SlowTrace(
            trace_id=t.trace_id,
            service=t.root.service,
            operation=t.root.operation,
            duration_us=t.root.duration_us,
            span_count=len(t.spans),
            failed=any(s.failed for s in t.spans),
            critical_path=tuple(critical_path(t)),
        )
        for t in ranked
    ]


# --- N+1 queries -------------------------------------------------------------------------------

# One pass, left to right, so a quote inside a comment or `--` inside a string is not misread.
_LITERAL_OR_COMMENT = re.compile(r"'(?:[^']|'')*'|/\*.*?\*/|--[^\n]*", re.DOTALL)
# asyncpg's $1, psycopg's %s and %(name)s, qmark's ?, and :name (but not a ::cast).
_PLACEHOLDER = re.compile(r"\$\d+|%\(\w+\)s|%s|(?<![:\w]):[A-Za-z_]\w*")
_NUMBER = re.compile(r"(?<![\w.$?])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b")
# SQLAlchemy's asyncpg dialect types its parameters ($1::VARCHAR); the type is not the query.
_CAST = re.compile(r"\?(?:::\w+(?:\([\d?\s,]*\))?(?:\[\])*)+")
_IN_LIST = re.compile(r"\bIN\s*\(\s*\?(?:\s*,\s*\?)*\s*\)", re.IGNORECASE)


def normalize_statement(sql: str) -> str:
    """One SQL statement's shape: literals and placeholders as ?, IN lists as IN (...)."""
    text = _LITERAL_OR_COMMENT.sub(lambda m: "?" if m[0].startswith("'") else " ", sql)
    text = _PLACEHOLDER.sub("?", text)
    text = _NUMBER.sub("?", text)
    text = _CAST.sub("?", text)
    text = " ".join(text.split())
    return _IN_LIST.sub("IN (...)", text)


@dataclass(frozen=True)
class RepeatedQuery:
    """The same statement run `min_repeats` times or more by one parent span: an N+1."""

    service: str
    parent_operation: str
    statement: str
    traces: int
    calls: int
    max_calls: int
    duration_us: int
    example_trace_id: str


def find_repeated_queries(traces: Iterable[Trace], min_repeats: int) -> list[RepeatedQuery]:
    """N+1 patterns, one per (service, parent operation, statement), costliest first."""
    seen: dict[tuple[str, str, str], list[tuple[str, int, int]]] = defaultdict(list)
    for trace in traces:
        for parent_id, siblings in trace.children.items():
            groups: dict[tuple[str, str], list[Span]] = defaultdict(list)
            for span in siblings:
                if (statement := span.statement) is not None:
                    groups[span.service, normalize_statement(statement)].append(span)
            parent = trace.by_id[parent_id]
            for (service, statement), spans in groups.items():
                if len(spans) >= min_repeats:
                    cost = sum(s.duration_us for s in spans)
                    key = (service, parent.operation, statement)
                    seen[key].append((trace.trace_id, len(spans), cost))
    findings = [
        RepeatedQuery(
            service=service,
            parent_operation=parent_operation,
            statement=statement,
            traces=len({trace_id for trace_id, _, _ in hits}),
            calls=sum(calls for _, calls, _ in hits),
            max_calls=max(calls for _, calls, _ in hits),
            duration_us=sum(cost for _, _, cost in hits),
            example_trace_id=max(hits, key=lambda hit: (hit[1], hit[2]))[0],
        )
        for (service, parent_operation, statement), hits in seen.items()
    ]
    return sorted(findings, key=lambda f: (-f.duration_us, f.service, f.statement))


# --- calls made one after the other ------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    downstream: str
    operation: str


@dataclass(frozen=True)
class SequentialCalls:
    """HTTP calls from one parent span to different services that ran one after the other."""

    service: str
    parent_operation: str
    calls: tuple[Call, ...]
    traces: int
    lost_us: int
    max_lost_us: int
    example_trace_id: str


def find_sequential_calls(traces: Iterable[Trace]) -> list[SequentialCalls]:
    """Sibling HTTP client calls to different services that did not overlap in time.

    The time lost is the calls' wall time minus what they would take if each downstream's
    calls ran concurrently with the other downstreams' (calls to one service stay in order, as
    they may depend on each other): with one call per service, the sum of the durations minus
    the longest.
    """
    seen: dict[tuple[str, str, tuple[Call, ...]], list[tuple[str, int]]] = defaultdict(list)
    for trace in traces:
        for parent_id, siblings in trace.children.items():
            clients = [s for s in siblings if s.is_http_client]
            if len(clients) < 2:
                continue
            calls = [(span, _call(trace, span)) for span in clients]
            lost = _time_lost(calls)
            if lost > 0:
                parent = trace.by_id[parent_id]
                key = (parent.service, parent.operation, tuple(call for _, call in calls))
                seen[key].append((trace.trace_id, lost))
    findings = [
        SequentialCalls(
            service=service,
            parent_operation=parent_operation,
            calls=calls,
            traces=len({trace_id for trace_id, _ in hits}),
            lost_us=sum(lost for _, lost in hits),
            max_lost_us=max(lost for _, lost in hits),
            example_trace_id=max(hits, key=lambda hit: hit[1])[0],
        )
        for (service, parent_operation, calls), hits in seen.items()
    ]
    return sorted(findings, key=lambda f: (-f.lost_us, f.service, f.parent_operation))


def _call(trace: Trace, client: Span) -> Call:
    """Where a client span went: the service of the server span it caused, else host:port."""
    for child in trace.children.get(client.span_id, []):
        if child.kind == "server":
            return Call(child.service, child.operation)
    host = client.tags.get("server.address", client.tags.get("net.peer.name"))
    port = client.tags.get("server.port", client.tags.get("net.peer.port"))
    if host is None and "url.full" in client.tags:
        url = urlsplit(str(client.tags["url.full"]))
        host, port = url.hostname, url.port
    downstream = f"{host}:{port}" if host and port else str(host or "unknown")
    return Call(downstream, client.operation)


def _time_lost(calls: Sequence[tuple[Span, Call]]) -> int:
    """Wall time of the calls beyond the busiest downstream's; 0 if they all overlapped."""
    waves = 0
    wave_end = -1
    for span, _ in calls:  # in start order
        if span.start_us >= wave_end:
            waves += 1
        wave_end = max(wave_end, span.end_us)
    if waves < 2:
        return 0
    by_downstream: dict[str, list[Span]] = defaultdict(list)
    for span, call in calls:
        by_downstream[call.downstream].append(span)
    busiest = max(_covered_us(spans) for spans in by_downstream.values())
    return _covered_us([span for span, _ in calls]) - busiest


def _covered_us(spans: Iterable[Span]) -> int:
    """Microseconds during which at least one of the spans was running."""
    covered = 0
    reached = None
    for span in sorted(spans, key=lambda s: s.start_us):
        start = span.start_us if reached is None else max(span.start_us, reached)
        if span.end_us > start:
            covered += span.end_us - start
        reached = span.end_us if reached is None else max(reached, span.end_us)
    return covered


# --- where failures start ----------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorHotspot:
    service: str
    operation: str
    traces: int
    example_trace_id: str


def find_error_hotspots(traces: Iterable[Trace]) -> list[ErrorHotspot]:
    """Per failed trace, the error span where the failure started, counted by operation.

    Errors travel up: a failing query fails its business span, the server span and the caller's
    client span. Where it started is an error span with no failed child; of several (a failed
    call, then a failed compensation), the one that failed first. On a tie, the deepest.
    """
    seen: dict[tuple[str, str], list[str]] = defaultdict(list)
    for trace in traces:
        origins = [
            s
            for s in trace.spans
            if s.failed and not any(c.failed for c in trace.children.get(s.span_id, ()))
        ]
        if origins:
            origin = min(
                origins,
                key=lambda s: (s.start_us + s.duration_us, -trace.depth(s), s.span_id),
            )
            seen[origin.service, origin.operation].append(trace.trace_id)
    findings = [
        ErrorHotspot(service, operation, len(trace_ids), trace_ids[0])
        for (service, operation), trace_ids in seen.items()
    ]
    return sorted(findings, key=lambda f: (-f.traces, f.service, f.operation))


# --- the report --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    traces: int
    failed_traces: int
    slowest: list[SlowTrace]
    repeated_queries: list[RepeatedQuery]
    sequential_calls: list[SequentialCalls]
    error_hotspots: list[ErrorHotspot]


def analyze(traces: Sequence[Trace], *, top: int = 5, min_repeats: int = 5) -> Report:
    return Report(
        traces=len(traces),
        failed_traces=sum(1 for t in traces if any(s.failed for s in t.spans)),
        slowest=slowest_traces(traces, top),
        repeated_queries=find_repeated_queries(traces, min_repeats),
        sequential_calls=find_sequential_calls(traces),
        error_hotspots=find_error_hotspots(traces),
    )


def report_json(report: Report, query: Mapping[str, str | int]) -> dict[str, Any]:
    """The --json document. Times are integer microseconds, as Jaeger stores them.

    {"version": 1, "query": {...the CLI's options...}, "traces": 200, "failed_traces": 3,
     "slowest_traces": [{"trace_id", "service", "operation", "duration_us", "span_count",
         "failed", "critical_path": [{"span_id", "service", "operation", "self_us"}],
         "self_us_by_service": {"order-service": 1234}}],
     "findings": {
         "n_plus_one": [{"service", "parent_operation", "statement", "traces", "calls",
             "max_calls", "duration_us", "example_trace_id"}],
         "sequential_calls": [{"service", "parent_operation",
             "calls": [{"downstream", "operation"}], "traces", "lost_us", "max_lost_us",
             "example_trace_id"}],
         "error_hotspots": [{"service", "operation", "traces", "example_trace_id"}]}}

    Every finding list is present, empty when nothing was found.
    """
    return {
        "version": JSON_VERSION,
        "query": dict(query),
        "traces": report.traces,
        "failed_traces": report.failed_traces,
        "slowest_traces": [
            {
                "trace_id": t.trace_id,
                "service": t.service,
                "operation": t.operation,
                "duration_us": t.duration_us,
                "span_count": t.span_count,
                "failed": t.failed,
                "critical_path": [
                    {
                        "span_id": s.span_id,
                        "service": s.service,
                        "operation": s.operation,
                        "self_us": s.self_us,
                    }
                    for s in t.critical_path
                ],
                "self_us_by_service": self_time_by_service(t.critical_path),
            }
            for t in report.slowest
        ],
        "findings": {
            "n_plus_one": [
                {
                    "service": f.service,
                    "parent_operation": f.parent_operation,
                    "statement": f.statement,
                    "traces": f.traces,
                    "calls": f.calls,
                    "max_calls": f.max_calls,
                    "duration_us": f.duration_us,
                    "example_trace_id": f.example_trace_id,
                }
                for f in report.repeated_queries
            ],
            "sequential_calls": [
                {
                    "service": f.service,
                    "parent_operation": f.parent_operation,
                    "calls": [
                        {"downstream": c.downstream, "operation": c.operation} for c in f.calls
                    ],
                    "traces": f.traces,
                    "lost_us": f.lost_us,
                    "max_lost_us": f.max_lost_us,
                    "example_trace_id": f.example_trace_id,
                }
                for f in report.sequential_calls
            ],
            "error_hotspots": [
                {
                    "service": f.service,
                    "operation": f.operation,
                    "traces": f.traces,
                    "example_trace_id": f.example_trace_id,
                }
                for f in report.error_hotspots
            ],
        },
    }


def _ms(us: int) -> str:
    return f"{us / 1000:.1f}"


def render(report: Report, console: Console, *, min_repeats: int) -> None:
    """The report as tables, for people."""
    console.print(f"[bold]{report.traces}[/] traces analyzed, {report.failed_traces} failed\n")

    slowest = Table(title="Slowest traces", title_justify="left")
    for column in ("trace id", "operation", "ms", "spans", "failed"):
        slowest.add_column(column, justify="right" if column in ("ms", "spans") else "left")
    for t in report.slowest:
        slowest.add_row(
            t.trace_id,
            f"{t.service} {t.operation}",
            _ms(t.duration_us),
            str(t.span_count),
            "yes" if t.failed else "",
        )
    console.print(slowest)
    for t in report.slowest:
        path = Table(
            title=f"Critical path of {t.trace_id} ({_ms(t.duration_us)} ms)", title_justify="left"
        )
        path.add_column("service")
        path.add_column("operation")
        path.add_column("self ms", justify="right")
        path.add_column("share", justify="right")
        for step in t.critical_path:
            share = step.self_us / t.duration_us if t.duration_us else 0.0
            path.add_row(step.service, step.operation, _ms(step.self_us), f"{share:.0%}")
        console.print(path)
        by_service = self_time_by_service(t.critical_path)
        console.print(
            "  self time by service: "
            + ", ".join(f"{service} {_ms(us)} ms" for service, us in by_service.items())
            + "\n"
        )

    if report.repeated_queries:
        table = Table(title=f"N+1 queries (>= {min_repeats} per parent span)", title_justify="left")
        for column in ("service", "parent", "statement", "traces", "calls", "max", "ms", "example"):
            table.add_column(column, overflow="fold")
        for q in report.repeated_queries:
            table.add_row(
                q.service,
                q.parent_operation,
                q.statement,
                str(q.traces),
                str(q.calls),
                str(q.max_calls),
                _ms(q.duration_us),
                q.example_trace_id,
            )
        console.print(table)
    else:
        console.print(f"No N+1 queries (>= {min_repeats} per parent span).")

    if report.sequential_calls:
        table = Table(title="Sequential calls that could run concurrently", title_justify="left")
        for column in ("service", "parent", "calls in order", "traces", "lost ms", "worst ms"):
            table.add_column(column, overflow="fold")
        table.add_column("example")
        for s in report.sequential_calls:
            calls = " -> ".join(f"{c.downstream} {c.operation}" for c in s.calls)
            table.add_row(
                s.service,
                s.parent_operation,
                calls,
                str(s.traces),
                _ms(s.lost_us),
                _ms(s.max_lost_us),
                s.example_trace_id,
            )
        console.print(table)
    else:
        console.print("No sequential calls to different services.")

    if report.error_hotspots:
        title = "Where failures start (first failed span without failed children)"
        table = Table(title=title, title_justify="left")
        for column in ("service", "operation", "traces", "example"):
            table.add_column(column)
        for e in report.error_hotspots:
            table.add_row(e.service, e.operation, str(e.traces), e.example_trace_id)
        console.print(table)
    else:
        console.print("No failed traces.")
