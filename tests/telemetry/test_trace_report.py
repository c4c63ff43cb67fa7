"""`python -m devtools traces report --html`: one self-contained page of the findings and the
waterfalls, loaded in headless Chromium and checked by what it draws (the screenshot is kept in
.run/artifacts/ for a person to look at); and `traces show` drawing them in a terminal."""

import re
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import httpx
from PIL import Image

from devtools.stack.services import Services
from devtools.stack.telemetry import Telemetry
from devtools.stack.versions import REPO
from devtools.traces import htmlreport
from tests.support.browser import screenshot
from tests.support.shop import admin, new_product, place_order
from tests.support.telemetry import customer_tag, jaeger, settled_traces

ARTIFACTS = REPO / ".run" / "artifacts"
TRACK = (243, 243, 243)  # the grey behind the bars (htmlreport.STYLE)
FAILED_OUTLINE = (0xD6, 0x27, 0x28)


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return (int(hex_colour[1:3], 16), int(hex_colour[3:5], 16), int(hex_colour[5:7], 16))


def near(pixels: Counter[tuple[int, int, int]], colour: tuple[int, int, int]) -> int:
    """Pixels within 3 of `colour` per channel (the compositor may round a blend)."""
    return sum(
        n for p, n in pixels.items() if max(abs(a - b) for a, b in zip(p, colour, strict=True)) <= 3
    )


def faded(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    """A bar off the critical path: the colour at opacity .45 over the track."""
    return tuple(round(0.45 * c + 0.55 * t) for c, t in zip(colour, TRACK, strict=True))  # type: ignore[return-value]


def test_the_page_draws_the_slow_and_the_failed_waterfalls(
    traced: Services, backends: Telemetry, tmp_path: Path
) -> None:
    customer = f"report-{uuid.uuid4().hex[:8]}"
    sku = new_product(traced)
    for _ in range(3):
        assert place_order(traced, [{"sku": sku, "quantity": 1}], customer).status_code == 201
    inventory_errors = f"{traced.url('inventory')}/admin/scenarios/errors"
    as_admin = admin(traced, "inventory")
    httpx.put(inventory_errors, json={"enabled": True, "fraction": 1.0}, headers=as_admin)
    try:
        assert place_order(traced, [{"sku": sku, "quantity": 1}], customer).status_code == 503
    finally:
        httpx.put(inventory_errors, json={"enabled": False}, headers=as_admin)
    tags = customer_tag(customer)
    settled_traces(
        "the customer's 4 traces",
        lambda: jaeger(backends, "/api/traces", service="order-service", tags=tags)["data"],
        4,
    )

    page = tmp_path / "traces.html"
    result = subprocess.run(
        [
            *(sys.executable, "-m", "devtools", "traces", "report", "--html", str(page)),
            *("--jaeger-url", backends.jaeger_url, "--since", "10m", "--top", "1"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    html = page.read_text()
    # Self-contained: nothing to fetch when the page is opened from a CI artifact.
    assert "http://" not in html.replace(backends.jaeger_url, "")
    assert "<script" not in html and "src=" not in html
    # One slow and one failed waterfall, each with a bar per span.
    assert html.count('<section class="trace"') == 2
    # A failed span is drawn failed whether or not it lies on the critical path.
    assert len(re.findall(r'class="bar(?: critical)? failed"', html)) >= 1

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    png = screenshot(page, ARTIFACTS / "trace-report.png", 1400, 3000)
    with Image.open(png) as image:
        rgb_bytes = image.convert("RGB").tobytes()
    pixels = Counter(zip(rgb_bytes[0::3], rgb_bytes[1::3], rgb_bytes[2::3], strict=True))
    # The entry service's colour: its server span is the root of each waterfall, on the
    # critical path, drawn solid across the whole time axis (about 800 x 14 pixels each).
    order = rgb(htmlreport.COLOURS[0])
    assert near(pixels, order) >= 2 * 5_000, near(pixels, order)
    # Two more services, each drawn solid where the path waits on it, faded where it does not.
    for colour in map(rgb, htmlreport.COLOURS[1:3]):
        drawn = near(pixels, colour) + near(pixels, faded(colour))
        assert drawn >= 500, (colour, drawn)
    # The failed spans' red outline.
    assert near(pixels, FAILED_OUTLINE) >= 100


def test_show_draws_the_slowest_and_the_failed_trace_in_the_terminal(
    traced: Services, backends: Telemetry
) -> None:
    customer = f"show-{uuid.uuid4().hex[:8]}"
    assert (
        place_order(traced, [{"sku": new_product(traced), "quantity": 1}], customer).status_code
        == 201
    )
    assert place_order(traced, [{"sku": "NO-SUCH-SKU", "quantity": 1}], customer).status_code == 422
    tags = customer_tag(customer)
    settled_traces(
        "the customer's 2 traces",
        lambda: jaeger(backends, "/api/traces", service="order-service", tags=tags)["data"],
        2,
    )
    for pick in ("--slowest", "--failed"):
        result = subprocess.run(
            [sys.executable, "-m", "devtools", "traces", "show", pick, "--since", "10m"],
            env={"JAEGER_URL": backends.jaeger_url, "PATH": "/usr/bin:/bin", "COLUMNS": "120"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        header, legend, axis, root, *spans = result.stdout.splitlines()
        assert header.startswith("trace ") and " ms, " in header
        assert "order-service" in legend
        assert "|0.0 ms" in axis and axis.rstrip().endswith(" ms")
        # The root is on the critical path and spans the whole axis.
        assert root.startswith("*") and root.count("█") >= 60, root
        assert any("SELECT" in line for line in spans)
        if pick == "--failed":
            assert any(line[1] == "✗" for line in [root, *spans])
