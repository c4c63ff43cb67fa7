"""The report as the `traces analyze --json` document, for CI."""

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from devtools.traces.analysis import Report
from devtools.traces.paths import self_time_by_service

# Bumped when a key of the --json document changes meaning or disappears; new keys may appear.
JSON_VERSION = 1


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
         "error_hotspots": [{"service", "operation", "traces", "example_trace_id"}],
         "queueing": [{"service", "operation", "traces", "waited_us", "max_waited_us",
             "example_trace_id"}]}}

    Every finding list is present, empty when nothing was found.
    """
    # The keys are the findings' field names, in their order.
    return {
        "version": JSON_VERSION,
        "query": dict(query),
        "traces": report.traces,
        "failed_traces": report.failed_traces,
        "slowest_traces": [
            {
                **asdict(t),
                "critical_path": [asdict(step) for step in t.critical_path],
                "self_us_by_service": self_time_by_service(t.critical_path),
            }
            for t in report.slowest
        ],
        "findings": {
            "n_plus_one": [asdict(f) for f in report.repeated_queries],
            "sequential_calls": [
                {**asdict(f), "calls": [asdict(c) for c in f.calls]}
                for f in report.sequential_calls
            ],
            "error_hotspots": [asdict(f) for f in report.error_hotspots],
            "queueing": [asdict(f) for f in report.queueing],
        },
    }
