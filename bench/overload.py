"""`python -m bench.overload`: the shop under an open-loop spike, with and without admission
control, side by side (docs/overload.md, docs/benchmarks.md "Overload").

Two stacks on one private PostgreSQL: one as shipped, one with `ADMISSION_ENABLED=false`. The
capacity is the closed-loop throughput of `GET /orders/{id}` on the stack without admission
control (32 clients), as issue 19 measured it. Then, for each stack in turn and each multiple of
that capacity: an open-loop spike (bench/openloop.py: requests sent on schedule whatever the
answers; clients wait 10 s at most), with both probes polled every 100 ms; then half the
capacity for a few seconds, to see how soon the service is itself again.

    flock /tmp/bench.lock python -m bench.overload --multiples 2 4 --seconds 10

`--get-share 0.5` makes the spike half `POST /orders`. Telemetry is on as `make run` has it
(every trace kept) unless `--sampling -1`.
"""

import argparse
import asyncio
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from bench import environment, load
from bench.load import Workload
from bench.openloop import Request, open_loop
from devtools.stack.processes import HOST

CLIENT_TIMEOUT = 10.0
PROBE_INTERVAL = 0.1
RECOVERY_SECONDS = 4.0


@dataclass
class Spike:
    """What the clients of one open-loop run saw."""

    offered_rps: float
    seconds: float
    answered: list[float] = field(default_factory=list)  # 2xx latencies
    shed: list[float] = field(default_factory=list)  # 503/504 latencies
    outcomes: Counter[str] = field(default_factory=Counter)
    probes: list[float] = field(default_factory=list)

    @property
    def goodput_rps(self) -> float:
        return len(self.answered) / self.seconds


def quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def spike(workload: Workload, rate: float, seconds: float, port: int) -> Spike:
    """Open loop at `rate` for `seconds` (bench.openloop), with both probes polled meanwhile."""
    result = Spike(rate, seconds)
    probe_url = f"http://{HOST}:{port}"

    def next_request(_: int) -> Request:
        request = workload.next()
        return Request(request.method, request.path, request.headers or {}, request.json)

    async with httpx.AsyncClient(timeout=5) as prober:
        stop = asyncio.Event()

        async def probe() -> None:
            while not stop.is_set():
                for path in ("/healthz", "/readyz"):
                    started = time.perf_counter()
                    try:
                        await prober.get(probe_url + path)
                        result.probes.append(time.perf_counter() - started)
                    except httpx.HTTPError:
                        result.probes.append(float("inf"))
                await asyncio.sleep(PROBE_INTERVAL)

        probing = asyncio.create_task(probe())
        answers = await open_loop(port, rate, seconds, next_request, CLIENT_TIMEOUT)
        stop.set()
        await probing
    for answer in answers:
        result.outcomes[answer.outcome] += 1
        if answer.status is not None and 200 <= answer.status < 300:
            result.answered.append(answer.latency)
        elif answer.status in (503, 504):
            result.shed.append(answer.latency)
    return result


def settle(workload: Workload) -> None:
    """Wait until the stack is idle again (three fast reads in a row), so that one run's
    leftover work does not slow the next one down."""
    order_id = workload.order_ids[0]
    fast = 0
    deadline = time.monotonic() + 120
    while fast < 3 and time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            url = f"{workload.base_url}/orders/{order_id}"
            ok = httpx.get(url, headers=workload.signed_in, timeout=5).status_code == 200
        except httpx.HTTPError:
            ok = False
        fast = fast + 1 if ok and time.perf_counter() - started < 0.1 else 0
        time.sleep(0.2)


def row(name: str, multiple: float, spiked: Spike, after: Spike) -> str:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value * 1000:.0f}"

    timeouts = spiked.outcomes["timeout"]
    return (
        f"| {name} | {multiple:g}x ({spiked.offered_rps:.0f}/s) | {spiked.goodput_rps:.0f} "
        f"| {ms(quantile(spiked.answered, 0.99))} | {len(spiked.shed)} "
        f"| {ms(quantile(spiked.shed, 0.99))} | {timeouts} | {ms(quantile(spiked.probes, 0.99))} "
        f"| {ms(quantile(after.answered, 0.99))} | {after.goodput_rps:.0f} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.overload", description=__doc__)
    parser.add_argument("--multiples", type=float, nargs="+", default=[2.0, 4.0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each spike")
    parser.add_argument("--get-share", type=float, default=1.0)
    parser.add_argument("--sampling", type=float, default=1.0, help="-1: SDK disabled")
    parser.add_argument("--capacity", type=float, help="skip measuring it: requests/s")
    args = parser.parse_args()
    sampling = None if args.sampling < 0 else args.sampling

    variants = {
        "admission control": {"ADMISSION_ENABLED": "true"},
        "none (before)": {"ADMISSION_ENABLED": "false"},
    }
    lines = [
        "| admission | offered | goodput/s | p99 ms | shed | shed p99 ms | client timeouts"
        " | probes p99 ms | after: p99 ms | after: goodput/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    with environment.private_stack("overload", with_telemetry=sampling is not None) as private:
        telemetry = environment.telemetry_env(private.telemetry, sampling)
        stacks = {}
        try:
            for name, env in variants.items():
                folder = private.workdir / name.split()[0]
                stacks[name] = environment.start_services(folder, private, {**telemetry, **env})
            workloads = {
                name: load.prepared_workload(s, 200, args.get_share) for name, s in stacks.items()
            }
            baseline = "none (before)"
            capacity = args.capacity
            if capacity is None:
                cpu = stacks[baseline].cpu_seconds_by_service
                load.run_closed(cpu, workloads[baseline], 32, 2)  # warm-up, not measured
                capacity = load.run_closed(cpu, workloads[baseline], 32, 10).overall.throughput_rps
            print(f"capacity (closed loop, 32 clients, no admission control): {capacity:.0f}/s")
            for multiple in args.multiples:
                for name, services in stacks.items():
                    workload = workloads[name]
                    port = services.ports["order"]
                    spiked = asyncio.run(spike(workload, multiple * capacity, args.seconds, port))
                    after = asyncio.run(spike(workload, capacity / 2, RECOVERY_SECONDS, port))
                    lines.append(row(name, multiple, spiked, after))
                    print(lines[-1], dict(spiked.outcomes), flush=True)
                    settle(workload)
        finally:
            for services in stacks.values():
                services.stop()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
