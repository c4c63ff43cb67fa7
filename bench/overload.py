"""`python -m bench.overload`: the shop under an open-loop spike, with and without admission
control, side by side (docs/overload.md, docs/benchmarks.md "Overload").

Stacks on one private PostgreSQL: one as shipped, one with `ADMISSION_ENABLED=false`, and one
per `--variant` (settings, or older code: `PYTHONPATH=<its worktree>/services`). The capacity
is the closed-loop throughput of `GET /orders/{id}` on the stack without admission control (32
clients), as issue 19 measured it. Then, for each multiple of that capacity and each stack in
turn: an open-loop spike (bench/openloop.py: requests sent on schedule whatever the answers;
clients wait 10 s at most), with both probes polled every 100 ms; then half the capacity for a
few seconds, to see how soon the service is itself again.

    flock /tmp/bench.lock python -m bench.overload --multiples 2 4 --seconds 10

Each row also gives the generator's own lag (how late it sent, part of every latency) and the
CPU used meanwhile, in cores: the order service, the three services, the generator, and the
whole machine (which other work shares). `--get-share 0.75` makes a quarter of the spike
`POST /orders`; `--plot FILE` draws goodput and p99 against offered load. Telemetry is on as
`make run` has it (every trace kept) unless `--sampling -1`. `--profile DIR` samples the order
service with py-spy during each spike (bench/profiling.py) and prints where its CPU went.
"""

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]

from bench import environment, load, profiling
from bench.load import Workload
from bench.openloop import Request, open_loop
from bench.tune import parse_variant
from devtools.stack.processes import HOST
from devtools.stack.services import PORTS

CLIENT_TIMEOUT = 10.0
PROBE_INTERVAL = 0.1
RECOVERY_SECONDS = 4.0
TIMELY = 1.0  # the goal for the p99 of the answered requests


@dataclass
class Spike:
    """What the clients of one open-loop run saw."""

    offered_rps: float
    seconds: float
    answered: list[float] = field(default_factory=list)  # 2xx latencies
    shed: list[float] = field(default_factory=list)  # 503/504 latencies
    outcomes: Counter[str] = field(default_factory=Counter)  # status, or why no answer
    reasons: Counter[str] = field(default_factory=Counter)  # of the 503s: their `reason`
    probes: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)  # the generator's own, bench.openloop.Answer
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per second, by process

    @property
    def goodput_rps(self) -> float:
        return len(self.answered) / self.seconds

    @property
    def timely_rps(self) -> float:
        """Goodput counting only the answers within TIMELY seconds: those a user still waited
        for. Without admission control most answers come seconds late."""
        return sum(1 for latency in self.answered if latency <= TIMELY) / self.seconds


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
        result.lags.append(answer.lag)
        if answer.status is not None and 200 <= answer.status < 300:
            result.answered.append(answer.latency)
        elif answer.status in (503, 504):
            result.shed.append(answer.latency)
            if answer.status == 503:
                result.reasons[json.loads(answer.body).get("reason", "dependency")] += 1
    return result


def measured(services: environment.Services, run: Callable[[], Spike]) -> Spike:
    """`run()`, with the CPU the services and this process (the generator) used meanwhile."""
    before, own_before, started = (
        services.cpu_seconds_by_service(),
        time.process_time(),
        time.monotonic(),
    )
    machine_before = psutil.cpu_times()
    result = run()
    elapsed = time.monotonic() - started
    after = services.cpu_seconds_by_service()
    result.cpu = {name: (after[name] - before[name]) / elapsed for name in after}
    result.cpu["generator"] = (time.process_time() - own_before) / elapsed
    machine = psutil.cpu_times()
    idle = machine.idle + machine.iowait - machine_before.idle - machine_before.iowait
    result.cpu["machine"] = (psutil.cpu_count() or 1) - idle / elapsed
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


HEADER = (
    "| admission | offered | goodput/s | within 1 s/s | p99 ms | shed | shed p99 ms"
    " | client timeouts"
    " | probes p99 ms | after: p99 ms | after: goodput/s | generator lag p99 ms"
    " | CPU/s: order, all services, generator, machine |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def row(name: str, multiple: float, spiked: Spike, after: Spike) -> str:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value * 1000:.0f}"

    services = sum(spiked.cpu[name] for name in PORTS)
    cpu = spiked.cpu
    cpu_used = f"{cpu['order']:.2f}, {services:.2f}, {cpu['generator']:.2f}, {cpu['machine']:.2f}"
    return (
        f"| {name} | {multiple:g}x ({spiked.offered_rps:.0f}/s) | {spiked.goodput_rps:.0f} "
        f"| {spiked.timely_rps:.0f} "
        f"| {ms(quantile(spiked.answered, 0.99))} | {len(spiked.shed)} "
        f"| {ms(quantile(spiked.shed, 0.99))} | {spiked.outcomes['timeout']} "
        f"| {ms(quantile(spiked.probes, 0.99))} "
        f"| {ms(quantile(after.answered, 0.99))} | {after.goodput_rps:.0f} "
        f"| {ms(quantile(spiked.lags, 0.99))} | {cpu_used} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.overload", description=__doc__)
    parser.add_argument("--multiples", type=float, nargs="+", default=[2.0, 4.0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each spike")
    parser.add_argument("--get-share", type=float, default=1.0)
    parser.add_argument("--sampling", type=float, default=1.0, help="-1: SDK disabled")
    parser.add_argument("--capacity", type=float, help="skip measuring it: requests/s")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="'NAME: KEY=VALUE order.KEY=VALUE'",
        help="one more stack, with these settings (as bench.tune's variants); older code: "
        "PYTHONPATH=<its worktree>/services",
    )
    parser.add_argument("--profile", type=Path, help="a folder for py-spy's stacks of each spike")
    parser.add_argument("--plot", type=Path, help="a PNG of goodput and p99 against offered load")
    args = parser.parse_args()
    sampling = None if args.sampling < 0 else args.sampling

    variants: dict[str, dict[str, dict[str, str]]] = {
        "admission control": {},
        "none": {service: {"ADMISSION_ENABLED": "false"} for service in PORTS},
    }
    variants.update(parse_variant(spec) for spec in args.variant)
    results: dict[str, list[tuple[float, Spike, Spike]]] = {name: [] for name in variants}
    with environment.private_stack("overload", with_telemetry=sampling is not None) as private:
        telemetry = environment.telemetry_env(private.telemetry, sampling)
        stacks: dict[str, environment.Services] = {}
        try:
            for i, (name, env) in enumerate(variants.items()):
                folder = private.workdir / f"variant-{i}"
                stacks[name] = environment.start_services(
                    folder, private, {**telemetry, "ADMISSION_ENABLED": "true"}, env
                )
            workloads = {
                name: load.prepared_workload(s, 200, args.get_share) for name, s in stacks.items()
            }
            capacity = args.capacity
            if capacity is None:
                cpu = stacks["none"].cpu_seconds_by_service
                load.run_closed(cpu, workloads["none"], 32, 2)  # warm-up, not measured
                capacity = load.run_closed(cpu, workloads["none"], 32, 10).overall.throughput_rps
            print(f"capacity (closed loop, 32 clients, no admission control): {capacity:.0f}/s")
            for multiple in args.multiples:
                for i, (name, services) in enumerate(stacks.items()):
                    profile = None
                    if args.profile:
                        profile = args.profile / f"variant-{i}-{multiple:g}x.txt"
                    spiked, after = run_variant(
                        name, services, workloads[name], multiple, capacity, args.seconds, profile
                    )
                    results[name].append((multiple, spiked, after))
        finally:
            for services in stacks.values():
                services.stop()
    print(HEADER)
    for i in range(len(args.multiples)):  # a multiple given twice is two rounds
        for name, rows in results.items():
            print(row(name, *rows[i]))
    if args.plot:
        plot(results, capacity, args.plot)
    return 0


def run_variant(
    name: str,
    services: environment.Services,
    workload: Workload,
    multiple: float,
    capacity: float,
    seconds: float,
    profile: Path | None,
) -> tuple[Spike, Spike]:
    """One spike at `multiple` x `capacity`, and the half-capacity load after it."""
    port = services.ports["order"]
    spy = None
    if profile is not None:
        profile.parent.mkdir(parents=True, exist_ok=True)
        spy = profiling.record(services.processes["order"].pid, seconds, profile)
    spiked = measured(
        services, lambda: asyncio.run(spike(workload, multiple * capacity, seconds, port))
    )
    if spy is not None and profile is not None:
        spy.wait()
        print(name, profiling.summarize(profile))
    after = asyncio.run(spike(workload, capacity / 2, RECOVERY_SECONDS, port))
    tail = {q: quantile(spiked.shed, q) for q in (0.5, 0.9, 0.99, 0.999)}
    shed_ms = {q: None if v is None else round(v * 1000) for q, v in tail.items()}
    print(row(name, multiple, spiked, after), dict(spiked.outcomes), dict(spiked.reasons))
    print(f"  503s' latency by quantile (ms): {shed_ms}", flush=True)
    settle(workload)
    return spiked, after


def plot(results: dict[str, list[tuple[float, Spike, Spike]]], capacity: float, path: Path) -> None:
    """Goodput (answers within TIMELY), and the p99 of the answered requests, against the
    offered load: one line per variant, the capacity as a dashed line."""
    import matplotlib  # only here: the rest of the module runs without it

    matplotlib.use("Agg")  # no display on a server or in CI
    import matplotlib.pyplot as plt

    figure, (goodput, latency) = plt.subplots(1, 2, figsize=(10, 4), sharex=True)
    for name, rows in results.items():
        offered = [spiked.offered_rps for _, spiked, _ in rows]
        goodput.plot(offered, [spiked.timely_rps for _, spiked, _ in rows], "o-", label=name)
        p99 = [quantile(spiked.answered, 0.99) for _, spiked, _ in rows]
        latency.plot(offered, [None if q is None else q * 1000 for q in p99], "o-", label=name)
    goodput.axhline(capacity, linestyle="--", color="grey", label="capacity (closed loop)")
    goodput.set_ylabel(f"goodput (2xx within {TIMELY:g} s, per s)")
    latency.set_ylabel("p99 of the answered (ms)")
    latency.set_yscale("log")
    for axes in (goodput, latency):
        axes.set_xlabel("offered load (requests/s, open loop)")
        axes.grid(True, which="both", alpha=0.3)
        axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    print(f"plot: {path}")


if __name__ == "__main__":
    sys.exit(main())
