"""`python -m bench.overload`: the shop under an open-loop spike, with and without admission
control, side by side (docs/overload.md, docs/benchmarks.md "Overload").

Stacks on one private PostgreSQL: one as shipped, one with `ADMISSION_ENABLED=false`, and one
per `--variant` (settings, or older code: `PYTHONPATH=<its worktree>/services`). The capacity
is the closed-loop throughput of the spikes' workload on the stack without admission control
(32 clients), as issue 19 measured it. Then, for each multiple of that capacity and each stack in
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
`make bench` runs `measure` from 0.5x to 4x, a quarter `POST /orders`, into its results.
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

from bench import environment, load, profiling, report
from bench.load import Workload
from bench.openloop import Request, open_loop
from bench.results import Admission, OverloadRun, OverloadSpike
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


# (admission, multiple, the spike, the half-capacity load after it), in the order run.
Spikes = list[tuple[str, float, Spike, Spike]]


@dataclass(frozen=True)
class Plan:
    """What to run: spikes at `multiples` of the capacity, each `seconds` long, on each stack
    in turn; `recovery_s` at half the capacity after each."""

    multiples: tuple[float, ...]
    seconds: float
    get_share: float = 1.0
    sampling: float | None = 1.0  # as bench.environment.telemetry_env; None: SDK disabled
    capacity: float | None = None  # requests/s; None: measured
    capacity_s: float = 10.0
    recovery_s: float = RECOVERY_SECONDS
    orders: int = 200
    variants: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    profile: Path | None = None


def measure(plan: Plan) -> tuple[OverloadRun, Spikes]:
    """The spikes of `plan` on private stacks: with admission control, without, and one per
    extra variant. Returns their summary and every spike as measured."""
    stacks_env: dict[str, dict[str, dict[str, str]]] = {
        Admission.ON: {},
        Admission.OFF: {service: {"ADMISSION_ENABLED": "false"} for service in PORTS},
        **plan.variants,
    }
    spikes: Spikes = []
    with environment.private_stack("overload", with_telemetry=plan.sampling is not None) as private:
        telemetry = environment.telemetry_env(private.telemetry, plan.sampling)
        stacks: dict[str, environment.Services] = {}
        try:
            for i, (name, env) in enumerate(stacks_env.items()):
                folder = private.workdir / f"variant-{i}"
                stacks[name] = environment.start_services(
                    folder, private, {**telemetry, "ADMISSION_ENABLED": "true"}, env
                )
            workloads = {
                name: load.prepared_workload(stack, plan.orders, plan.get_share)
                for name, stack in stacks.items()
            }
            capacity = plan.capacity
            if capacity is None:
                cpu = stacks[Admission.OFF].cpu_seconds_by_service
                unlimited = workloads[Admission.OFF]
                load.run_closed(cpu, unlimited, 32, min(2.0, plan.capacity_s))  # warm-up
                closed = load.run_closed(cpu, unlimited, 32, plan.capacity_s)
                capacity = closed.overall.throughput_rps
            print(f"capacity (closed loop, 32 clients, no admission control): {capacity:.0f}/s")
            for multiple in plan.multiples:
                for i, (name, services) in enumerate(stacks.items()):
                    profile = None
                    if plan.profile:
                        profile = plan.profile / f"variant-{i}-{multiple:g}x.txt"
                    spiked, after = run_variant(
                        name, services, workloads[name], multiple, capacity, plan, profile
                    )
                    spikes.append((name, multiple, spiked, after))
        finally:
            for services in stacks.values():
                services.stop()
    run = OverloadRun(
        capacity_rps=capacity,
        get_share=plan.get_share,
        spike_s=plan.seconds,
        recovery_s=plan.recovery_s,
        spikes=tuple(summary(*measured) for measured in spikes),
    )
    return run, spikes


def summary(admission: str, multiple: float, spiked: Spike, after: Spike) -> OverloadSpike:
    def ms(values: list[float]) -> float | None:
        found = quantile(values, 0.99)
        return None if found is None else found * 1000

    return OverloadSpike(
        admission=admission,
        multiple=multiple,
        offered_rps=spiked.offered_rps,
        goodput_rps=spiked.goodput_rps,
        timely_goodput_rps=spiked.timely_rps,
        answered_p99_ms=ms(spiked.answered),
        shed=len(spiked.shed),
        shed_p99_ms=ms(spiked.shed),
        client_timeouts=spiked.outcomes["timeout"],
        probes_p99_ms=ms(spiked.probes),
        after_p99_ms=ms(after.answered),
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
    plan = Plan(
        multiples=tuple(args.multiples),
        seconds=args.seconds,
        get_share=args.get_share,
        sampling=None if args.sampling < 0 else args.sampling,
        capacity=args.capacity,
        variants=dict(parse_variant(spec) for spec in args.variant),
        profile=args.profile,
    )
    run, spikes = measure(plan)
    print(HEADER)
    for measured in spikes:  # by multiple, the stacks side by side
        print(row(*measured))
    if args.plot:
        report.overload_plot(run, args.plot)
        print(f"plot: {args.plot}")
    return 0


def run_variant(
    name: str,
    services: environment.Services,
    workload: Workload,
    multiple: float,
    capacity: float,
    plan: Plan,
    profile: Path | None,
) -> tuple[Spike, Spike]:
    """One spike at `multiple` x `capacity`, and the half-capacity load after it."""
    port = services.ports["order"]
    spy = None
    if profile is not None:
        profile.parent.mkdir(parents=True, exist_ok=True)
        spy = profiling.record(services.processes["order"].pid, plan.seconds, profile)
    rate = multiple * capacity
    spiked = measured(services, lambda: asyncio.run(spike(workload, rate, plan.seconds, port)))
    if spy is not None and profile is not None:
        spy.wait()
        print(name, profiling.summarize(profile))
    after = asyncio.run(spike(workload, capacity / 2, plan.recovery_s, port))
    tail = {q: quantile(spiked.shed, q) for q in (0.5, 0.9, 0.99, 0.999)}
    shed_ms = {q: None if v is None else round(v * 1000) for q, v in tail.items()}
    print(row(name, multiple, spiked, after), dict(spiked.outcomes), dict(spiked.reasons))
    print(f"  503s' latency by quantile (ms): {shed_ms}", flush=True)
    settle(workload)
    return spiked, after


if __name__ == "__main__":
    sys.exit(main())
