"""`python -m bench.refusal`: uvicorn alone refuses every request as the gate does, and a tiny
run reads its CPU per refusal."""

import subprocess
import sys

from devtools.stack.versions import REPO


def test_every_request_is_refused_and_its_cost_read() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench.refusal", "--rates", "100", "--seconds", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    [row] = [line for line in run.stdout.splitlines() if line.startswith("| 100 |")]
    cells = [cell.strip() for cell in row.split("|")[1:-1]]
    assert cells[1] == "100 of 100", run.stdout
    assert float(cells[2].removesuffix(" µs")) > 0, run.stdout
