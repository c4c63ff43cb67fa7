"""Traces that spent most of their time waiting for admission: a saturated service.

Admission control (services/shopkit/admission.py) records the wait of a request that queued as an
`await-admission` span under its server span. When that wait is most of the whole trace, the
request was slow because the service was full, not because of its own work: the fix is capacity
(replicas, a cheaper request path), not the request's code.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from devtools.traces.model import Trace

ADMISSION_SPAN = "await-admission"
# The share of a trace's duration spent queueing from which it is a finding.
DOMINANT_SHARE = 0.5


@dataclass(frozen=True)
class Queueing:
    """Traces whose longest part was waiting for admission to one service's operation."""

    service: str
    operation: str
    traces: int
    waited_us: int
    max_waited_us: int
    example_trace_id: str


def find_queueing(traces: Iterable[Trace], share: float = DOMINANT_SHARE) -> list[Queueing]:
    """Per trace, the longest admission wait, when it is at least `share` of the trace's
    duration; counted by the service and the operation (server span) that waited."""
    seen: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    for trace in traces:
        waits = [s for s in trace.spans if s.operation == ADMISSION_SPAN]
        if not waits:
            continue
        longest = max(waits, key=lambda s: (s.duration_us, s.span_id))
        if longest.duration_us < share * max(trace.root.duration_us, 1):
            continue
        server = trace.parent(longest)
        operation = server.operation if server is not None else ADMISSION_SPAN
        seen[longest.service, operation].append((trace.trace_id, longest.duration_us))
    findings = [
        Queueing(
            service,
            operation,
            len(waits),
            sum(w for _, w in waits),
            max(w for _, w in waits),
            max(waits, key=lambda w: w[1])[0],
        )
        for (service, operation), waits in seen.items()
    ]
    return sorted(findings, key=lambda f: (-f.waited_us, f.service, f.operation))
