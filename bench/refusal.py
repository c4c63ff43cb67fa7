"""`python -m bench.refusal`: what one refusal costs at the least. uvicorn alone answers every
request with the gate's 503 (bench/floorshop/refuser.py) under the open loop of bench.overload's
spikes; this prints the CPU that process used per refusal (from /proc) and what this one, the
load generator, used per request.

docs/benchmarks.md ("Overload") sets it beside what a refusal costs the order service during a
spike at 4x the capacity: the difference is the gate's own.

    flock /tmp/bench.lock python -m bench.refusal --rates 560 715
"""

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil  # type: ignore[import-untyped]

from bench.openloop import Request, open_loop
from devtools.stack import processes
from devtools.stack.processes import HOST
from devtools.stack.versions import REPO

# About the size of the shop's access tokens, which every request of a spike carries.
TOKEN = "Bearer " + "x" * 1000


def refuse(pid: int, port: int, rate: float, seconds: float) -> str:
    """One open loop at `rate`: a table row."""
    server, started = psutil.Process(pid), time.monotonic()
    server_before, generator_before = server.cpu_times(), time.process_time()
    request = Request("GET", f"/orders/{uuid.uuid4()}", {"Authorization": TOKEN})
    answers = asyncio.run(open_loop(port, rate, seconds, lambda _: request, patience=10))
    server_after, generator_after = server.cpu_times(), time.process_time()
    elapsed = time.monotonic() - started
    refused = sum(1 for answer in answers if answer.status == 503)
    server_s = sum(server_after[:2]) - sum(server_before[:2])  # user + system
    generator_s = generator_after - generator_before
    latencies = sorted(answer.latency for answer in answers)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return (
        f"| {rate:.0f} | {refused} of {len(answers)} | {server_s / refused * 1e6:.0f} µs "
        f"| {server_s / elapsed:.2f} | {generator_s / len(answers) * 1e6:.0f} µs "
        f"| {p99 * 1000:.1f} ms |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.refusal", description=__doc__)
    parser.add_argument("--rates", type=float, nargs="+", default=[560.0, 715.0])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    port = processes.free_port()
    with tempfile.TemporaryDirectory(prefix="shop-refusal-") as folder:
        refuser = processes.start(
            [
                *(sys.executable, "-m", "uvicorn", "bench.floorshop.refuser:app"),
                *("--app-dir", str(REPO), "--host", HOST, "--port", str(port)),
                *("--lifespan", "off", "--no-access-log"),
            ],
            Path(folder) / "refuser.log",
        )
        try:
            processes.wait_healthy("refuser", refuser, f"http://{HOST}:{port}/healthz")
            print(
                "| requests/s | refused | uvicorn's CPU per refusal | its cores "
                "| the generator's CPU per request | p99 |\n|---|---|---|---|---|---|"
            )
            for rate in args.rates:
                print(refuse(refuser.pid, port, rate, args.seconds), flush=True)
        finally:
            processes.stop(refuser)
    return 0


if __name__ == "__main__":
    sys.exit(main())
