"""Every analysis over one batch of traces, as one report."""

from collections.abc import Sequence
from dataclasses import dataclass

from devtools.traces.calls import SequentialCalls, find_sequential_calls
from devtools.traces.errors import ErrorHotspot, find_error_hotspots
from devtools.traces.model import Trace
from devtools.traces.paths import SlowTrace, slowest_traces
from devtools.traces.queries import RepeatedQuery, find_repeated_queries
from devtools.traces.queueing import Queueing, find_queueing


@dataclass(frozen=True)
class Report:
    traces: int
    failed_traces: int
    slowest: list[SlowTrace]
    repeated_queries: list[RepeatedQuery]
    sequential_calls: list[SequentialCalls]
    error_hotspots: list[ErrorHotspot]
    queueing: list[Queueing]


def analyze(traces: Sequence[Trace], *, top: int = 5, min_repeats: int = 5) -> Report:
    return Report(
        traces=len(traces),
        failed_traces=sum(1 for t in traces if any(s.failed for s in t.spans)),
        slowest=slowest_traces(traces, top),
        repeated_queries=find_repeated_queries(traces, min_repeats),
        sequential_calls=find_sequential_calls(traces),
        error_hotspots=find_error_hotspots(traces),
        queueing=find_queueing(traces),
    )
