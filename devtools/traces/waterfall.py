"""One trace as a waterfall: each span a bar on the trace's time axis, indented under its parent.

The layout (`rows`) is shared by the terminal (`render`, for `traces show`) and the HTML report
(htmlreport.py), so both show the same bars, the same critical path and the same statements.
The critical path itself comes from paths.py.
"""

from dataclasses import dataclass

from rich.console import Console
from rich.text import Text

from devtools.traces.model import Trace
from devtools.traces.paths import critical_path

# Colours by first appearance in the trace, so the entry service is always the first colour.
TERMINAL_COLOURS = ("cyan", "magenta", "yellow", "green", "blue", "bright_white")


@dataclass(frozen=True)
class Row:
    depth: int
    service: str
    operation: str
    offset_us: int  # from the trace's start
    duration_us: int
    critical: bool  # the root's latency waited on this span
    failed: bool
    statement: str | None


def rows(trace: Trace) -> list[Row]:
    """Spans depth first, children in start order, as the waterfall lists them."""
    on_path = {step.span_id for step in critical_path(trace)}
    start = min(span.start_us for span in trace.spans)
    # Orphans (their parent was not exported, or not yet) are listed as roots of their own.
    roots = sorted(
        (s for s in trace.spans if s.parent_id not in trace.by_id),
        key=lambda s: (s.start_us, s.span_id),
    )
    listed: list[Row] = []
    stack = [(span, 0) for span in reversed(roots)]
    while stack:
        span, depth = stack.pop()
        listed.append(
            Row(
                depth,
                span.service,
                span.operation,
                span.start_us - start,
                span.duration_us,
                span.span_id in on_path,
                span.failed,
                span.statement,
            )
        )
        stack.extend((child, depth + 1) for child in reversed(trace.children.get(span.span_id, [])))
    return listed


def services(trace: Trace) -> list[str]:
    """Services in order of their first span, which is the order colours are given."""
    return list(dict.fromkeys(s.service for s in sorted(trace.spans, key=lambda s: s.start_us)))


def total_us(trace: Trace) -> int:
    return max(s.end_us for s in trace.spans) - min(s.start_us for s in trace.spans)


def _ms(us: int) -> str:
    return f"{us / 1000:.1f} ms"


def bar(offset_us: int, duration_us: int, total: int, width: int) -> tuple[int, int]:
    """Where a span's bar starts and how many cells it fills; at least one, so a fast span
    still shows where it ran."""
    scale = width / total if total else 0.0
    left = min(width - 1, int(offset_us * scale))
    return left, max(1, min(width - left, round(duration_us * scale)))


def render(trace: Trace, console: Console) -> None:
    """The waterfall for a terminal: a label column, then bars on a time axis."""
    listed = rows(trace)
    total = total_us(trace)
    colours = {
        service: TERMINAL_COLOURS[i % len(TERMINAL_COLOURS)]
        for i, service in enumerate(services(trace))
    }
    # Two marker columns (critical, failed) and a space, the indented operation, one space.
    label_width = min(48, max(len("  " * r.depth + r.operation) for r in listed) + 4)
    width = max(20, console.width - label_width - 12)

    failed = sum(r.failed for r in listed)
    console.print(
        Text.assemble(
            ("trace ", "bold"),
            (trace.trace_id, "bold"),
            f"  {_ms(total)}, {len(listed)} spans",
            (f", {failed} failed" if failed else "", "red"),
        )
    )
    legend = Text("  ")
    for service, colour in colours.items():
        legend.append("██ ", colour).append(f"{service}  ")
    legend.append("* critical path  ", "bold").append("✗ failed", "red")
    console.print(legend)

    axis = Text(" " * label_width)
    ticks = [" "] * width
    for fraction in (0.0, 0.25, 0.5, 0.75):
        mark = f"|{_ms(int(total * fraction))}"
        at = int(fraction * width)
        ticks[at : at + len(mark)] = mark
    axis.append("".join(ticks)[:width], "dim").append(f"| {_ms(total)}", "dim")
    console.print(axis)

    for row in listed:
        label = ("  " * row.depth + row.operation)[: label_width - 4]
        line = Text()
        line.append("*" if row.critical else " ", "bold")
        line.append("✗ " if row.failed else "  ", "bold red")
        line.append(label.ljust(label_width - 4) + " ", "bold" if row.critical else "")
        left, cells = bar(row.offset_us, row.duration_us, total, width)
        style = colours[row.service] + (" bold" if row.critical else " dim")
        line.append(" " * left).append(("█" if row.critical else "▆") * cells, style)
        line.append(f" {_ms(row.duration_us)}", "dim")
        console.print(line, no_wrap=True, overflow="ellipsis")
        if row.statement:
            indent = " " * (3 + 2 * (row.depth + 1))
            console.print(
                Text(f"{indent}{' '.join(row.statement.split())}", "dim italic"),
                no_wrap=True,
                overflow="ellipsis",
            )
