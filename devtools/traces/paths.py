"""The critical path of a trace: what it waited on, span by span, and the slowest traces."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from devtools.traces.model import Span, Trace


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
