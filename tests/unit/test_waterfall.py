"""The waterfall of one hand-built order trace: row order and depth, the critical path, bar
geometry, and what the terminal and the HTML page show of it."""

from html.parser import HTMLParser

from rich.console import Console

from devtools import traces
from devtools.traces import htmlreport, waterfall
from tests.unit.test_trace_analysis import INVENTORY, ORDER, PRICING, TraceBuilder

SELECT = "SELECT stock.sku FROM inventory.stock WHERE stock.sku = $1::VARCHAR FOR UPDATE"


def order_trace(failed_reservation: bool = False) -> traces.Trace:
    """POST /orders (100 ms): a quote from pricing (1-30 ms) while a reservation from inventory
    (2-90 ms) runs, whose SELECT is the long part; the reservation is the critical path."""
    t = TraceBuilder("trace-w")
    root = t.server("POST /orders", 0, 100_000)
    t.call("POST", "http://pricing/quotes", 1_000, 29_000, downstream=PRICING, parent=root)
    error = {"otel.status_code": "ERROR", "error": True} if failed_reservation else {}
    reserve = t.call(
        "POST", "http://inventory/reservations", 2_000, 88_000, parent=root, tags=error
    )
    server = t.server("POST /reservations", 3_000, 86_000, service=INVENTORY, parent=reserve)
    t.query(SELECT, 35_000, 50_000, service=INVENTORY, parent=server)
    return t.parse()


def test_rows_follow_the_tree_in_start_order() -> None:
    rows = waterfall.rows(order_trace())

    assert [(r.depth, r.service, r.operation) for r in rows] == [
        (0, ORDER, "POST /orders"),
        (1, ORDER, "POST"),
        (2, PRICING, "POST /quotes"),
        (1, ORDER, "POST"),
        (2, INVENTORY, "POST /reservations"),
        (3, INVENTORY, "SELECT"),
    ]
    assert [r.offset_us for r in rows] == [0, 1_000, 1_001, 2_000, 3_000, 35_000]
    assert rows[-1].statement == SELECT


def test_the_critical_path_runs_through_the_reservation() -> None:
    rows = waterfall.rows(order_trace())

    # The quote ran while the reservation did, and ended first: the root never waited on it.
    assert [r.critical for r in rows] == [True, False, False, True, True, True]


def test_bars_sit_on_the_time_axis() -> None:
    # 100 cells for 100 ms: one cell per millisecond.
    assert waterfall.bar(30_000, 60_000, 100_000, 100) == (30, 60)
    # A 1 µs span still gets a cell, and no bar runs past the axis.
    assert waterfall.bar(99_999, 1, 100_000, 100) == (99, 1)
    assert waterfall.bar(0, 100_000, 100_000, 100) == (0, 100)


def test_the_terminal_shows_bars_markers_and_statements() -> None:
    console = Console(width=120, record=True, color_system=None)
    waterfall.render(order_trace(failed_reservation=True), console)
    lines = console.export_text().splitlines()

    assert lines[0] == "trace trace-w  100.0 ms, 6 spans, 1 failed"
    [select] = [line for line in lines if "SELECT" in line and "█" in line]
    [statement] = [line for line in lines if "FOR UPDATE" in line]
    assert statement.strip() == SELECT
    # The SELECT's bar starts 35 % into the axis and fills half of it.
    label_end = lines[2].index("|")  # the axis starts where the bars do
    bar = select[label_end:]
    axis = len(lines[2]) - label_end - len("| 100.0 ms")
    assert bar.index("█") in (int(0.35 * axis), round(0.35 * axis))
    assert bar.count("█") == round(0.5 * axis)
    # The failed reservation call is on the critical path: both marks.
    [failed] = [line for line in lines if "✗" in line[:2]]
    assert failed.startswith("*✗   POST ")


class Bars(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.bars: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "div" and "bar" in (found.get("class") or "").split():
            self.bars.append(found)


def test_the_html_waterfall_places_one_bar_per_span() -> None:
    parser = Bars()
    trace = order_trace()
    parser.feed(htmlreport.trace_section(trace, "slow", htmlreport.colours_of([trace])))

    assert len(parser.bars) == 6
    select = parser.bars[-1]
    assert select["data-service"] == INVENTORY
    assert select["class"] == "bar critical"
    assert "left:35.000%;width:50.000%" in (select["style"] or "")
