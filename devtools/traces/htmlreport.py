"""`traces report --html`: the findings of `traces analyze` and the waterfalls of the
slowest and the failed traces, as one self-contained page (inline CSS, no script, no fetches), so
it can be kept as a CI artifact and opened after the cluster it came from is gone."""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape

from devtools.traces import waterfall
from devtools.traces.analysis import Report
from devtools.traces.model import Trace

# Red is kept for failures.
COLOURS = ("#2b7bba", "#8e44ad", "#e69f00", "#009e73", "#56b4e9", "#cc79a7")

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { text-align: left; padding: .2em .8em .2em 0; border-bottom: 1px solid #ddd; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .sql { font-family: ui-monospace, monospace; font-size: 12px; }
.trace { margin: 1em 0 2em; }
.legend span { display: inline-block; margin-right: 1.2em; }
.legend i { display: inline-block; width: 1em; height: .8em; margin-right: .3em; }
.row { display: flex; align-items: center; height: 20px; }
.label { width: 28em; flex: none; overflow: hidden; white-space: nowrap; text-overflow: ellipsis; }
.track { position: relative; flex: 1; height: 14px; background: #f3f3f3; }
.bar { position: absolute; top: 0; height: 14px; min-width: 2px; opacity: .45; }
.bar.critical { opacity: 1; }
.bar.failed { outline: 2px solid #d62728; }
.ms { width: 6em; flex: none; text-align: right; font-variant-numeric: tabular-nums; }
.sql { color: #555; margin: 0 0 2px; white-space: nowrap; overflow: hidden;
       text-overflow: ellipsis; }
.critical-mark { font-weight: bold; }
.failed-mark { color: #d62728; font-weight: bold; }
"""


def _ms(us: int) -> str:
    return f"{us / 1000:.1f} ms"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{escape(cell)}</td>' if i in numeric else f"<td>{escape(cell)}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def colours_of(traces: Sequence[Trace]) -> dict[str, str]:
    """One colour per service for the whole page, by first appearance (the entry service
    first), so a service looks the same in every waterfall."""
    names = dict.fromkeys(s for t in traces for s in waterfall.services(t))
    return {service: COLOURS[i % len(COLOURS)] for i, service in enumerate(names)}


def trace_section(trace: Trace, title: str, palette: Mapping[str, str]) -> str:
    """One waterfall: a legend, then one row per span with its bar placed on the time axis;
    `palette` (colours_of) colours each service."""
    total = waterfall.total_us(trace)
    colours = {service: palette[service] for service in waterfall.services(trace)}
    legend = "".join(
        f'<span><i style="background:{colour}"></i>{escape(service)}</span>'
        for service, colour in colours.items()
    )
    lines = []
    for row in waterfall.rows(trace):
        left = 100 * row.offset_us / total if total else 0.0
        width = 100 * row.duration_us / total if total else 100.0
        classes = " ".join(
            ["bar"] + (["critical"] if row.critical else []) + (["failed"] if row.failed else [])
        )
        mark = (
            '<span class="failed-mark">&#x2717; </span>'
            if row.failed
            else ('<span class="critical-mark">* </span>' if row.critical else "")
        )
        lines.append(
            '<div class="row">'
            f'<div class="label" style="padding-left:{row.depth * 1.2:.1f}em">{mark}'
            f"{escape(row.operation)}</div>"
            f'<div class="track"><div class="{classes}" data-service="{escape(row.service)}" '
            f'style="left:{left:.3f}%;width:{width:.3f}%;background:{colours[row.service]}" '
            f'title="{escape(row.service)} {escape(row.operation)}: {_ms(row.duration_us)}">'
            "</div></div>"
            f'<div class="ms">{_ms(row.duration_us)}</div></div>'
        )
        if row.statement:
            indent = row.depth * 1.2 + 1
            lines.append(
                f'<div class="sql" style="padding-left:{indent:.1f}em">'
                f"{escape(' '.join(row.statement.split()))}</div>"
            )
    return (
        f'<section class="trace" id="trace-{escape(trace.trace_id)}">'
        f"<h3>{escape(title)}: <code>{escape(trace.trace_id)}</code>, {_ms(total)}, "
        f"{len(trace.spans)} spans</h3>"
        f'<div class="legend">{legend}<span><b>*</b> critical path</span>'
        '<span class="failed-mark">&#x2717; failed</span></div>' + "".join(lines) + "</section>"
    )


def _findings(report: Report, min_repeats: int) -> list[str]:
    """The tables of `traces analyze`, in its order."""
    slowest = [
        [t.trace_id, f"{t.service} {t.operation}", _ms(t.duration_us), str(t.span_count)]
        for t in report.slowest
    ]
    for row, t in zip(slowest, report.slowest, strict=True):
        row.append("yes" if t.failed else "")
    repeated = [
        [q.service, q.parent_operation, q.statement, str(q.traces), str(q.calls), str(q.max_calls)]
        for q in report.repeated_queries
    ]
    sequential = [
        [
            s.service,
            s.parent_operation,
            " → ".join(f"{c.downstream} {c.operation}" for c in s.calls),
            str(s.traces),
            _ms(s.lost_us),
        ]
        for s in report.sequential_calls
    ]
    hotspots = [[e.service, e.operation, str(e.traces)] for e in report.error_hotspots]
    queueing = [
        [q.service, q.operation, str(q.traces), _ms(q.waited_us), _ms(q.max_waited_us)]
        for q in report.queueing
    ]
    none = "<p>None.</p>"
    return [
        "<h2>Slowest traces</h2>",
        _table(["trace id", "operation", "duration", "spans", "failed"], slowest, {2, 3}),
        f"<h2>N+1 queries (&ge; {min_repeats} per parent span)</h2>",
        _table(["service", "parent", "statement", "traces", "calls", "max"], repeated, {3, 4, 5})
        if repeated
        else none,
        "<h2>Sequential calls that could run concurrently</h2>",
        _table(["service", "parent", "calls in order", "traces", "lost"], sequential, {3, 4})
        if sequential
        else none,
        "<h2>Where failures start</h2>",
        _table(["service", "operation", "traces"], hotspots, {2}) if hotspots else none,
        "<h2>Traces mostly spent waiting for admission</h2>",
        _table(["service", "operation", "traces", "waited", "worst"], queueing, {2, 3, 4})
        if queueing
        else none,
    ]


def page(
    report: Report,
    slowest: Sequence[Trace],
    failed: Sequence[Trace],
    query: Mapping[str, str | int],
    *,
    min_repeats: int,
) -> str:
    """The whole page; `slowest` and `failed` are the traces to draw."""
    service = escape(str(query.get("service", "")))
    colours = colours_of([*slowest, *failed])
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    asked = escape(", ".join(f"{k}={v}" for k, v in query.items()))
    parts = [
        f"<h1>Traces of {service}</h1>",
        f"<p>{report.traces} traces analyzed, {report.failed_traces} failed. "
        f"Generated {generated} from {asked}.</p>",
        *_findings(report, min_repeats),
        "<h2>Waterfalls of the slowest traces</h2>",
        *(trace_section(t, "slow", colours) for t in slowest),
        "<h2>Waterfalls of failed traces</h2>",
        *(trace_section(t, "failed", colours) for t in failed),
        "" if failed else "<p>No failed traces.</p>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Traces of {service}</title><style>{STYLE}</style></head>"
        "<body>" + "\n".join(parts) + "</body></html>\n"
    )
