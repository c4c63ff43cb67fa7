"""`python -m bench --quick`: the benchmark harness end to end, on a private stack, in about 2 min.

Not a performance test (the numbers of a two-second run on a shared machine mean little): it
proves that `make bench` still works, and that every comparison of docs/benchmarks.md comes
out as a number.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from bench import report
from bench.results import Admission, BenchmarkRun, Endpoint, Round, Tracing
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
    "overload_goodput_at_2x_over_capacity",
    "overload_goodput_at_2x_over_capacity_without_admission",
)
Results = tuple[BenchmarkRun, Path]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, telemetry_tools: None) -> Results:
    out = tmp_path_factory.mktemp("bench")
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, f"bench --quick failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return BenchmarkRun.model_validate_json((out / "results.json").read_text()), out


def test_every_comparison_is_a_number(results: Results) -> None:
    _, out = results
    ratios = json.loads((out / "results.json").read_text())["ratios"]
    assert set(RATIOS) <= set(ratios), set(RATIOS) - set(ratios)
    for name in RATIOS:
        value = ratios[name]["value"]
        assert isinstance(value, int | float) and math.isfinite(value), f"{name} = {value!r}"
        assert value >= 0, f"{name} = {value}"


def test_each_run_answered_without_errors(results: Results) -> None:
    run, _ = results
    assert list(run.tracing.variants) == list(Tracing)
    pair = run.async_vs_sync.at_goal_latency
    runs: dict[str, Round] = {
        f"tracing {tracing} capacity": variant.capacity.median
        for tracing, variant in run.tracing.variants.items()
    }
    runs |= {"async (20 ms, 50 clients)": pair.async_service.median}
    runs |= {"sync (20 ms, 50 clients)": pair.sync_service.median}
    runs |= {"fan-out concurrent": run.fanout.concurrent.median}
    runs |= {"fan-out sequential": run.fanout.sequential.median}
    for name, measured in runs.items():
        assert measured.overall.throughput_rps > 0, name
        assert measured.overall.errors == 0, f"{name}: {measured.error_reasons}"
        assert measured.cpu_ms_per_request > 0, f"{name}: no CPU time read from the services"
        assert set(measured.cpu_ms_per_request_by_service) == {"order", "inventory", "pricing"}


def test_the_fanout_reads_only(results: Results) -> None:
    fanout = results[0].fanout.concurrent.median
    assert fanout.by_endpoint[Endpoint.CREATE_ORDER].answered == 0
    assert fanout.by_endpoint[Endpoint.CREATE_ORDER].latency.p50_ms is None
    assert fanout.by_endpoint[Endpoint.READ_ORDER].answered == fanout.overall.answered > 0


def test_every_span_is_accounted_for(results: Results) -> None:
    spans = results[0].pipeline.spans
    # Each hop's counters must have moved, or they are not read from where spans pass.
    assert spans.sdk_spans_processed > 0
    assert spans.collector_accepted_spans > 0
    assert spans.jaeger_spans > 0
    assert spans.lost == 0
    # What the Collector took in is what the pipeline's services counted: no other process
    # sent spans meanwhile (a background loop's, on a stack left running).
    assert spans.collector_accepted_spans == pytest.approx(spans.sdk_spans_processed, rel=0.02)


def test_the_overload_spikes_ran_on_both_stacks(results: Results) -> None:
    overload = results[0].overload
    assert overload is not None
    assert overload.capacity_rps > 0
    assert [(s.admission, s.multiple) for s in overload.spikes] == [
        (Admission.ON, 2.0),
        (Admission.OFF, 2.0),
    ]
    for spike in overload.spikes:
        assert spike.offered_rps == pytest.approx(2 * overload.capacity_rps)
        assert spike.goodput_rps > 0, spike.admission
        assert spike.probes_p99_ms is not None, spike.admission


def test_table_and_plots_are_written(results: Results) -> None:
    run, out = results
    table = (out / "results.md").read_text()
    assert "async_over_sync_throughput" in table
    # The table renders the same from results.json as from the run that wrote it.
    assert report.markdown(run) == table
    assert "| admission control | 2x (" in table
    for plot in ("latency-post-orders.png", "latency-get-orders.png", "overload.png"):
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", plot
