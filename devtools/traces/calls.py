"""Calls to different services made one after the other, that could have overlapped."""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from devtools.traces.model import Span, Trace


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
