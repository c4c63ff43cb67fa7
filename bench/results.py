"""What the benchmark measured, as types: results.json is their dump, results.md their table.

The report, the goals and the tests read attributes that mypy checks, never string keys.
A number that could not be measured (a percentile of no requests, a ratio over zero) is None:
never a zero, never a NaN (which is not JSON).
"""

import json
from collections.abc import Callable
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict


class Result(BaseModel):
    """Immutable, keyword-only, and read back from results.json by `model_validate_json`."""

    model_config = ConfigDict(frozen=True)


class Endpoint(StrEnum):
    """The two requests of the workload, named as the report's columns name them."""

    CREATE_ORDER = "POST /orders"
    READ_ORDER = "GET /orders/{id}"


def _percentile_ms(seconds: list[float], q: float) -> float | None:
    """Nearest-rank percentile, in ms."""
    if not seconds:
        return None
    ordered = sorted(seconds)
    rank = max(1, round(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1] * 1000


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return None if numerator is None or not denominator else numerator / denominator


class Latency(Result):
    """Percentiles of the answered requests' latencies; None when none was answered."""

    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None

    @classmethod
    def of(cls, seconds: list[float]) -> "Latency":
        return cls(
            p50_ms=_percentile_ms(seconds, 50),
            p95_ms=_percentile_ms(seconds, 95),
            p99_ms=_percentile_ms(seconds, 99),
        )


class Requests(Result):
    """What one kind of request, or all of them, got in one round."""

    answered: int  # without an error
    throughput_rps: float  # answered per second
    latency: Latency
    errors: int


class Round(Result):
    """One run of load against one set of services: a closed-loop round or an open-loop step."""

    offered_rps: float | None  # None: closed loop
    duration_s: float
    by_endpoint: dict[Endpoint, Requests]
    overall: Requests
    # What the errors were: the endpoint and an HTTP status or the client's exception.
    error_reasons: dict[str, int]
    # User + system CPU of each service's processes over the round, per answered request.
    cpu_ms_per_request_by_service: dict[str, float]
    cpu_ms_per_request: float  # all services
    # The generator shares the cores with the services: what it costs, per request sent.
    loadgen_cpu_ms_per_request: float

    @property
    def error_rate(self) -> float:
        return self.overall.errors / max(1, self.overall.answered + self.overall.errors)


class Repeated(Result):
    """One measurement taken several times, in turn with the other variants, and its median
    round: the middle one by the number that the comparison is about."""

    median: Round
    rounds: tuple[Round, ...]

    @classmethod
    def of(cls, rounds: list[Round], by: Callable[[Round], float | None]) -> "Repeated":
        # A number that is missing sorts last, like the worst measurement.
        def key(r: Round) -> float:
            value = by(r)
            return float("inf") if value is None else value

        return cls(median=sorted(rounds, key=key)[len(rounds) // 2], rounds=tuple(rounds))


class RunSize(Result):
    """How long and how often each comparison runs (comparisons.FULL and QUICK)."""

    name: str
    rounds: int  # side-by-side measurements alternate between variants this many times
    capacity_s: float  # one closed-loop capacity round
    capacity_clients: int
    step_s: float  # one open-loop step: a fixed-rate round, a step of a sweep
    sweep: tuple[float, ...]  # offered rates, as fractions of the tracing-off capacity
    fixed_fraction: float  # the fixed rate of the p99 comparison, same unit
    fanout_s: float  # one fan-out round
    sync_s: float  # one async-vs-sync round
    sync_latencies_ms: tuple[int, ...]  # injected in inventory and pricing; the first is the goal's
    pipeline_s: float
    orders: int  # created first, for the GETs to read


class SustainedRate(Result):
    """A step "sustains" its rate when nearly everything offered was answered, fast enough,
    without errors: the usual definition of the knee of a latency/throughput curve."""

    min_achieved_share: float = 0.95
    max_error_rate: float = 0.01
    max_p99_ms: float = 1000.0

    def holds(self, step: Round) -> bool:
        p99 = step.overall.latency.p99_ms
        return (
            step.offered_rps is not None
            and step.overall.throughput_rps >= self.min_achieved_share * step.offered_rps
            and step.error_rate <= self.max_error_rate
            and p99 is not None
            and p99 <= self.max_p99_ms
        )


class Tracing(StrEnum):
    """The four telemetry variants, by their label in the report."""

    OFF = "off"  # OTEL_SDK_DISABLED=true: no SDK at all, no traces, no metrics
    UNSAMPLED = "0%"  # metrics and instrumentation, but no trace sampled (always_off)
    SAMPLED_10 = "10%"  # head sampling at that ratio
    SAMPLED_100 = "100%"

    @property
    def sampling(self) -> float | None:
        """The head-sampling ratio; None for no SDK (bench.environment.telemetry_env's unit)."""
        return {
            Tracing.OFF: None,
            Tracing.UNSAMPLED: 0.0,
            Tracing.SAMPLED_10: 0.1,
            Tracing.SAMPLED_100: 1.0,
        }[self]


class TracingVariant(Result):
    capacity: Repeated  # closed loop, median by throughput
    fixed_rate: Repeated  # open loop at TracingCost.fixed_rate_rps, median by p99
    sweep: tuple[Round, ...]  # open loop at RunSize.sweep's rates, once each

    def highest_sustained_rps(self, rule: SustainedRate) -> float:
        """The sweep's highest rate that `rule` holds for, or its lowest if none."""
        steps = [(step.offered_rps or 0.0, rule.holds(step)) for step in self.sweep]
        sustained = [rate for rate, holds in steps if holds]
        return max(sustained) if sustained else min(rate for rate, _ in steps)


class TracingCost(Result):
    """The cost of tracing: the same load on the four variants, side by side."""

    fixed_rate_rps: float
    variants: dict[Tracing, TracingVariant]

    def throughput_ratio(self, numerator: Tracing, denominator: Tracing) -> float | None:
        def capacity(tracing: Tracing) -> float:
            return self.variants[tracing].capacity.median.overall.throughput_rps

        return _ratio(capacity(numerator), capacity(denominator))

    def cpu_per_request_ratio(self, numerator: Tracing, denominator: Tracing) -> float | None:
        def cpu(tracing: Tracing) -> float:
            return self.variants[tracing].capacity.median.cpu_ms_per_request

        return _ratio(cpu(numerator), cpu(denominator))

    def fixed_rate_p99_ratio(self, numerator: Tracing, denominator: Tracing) -> float | None:
        def p99(tracing: Tracing) -> float | None:
            return self.variants[tracing].fixed_rate.median.overall.latency.p99_ms

        return _ratio(p99(numerator), p99(denominator))


class FanOut(Result):
    """GET /orders/{id} with latency injected in inventory and pricing, called concurrently
    or one after the other; median by p50."""

    injected_ms: int
    clients: int
    concurrent: Repeated
    sequential: Repeated

    @property
    def p50_sequential_over_concurrent(self) -> float | None:
        def p50(mode: Repeated) -> float | None:
            return mode.median.by_endpoint[Endpoint.READ_ORDER].latency.p50_ms

        return _ratio(p50(self.sequential), p50(self.concurrent))


class DesignPair(Result):
    """Our order service and the synchronous baseline at one injected latency; median by
    throughput."""

    injected_ms: int
    async_service: Repeated
    sync_service: Repeated

    @property
    def throughput_async_over_sync(self) -> float | None:
        return _ratio(
            self.async_service.median.overall.throughput_rps,
            self.sync_service.median.overall.throughput_rps,
        )

    @property
    def p99_sync_over_async(self) -> float | None:
        return _ratio(
            self.sync_service.median.overall.latency.p99_ms,
            self.async_service.median.overall.latency.p99_ms,
        )


class AsyncVsSync(Result):
    clients: int
    sync_workers: int
    at_goal_latency: DesignPair  # the goal is stated at this one
    at_other_latencies: tuple[DesignPair, ...]  # where the design rather than the CPU may limit


class SpanCounts(Result):
    """Spans counted at each hop, from each one's own counters (see bench.pipeline)."""

    sdk_spans_processed: float
    sdk_spans_dropped: float
    sdk_spans_export_failed: float
    collector_accepted_spans: float
    collector_refused_spans: float
    collector_sent_spans_to_jaeger: float
    collector_send_failed_spans: float
    collector_enqueue_failed_spans: float
    jaeger_received_spans: float
    jaeger_refused_spans: float
    jaeger_spans: float  # read back through Jaeger's query API

    def since(self, before: "SpanCounts") -> "SpanCounts":
        """The counts between two snapshots of these cumulative counters."""
        now, then = self.model_dump(), before.model_dump()
        return SpanCounts(**{name: now[name] - then[name] for name in now})

    @property
    def lost(self) -> float:
        return (
            self.sdk_spans_dropped
            + self.sdk_spans_export_failed
            + self.collector_refused_spans
            + self.collector_send_failed_spans
            + self.collector_enqueue_failed_spans
            + self.jaeger_refused_spans
        )


class SpanPipeline(Result):
    """One open-loop run with 100% sampling at the highest sustained rate, spans counted."""

    rate_rps: float
    load: Round
    spans: SpanCounts
    backends_restarted: tuple[str, ...]


class Admission(StrEnum):
    """The overload comparison's two stacks."""

    ON = "admission control"  # as shipped
    OFF = "none"  # ADMISSION_ENABLED=false


class OverloadSpike(Result):
    """What the clients of one open-loop spike saw (bench.overload), then the half-capacity
    load right after it. Goodput counts 2xx answers; "timely" only those within 1 s."""

    admission: str  # an Admission, or a `bench.overload --variant` name
    multiple: float  # of OverloadRun.capacity_rps
    offered_rps: float
    goodput_rps: float
    timely_goodput_rps: float
    answered_p99_ms: float | None
    shed: int  # 503 and 504 answers
    shed_p99_ms: float | None
    client_timeouts: int
    probes_p99_ms: float | None  # /healthz and /readyz, polled during the spike
    after_p99_ms: float | None


class OverloadRun(Result):
    """Spikes from below to far above the capacity, with and without admission control."""

    capacity_rps: float  # closed loop, 32 clients, on the stack without admission control
    get_share: float  # of GET /orders/{id}; the rest POST /orders
    spike_s: float
    recovery_s: float  # at half the capacity, right after each spike
    spikes: tuple[OverloadSpike, ...]

    def spike(self, admission: str, multiple: float) -> OverloadSpike | None:
        """The last spike of that stack at that multiple."""
        found = [s for s in self.spikes if s.admission == admission and s.multiple == multiple]
        return found[-1] if found else None

    def goodput_over_capacity(self, admission: str, multiple: float) -> float | None:
        spike = self.spike(admission, multiple)
        return None if spike is None else _ratio(spike.timely_goodput_rps, self.capacity_rps)


class FrameShare(Result):
    frame: str  # `function (library/module.py:line)`
    share: float  # of all samples


class ProfileSummary(Result):
    """One service's py-spy profile, summed (bench.profiling)."""

    samples: int
    library_shares: dict[str, float]  # by the innermost library on each stack, largest first
    top_self_frames: tuple[FrameShare, ...]


class Profiles(Result):
    """py-spy on each service during one more capacity run."""

    load: Round
    services: dict[str, ProfileSummary]


class Machine(Result):
    # A load average well above the benchmark's own ~2 means others shared the two cores.
    cpus: int | None
    load_average_1m_before: float
    load_average_1m_after: float


class BenchmarkRun(Result):
    """Everything one `python -m bench` measured."""

    run_size: RunSize
    sustained: SustainedRate
    tracing: TracingCost
    fanout: FanOut
    async_vs_sync: AsyncVsSync
    pipeline: SpanPipeline
    # None in runs from before issue 19, such as docs/benchmarks/results.json of 2026-11-26.
    overload: OverloadRun | None = None
    profiles: Profiles | None  # with --profile only
    backend_restarts: tuple[str, ...]  # the Collector or Jaeger, revived between comparisons
    machine: Machine
    wall_clock_s: float


class Ratio(Result):
    """A number the issue's goals are stated in, with its goal if it has one."""

    value: float | None
    goal: tuple[Literal[">=", "=="], float] | None = None

    @property
    def met(self) -> bool | None:
        if self.goal is None:
            return None
        if self.value is None:
            return False
        op, target = self.goal
        return self.value >= target if op == ">=" else self.value == target

    @property
    def goal_text(self) -> str | None:
        return None if self.goal is None else f"{self.goal[0]} {self.goal[1]}"


def ratios(run: BenchmarkRun) -> dict[str, Ratio]:
    """The issue's goals and the numbers beside them, by the names the report shows."""
    tracing, pair = run.tracing, run.async_vs_sync.at_goal_latency
    off, unsampled, ten, hundred = (
        Tracing.OFF,
        Tracing.UNSAMPLED,
        Tracing.SAMPLED_10,
        Tracing.SAMPLED_100,
    )
    spans = run.pipeline.spans
    found = {
        "fanout_p50_sequential_over_concurrent": Ratio(
            value=run.fanout.p50_sequential_over_concurrent,
            goal=(">=", 1.93),  # issue 10: the ideal is 2.0
        ),
        "throughput_10pct_over_off": Ratio(
            value=tracing.throughput_ratio(ten, off), goal=(">=", 0.95)
        ),
        "throughput_100pct_over_off": Ratio(
            value=tracing.throughput_ratio(hundred, off), goal=(">=", 0.85)
        ),
        # The same goals against tracing off with the metrics kept, as production runs it.
        "throughput_10pct_over_0pct": Ratio(
            value=tracing.throughput_ratio(ten, unsampled), goal=(">=", 0.95)
        ),
        "throughput_100pct_over_0pct": Ratio(
            value=tracing.throughput_ratio(hundred, unsampled), goal=(">=", 0.85)
        ),
        "throughput_0pct_over_off": Ratio(value=tracing.throughput_ratio(unsampled, off)),
        # CPU per request hardly depends on what else runs on the machine, unlike throughput;
        # on CPU-bound services throughput ~ cores / CPU per request, so these predict it.
        "cpu_per_request_off_over_10pct": Ratio(value=tracing.cpu_per_request_ratio(off, ten)),
        "cpu_per_request_off_over_100pct": Ratio(value=tracing.cpu_per_request_ratio(off, hundred)),
        "p99_fixed_rate_10pct_over_off": Ratio(value=tracing.fixed_rate_p99_ratio(ten, off)),
        "p99_fixed_rate_100pct_over_off": Ratio(value=tracing.fixed_rate_p99_ratio(hundred, off)),
        "async_over_sync_throughput": Ratio(
            value=pair.throughput_async_over_sync, goal=(">=", 3.0)
        ),
        "sync_over_async_p99": Ratio(value=pair.p99_sync_over_async),
        "pipeline_spans_lost": Ratio(value=spans.lost, goal=("==", 0.0)),
        "pipeline_jaeger_over_sdk_spans": Ratio(
            value=_ratio(spans.jaeger_spans, spans.sdk_spans_processed)
        ),
    }
    if run.overload is not None:
        # Issue 19's goal, at the highest multiple measured (4x in a full run).
        top = max(spike.multiple for spike in run.overload.spikes)
        found[f"overload_goodput_at_{top:g}x_over_capacity"] = Ratio(
            value=run.overload.goodput_over_capacity(Admission.ON, top), goal=(">=", 0.9)
        )
        found[f"overload_goodput_at_{top:g}x_over_capacity_without_admission"] = Ratio(
            value=run.overload.goodput_over_capacity(Admission.OFF, top)
        )
    for other in run.async_vs_sync.at_other_latencies:
        found[f"async_over_sync_throughput_at_{other.injected_ms}ms"] = Ratio(
            value=other.throughput_async_over_sync
        )
    return found


def to_json(run: BenchmarkRun) -> str:
    """results.json: every measurement, then the ratios. The ratios are derived, so
    `BenchmarkRun.model_validate_json` reads the file back without them."""
    derived = {
        name: {"value": ratio.value, "goal": ratio.goal_text, "met": ratio.met}
        for name, ratio in ratios(run).items()
    }
    # allow_nan=False: a NaN that slipped through fails here rather than writing invalid JSON.
    return json.dumps({**run.model_dump(mode="json"), "ratios": derived}, indent=2, allow_nan=False)
