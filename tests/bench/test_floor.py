"""`python -m bench.floor`: the floor answers as the shop does, and a tiny run measures both."""

import subprocess
import sys

from devtools.stack.versions import REPO


def test_the_floor_and_the_shop_are_measured_side_by_side() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench.floor", "--rounds=1", "--seconds=1", "--calls=50"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # bench.floor refuses to measure a floor whose GET /orders/{id} answers differently.
    assert run.returncode == 0, run.stderr[-3000:]
    rows = {
        line.split("|")[1].strip(): line.split("|")
        for line in run.stdout.splitlines()
        if line.startswith(("| shop ", "| floor "))
    }
    assert set(rows) == {"shop", "floor"}, run.stdout
    for name, cells in rows.items():
        assert float(cells[2]) > 0, f"{name} answered nothing: {cells}"
        assert cells[4].strip() == "0", f"{name} had errors: {run.stdout}"
    layers = [line for line in run.stdout.splitlines() if line.strip().endswith("µs")]
    assert len(layers) == 3, run.stdout
    spans = {
        line.split("|")[1].strip(): [float(cell.split()[0]) for cell in line.split("|")[2:6]]
        for line in run.stdout.splitlines()
        if line.startswith(("| no SDK |", "| 0% |", "| 100% |")) and line.count("µs") == 4
    }
    assert set(spans) == {"no SDK", "0%", "100%"}, run.stdout
    # Per GET, over no SDK: the SDK's spans and metrics cost something at either sampling.
    assert spans["no SDK"][3] == 0 and spans["0%"][3] > 0 and spans["100%"][3] > 0, run.stdout
    owners = {
        line.split("|")[1].strip(): [float(cell.split()[0]) for cell in line.split("|")[2:6]]
        for line in run.stdout.splitlines()
        if line.startswith(("| 0% sampled |", "| 100% sampled |"))
    }
    assert set(owners) == {"0% sampled", "100% sampled"}, run.stdout
    for sampling, (nothing, instrumentor, fastapis, ours) in owners.items():
        # Every owner costs about twice the bare route or more (docs/benchmarks.md); a third
        # more rules out an owner that silently did not switch on, whatever the noise.
        assert min(instrumentor, fastapis, ours) > 1.3 * nothing, f"{sampling}: {run.stdout}"
