"""A trace as Jaeger returns it, parsed into spans with their parent, service and tags.

Everything in devtools.traces is pure, functions over the `Trace` parsed here, so it can be
tested with hand-built traces; only `jaeger` talks to Jaeger.
"""

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

TagValue = str | bool | int | float


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
