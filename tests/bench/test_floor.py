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
        line.split("|")[1].strip(): line
        for line in run.stdout.splitlines()
        if line.endswith("µs |") and line.count("µs") == 2
    }
    assert set(spans) == {"no SDK", "0%", "100%"}, run.stdout
    owners = {
        line.split("|")[1].strip(): [float(cell.split()[0]) for cell in line.split("|")[2:5]]
        for line in run.stdout.splitlines()
        if line.startswith(("| 0% |", "| 100% |")) and line.count("µs") == 3
    }
    assert set(owners) == {"0%", "100%"}, run.stdout
    for sampling, (nothing, instrumentor, own) in owners.items():
        # Either owner costs about twice the bare route or more (docs/benchmarks.md); a third
        # more rules out an owner that silently did not switch on, whatever the noise.
        assert min(instrumentor, own) > 1.3 * nothing, f"{sampling}: {run.stdout}"
