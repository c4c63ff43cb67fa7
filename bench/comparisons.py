"""The issue's four comparisons, measured side by side in one run on one private stack.

The four telemetry variants each get their own three services, all running at once, and
take turns round by round; each comparison reports the median round:
- off: OTEL_SDK_DISABLED=true, no SDK at all (no traces, no metrics);
- 0%: metrics as usual, but no trace is sampled (OTEL_TRACES_SAMPLER=always_off): the cost
  of the instrumentation and the metrics alone;
- 10% and 100%: head sampling at that ratio. Then, on those same stacks:
- fan-out (tracing off): 100 ms added in inventory and pricing, concurrent vs sequential;
- async vs the sync baseline (10% sampling, the same for both): 20 ms added, 50 clients;
- (--profile) py-spy on each service of the 100% variant at capacity;
- the span pipeline (100% sampling), once the variants have stopped: spans counted at each hop
  at the highest rate that the 100% variant's sweep sustained, on services of its own.
Last, on stacks of its own: open-loop spikes from 0.5x to 4x the capacity, with and without
admission control (bench.overload).
"""

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import httpx

from bench import environment, load, overload, pipeline, profiling
from bench.results import (
    AsyncVsSync,
    BenchmarkRun,
    DesignPair,
    Endpoint,
    FanOut,
    Machine,
    Profiles,
    Round,
    RunSize,
    SpanPipeline,
    SustainedRate,
    Tracing,
    TracingCost,
    TracingVariant,
)
from shopkit.scenarios import SEQUENTIAL_FANOUT, SLOW_DEPENDENCY, Delay, P, Scenario, Switch

FULL = RunSize(
    name="full",
    rounds=3,
    capacity_s=8,
    capacity_clients=32,
    step_s=8,
    sweep=(0.25, 0.5, 0.75, 0.9, 1.0, 1.2),
    fixed_fraction=0.5,
    fanout_s=5,
    sync_s=8,
    sync_latencies_ms=(20, 100),
    pipeline_s=30,
    orders=200,
)
QUICK = RunSize(
    name="quick",
    rounds=1,
    capacity_s=2,
    capacity_clients=16,
    step_s=1.5,
    sweep=(0.5, 1.0),
    fixed_fraction=0.5,
    fanout_s=2,
    sync_s=2,
    sync_latencies_ms=(20,),
    pipeline_s=3,
    orders=20,
)
# The overload comparison of each size, on stacks of its own: a quarter POST /orders, since the
# admission limit holds writes too.
OVERLOAD = {
    FULL.name: overload.Plan(
        multiples=(0.5, 1.0, 2.0, 4.0), seconds=10, get_share=0.75, capacity_s=FULL.capacity_s
    ),
    QUICK.name: overload.Plan(
        multiples=(2.0,),
        seconds=2,
        get_share=0.75,
        capacity_s=QUICK.capacity_s,
        recovery_s=1,
        orders=QUICK.orders,
    ),
}
SUSTAINED = SustainedRate()
FANOUT_INJECTED_MS = 100
FANOUT_CLIENTS = 4  # few enough that nothing queues, so p50 is pure path
SYNC_CLIENTS = 50


def run(size: RunSize, out: Path, with_profiles: bool = False) -> BenchmarkRun:
    """Every comparison on one private stack; with py-spy profiles of each service into `out`."""
    started, load_before = time.monotonic(), os.getloadavg()
    with environment.private_stack("bench", keep_logs=out / "logs") as private:
        telemetry = private.telemetry
        assert telemetry is not None, "a private stack starts Jaeger and the Collector by default"
        restarts: list[str] = []

        def revive_backends() -> None:
            restarts.extend(telemetry.revive())

        off, sampled_10, sampled_100 = Tracing.OFF, Tracing.SAMPLED_10, Tracing.SAMPLED_100
        with _tracing_variants(private) as stacks:
            workloads = {
                tracing: load.prepared_workload(services, size.orders)
                for tracing, services in stacks.items()
            }
            tracing_cost = _tracing_cost(size, stacks, workloads, revive_backends)
            fanout = _fanout(size, stacks[off], workloads[off].order_ids)
            async_vs_sync = _async_vs_sync(
                size,
                stacks[sampled_10],
                workloads[sampled_10],
                environment.telemetry_env(telemetry, sampled_10.sampling),
            )
            profiles = None
            if with_profiles:
                profiles = _profiles(size, stacks[sampled_100], workloads[sampled_100], out)
        # Alone: every span the Collector counts is one the pipeline's services counted.
        rate = tracing_cost.variants[sampled_100].highest_sustained_rps(SUSTAINED)
        span_pipeline = _pipeline(size, private, rate)
    overload_run, _ = overload.measure(OVERLOAD[size.name])
    return BenchmarkRun(
        run_size=size,
        sustained=SUSTAINED,
        tracing=tracing_cost,
        fanout=fanout,
        async_vs_sync=async_vs_sync,
        pipeline=span_pipeline,
        overload=overload_run,
        profiles=profiles,
        backend_restarts=tuple(restarts),
        machine=Machine(
            cpus=os.cpu_count(),
            load_average_1m_before=load_before[0],
            load_average_1m_after=os.getloadavg()[0],
        ),
        wall_clock_s=time.monotonic() - started,
    )


@contextmanager
def _tracing_variants(
    private: environment.PrivateStack,
) -> Iterator[dict[Tracing, environment.Services]]:
    """The four tracing variants' services, all running at once: each its own three."""
    stacks: dict[Tracing, environment.Services] = {}
    try:
        for tracing in Tracing:
            env = environment.telemetry_env(private.telemetry, tracing.sampling)
            workdir = private.workdir / tracing
            stacks[tracing] = environment.start_services(workdir, private, env)
        yield stacks
    finally:
        for services in stacks.values():
            services.stop()


def _tracing_cost(
    size: RunSize,
    stacks: dict[Tracing, environment.Services],
    workloads: dict[Tracing, load.Workload],
    revive_backends: Callable[[], None],
) -> TracingCost:
    """Capacity, p99 at a fixed rate and a sweep of rates, for each variant; the first two
    take turns round by round. The Collector and Jaeger are revived before each part."""
    revive_backends()
    capacity = load.take_turns(
        size.rounds,
        {
            tracing: partial(
                load.run_closed,
                services.cpu_seconds_by_service,
                workloads[tracing],
                size.capacity_clients,
                size.capacity_s,
            )
            for tracing, services in stacks.items()
        },
        median_by=lambda r: r.overall.throughput_rps,
    )
    # Rates are fractions of tracing-off capacity, so every variant sees the same load.
    base = capacity[Tracing.OFF].median.overall.throughput_rps
    fixed_rate = round(base * size.fixed_fraction, 1)
    revive_backends()
    fixed = load.take_turns(
        size.rounds,
        {
            tracing: partial(
                load.run_open,
                services.cpu_seconds_by_service,
                workloads[tracing],
                fixed_rate,
                size.step_s,
            )
            for tracing, services in stacks.items()
        },
        median_by=lambda r: r.overall.latency.p99_ms,
    )
    revive_backends()
    variants = {}
    for tracing, services in stacks.items():
        sweep = tuple(
            load.run_open(
                services.cpu_seconds_by_service,
                workloads[tracing],
                round(base * fraction, 1),
                size.step_s,
            )
            for fraction in size.sweep
        )
        variants[tracing] = TracingVariant(
            capacity=capacity[tracing], fixed_rate=fixed[tracing], sweep=sweep
        )
    return TracingCost(fixed_rate_rps=fixed_rate, variants=variants)


def _switch(services: environment.Services, name: str, scenario: Scenario[P], state: P) -> None:
    """Switch a fault scenario of one running service (its admin route), typed by the registry."""
    response = httpx.put(
        f"{services.url(name)}/admin/scenarios/{scenario.name}",
        content=state.model_dump_json(),
        headers={
            "Authorization": f"Bearer {services.provider.admin_token(name)}",
            "Content-Type": "application/json",
        },
        timeout=10,
    )
    response.raise_for_status()


def _slow_downstreams(services: environment.Services, latency_ms: int) -> None:
    for name in SLOW_DEPENDENCY.services:
        state = Delay(enabled=latency_ms > 0, latency_ms=latency_ms)
        _switch(services, name, SLOW_DEPENDENCY, state)


def _sequential_fanout(services: environment.Services, enabled: bool) -> None:
    _switch(services, "order", SEQUENTIAL_FANOUT, Switch(enabled=enabled))


def _fanout(size: RunSize, services: environment.Services, orders: list[str]) -> FanOut:
    """GET /orders/{id} only, with its two downstream calls slowed, concurrent vs sequential."""
    reads = load.Workload(services, orders, get_share=1.0)

    def read(sequential: bool) -> Round:
        _sequential_fanout(services, sequential)
        return load.run_closed(
            services.cpu_seconds_by_service, reads, FANOUT_CLIENTS, size.fanout_s
        )

    _slow_downstreams(services, FANOUT_INJECTED_MS)
    try:
        modes = load.take_turns(
            size.rounds,
            {"concurrent": lambda: read(False), "sequential": lambda: read(True)},
            median_by=lambda r: r.by_endpoint[Endpoint.READ_ORDER].latency.p50_ms,
        )
    finally:
        _sequential_fanout(services, False)
        _slow_downstreams(services, 0)
    return FanOut(
        injected_ms=FANOUT_INJECTED_MS,
        clients=FANOUT_CLIENTS,
        concurrent=modes["concurrent"],
        sequential=modes["sequential"],
    )


def _async_vs_sync(
    size: RunSize,
    services: environment.Services,
    workload: load.Workload,
    env: dict[str, str],
) -> AsyncVsSync:
    """Our order service against the Flask baseline, both calling the same inventory and
    pricing (with latency added to each), with the same telemetry environment."""
    sync = environment.start_sync_order(services, env)
    pairs = []
    try:
        designs = {
            "async": (services, workload),
            "sync": (sync, load.prepared_workload(sync, size.orders)),
        }
        for latency in size.sync_latencies_ms:
            _slow_downstreams(services, latency)
            medians = load.take_turns(
                size.rounds,
                {
                    design: partial(
                        load.run_closed,
                        target.cpu_seconds_by_service,
                        work,
                        SYNC_CLIENTS,
                        size.sync_s,
                    )
                    for design, (target, work) in designs.items()
                },
                median_by=lambda r: r.overall.throughput_rps,
            )
            pairs.append(
                DesignPair(
                    injected_ms=latency,
                    async_service=medians["async"],
                    sync_service=medians["sync"],
                )
            )
    finally:
        _slow_downstreams(services, 0)
        sync.stop("order")
    return AsyncVsSync(
        clients=SYNC_CLIENTS,
        sync_workers=environment.SYNC_WORKERS,
        at_goal_latency=pairs[0],
        at_other_latencies=tuple(pairs[1:]),
    )


def _pipeline(size: RunSize, private: environment.PrivateStack, rate: float) -> SpanPipeline:
    """Spans at each hop for one open-loop run at `rate`, 100% sampled, on three services of its
    own: only they run with the SDK's own span counters, which cost a measurement or three per
    span, so that every other comparison measures the services as they ship."""
    telemetry = private.telemetry
    assert telemetry is not None, "a private stack starts Jaeger and the Collector by default"
    env = environment.telemetry_env(telemetry, Tracing.SAMPLED_100.sampling, sdk_metrics=True)
    services = environment.start_services(private.workdir / "pipeline", private, env)
    try:
        workload = load.prepared_workload(services, size.orders)
        urls = (
            telemetry.collector_metrics,
            telemetry.collector_exporter,
            telemetry.jaeger_metrics,
            telemetry.jaeger_url,
        )
        revived = telemetry.revive()
        pipeline.wait_settled(telemetry.collector_metrics)
        # The SDKs' own counters reach the Collector with their metrics, every 2 s.
        time.sleep(5)
        before = pipeline.counters(*urls)
        result = load.run_open(services.cpu_seconds_by_service, workload, rate, size.pipeline_s)
        pipeline.wait_settled(telemetry.collector_metrics)
        time.sleep(5)
        # Read while the services run: stopping them flushes what they still hold.
        after = pipeline.counters(*urls)
    finally:
        services.stop()
    if not all(backend.running for backend in telemetry.backends.values()):
        raise RuntimeError("the Collector or Jaeger died during the span pipeline run")
    return SpanPipeline(
        rate_rps=rate,
        load=result,
        spans=after.since(before),
        backends_restarted=tuple(revived),
    )


def _profiles(
    size: RunSize, services: environment.Services, workload: load.Workload, out: Path
) -> Profiles:
    """py-spy on each service during one more capacity run (not used for any ratio: the
    sampler takes CPU from the same two cores)."""
    recorders = {
        name: profiling.record(process.pid, size.capacity_s, out / f"profile-{name}.txt")
        for name, process in services.processes.items()
    }
    result = load.run_closed(
        services.cpu_seconds_by_service, workload, size.capacity_clients, size.capacity_s
    )
    for recorder in recorders.values():
        recorder.wait(timeout=size.capacity_s + 60)
    return Profiles(
        load=result,
        services={name: profiling.summarize(out / f"profile-{name}.txt") for name in recorders},
    )
