"""`python -m bench --quick`: the benchmark harness end to end, on a private stack, in < 2 min.

Not a performance test (the numbers of a two-second run on a shared machine mean little): it
proves that `make bench` still works, and that every comparison of docs/benchmarks.md comes
out as a number.
"""

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devtools.stack.versions import REPO

RATIOS = (
    "fanout_p50_sequential_over_concurrent",
    "throughput_10pct_over_off",
    "throughput_100pct_over_off",
    "throughput_10pct_over_0pct",
    "throughput_100pct_over_0pct",
    "throughput_0pct_over_off",
    "cpu_per_request_off_over_10pct",
    "cpu_per_request_off_over_100pct",
    "p99_fixed_rate_10pct_over_off",
    "p99_fixed_rate_100pct_over_off",
    "async_over_sync_throughput",
    "sync_over_async_p99",
    "pipeline_spans_lost",
    "pipeline_jaeger_over_sdk_spans",
)
Results = tuple[dict[str, Any], Path]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, telemetry_tools: None) -> Results:
    out = tmp_path_factory.mktemp("bench")
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, f"bench --quick failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return json.loads((out / "results.json").read_text()), out


def test_every_comparison_is_a_number(results: Results) -> None:
    data, _ = results
    assert set(RATIOS) <= set(data["ratios"]), set(RATIOS) - set(data["ratios"])
    for name in RATIOS:
        value = data["ratios"][name]["value"]
        assert isinstance(value, int | float) and math.isfinite(value), f"{name} = {value!r}"
        assert value >= 0, f"{name} = {value}"


def test_each_run_answered_without_errors(results: Results) -> None:
    data, _ = results
    runs = {f"tracing {k} capacity": v["capacity"] for k, v in data["tracing"].items()}
    runs |= {f"{d} (20 ms, 50 clients)": data["async_vs_sync"][d] for d in ("async", "sync")}
    runs |= {f"fan-out {m}": data["fanout"][m] for m in ("concurrent", "sequential")}
    for name, run in runs.items():
        assert run["all"]["throughput_rps"] > 0, name
        assert run["all"]["errors"] == 0, f"{name}: {run['all']['errors']} errors"
        assert run["cpu_s_per_request"] > 0, f"{name}: no CPU time read from the services"


def test_every_span_is_accounted_for(results: Results) -> None:
    spans = results[0]["pipeline"]["spans"]
    # Each hop's counters must have moved, or they are not read from where spans pass.
    assert spans["sdk_spans_processed"] > 0
    assert spans["collector_accepted_spans"] > 0
    assert spans["jaeger_spans"] > 0


def test_table_and_plots_are_written(results: Results) -> None:
    _, out = results
    table = (out / "results.md").read_text()
    assert "async_over_sync_throughput" in table
    for plot in ("latency-post-orders.png", "latency-get-orders.png"):
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", plot
