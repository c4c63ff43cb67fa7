"""The report as tables in a terminal, for people."""

from rich.console import Console
from rich.table import Table

from devtools.traces.analysis import Report
from devtools.traces.paths import self_time_by_service


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

    if report.queueing:
        title = "Traces mostly spent waiting for admission (the service was saturated)"
        table = Table(title=title, title_justify="left")
        for column in ("service", "operation", "traces", "waited ms", "worst ms", "example"):
            table.add_column(column)
        for w in report.queueing:
            table.add_row(
                w.service,
                w.operation,
                str(w.traces),
                _ms(w.waited_us),
                _ms(w.max_waited_us),
                w.example_trace_id,
            )
        console.print(table)
    else:
        console.print("No trace dominated by a wait for admission.")
