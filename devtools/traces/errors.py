"""Where failures start: the error span with no failed child, counted by operation."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from devtools.traces.model import Trace


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
