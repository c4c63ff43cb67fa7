"""What the services' traces in Jaeger say about latency and failures.

- jaeger: the client of Jaeger's HTTP query API;
- model: a trace and its spans, parsed from Jaeger's JSON;
- paths, queries, calls, errors, queueing: the five analyses (critical paths and the slowest
  traces, N+1 queries, calls made one after the other, where failures start, waits for
  admission that dominate a trace), pure functions of traces;
- analysis: all five over one batch, as a `Report`;
- terminal, jsonreport, waterfall, htmlreport: the report and single traces rendered as tables,
  the --json document, a terminal waterfall and a self-contained HTML page.
"""

from devtools.traces.analysis import Report, analyze
from devtools.traces.calls import Call, SequentialCalls, find_sequential_calls
from devtools.traces.errors import ErrorHotspot, find_error_hotspots
from devtools.traces.jaeger import parse_since
from devtools.traces.jsonreport import JSON_VERSION, report_json
from devtools.traces.model import Span, Trace, parse_trace
from devtools.traces.paths import (
    PathStep,
    SlowTrace,
    critical_path,
    self_time_by_service,
    slowest_traces,
)
from devtools.traces.queries import RepeatedQuery, find_repeated_queries, normalize_statement
from devtools.traces.queueing import Queueing, find_queueing
from devtools.traces.terminal import render

__all__ = [
    "JSON_VERSION",
    "Call",
    "ErrorHotspot",
    "PathStep",
    "Queueing",
    "RepeatedQuery",
    "Report",
    "SequentialCalls",
    "SlowTrace",
    "Span",
    "Trace",
    "analyze",
    "critical_path",
    "find_error_hotspots",
    "find_queueing",
    "find_repeated_queries",
    "find_sequential_calls",
    "normalize_statement",
    "parse_since",
    "parse_trace",
    "render",
    "report_json",
    "self_time_by_service",
    "slowest_traces",
]
