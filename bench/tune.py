"""`python -m bench.tune`: measure configuration variants of the services side by side.

Each variant is a set of environment variables for the three services (every knob is one:
`UVICORN_WORKERS`, `UVICORN_LOOP`, `UVICORN_HTTP`, `DB_POOL_SIZE`, `HTTP_MAX_CONNECTIONS`,
`OTEL_BSP_*`, ...; a `service.` prefix sets it for that service only). All variants run at
once on one private stack and take turns, round by round, at the same closed-loop load; the
median round of each is reported as capacity and CPU milliseconds per request, per service.

    python -m bench.tune --sampling 1.0 baseline 'pool10: HTTP_MAX_CONNECTIONS=10' \\
        'two-order-workers: order.UVICORN_WORKERS=2'

`--get-share 1` measures only `GET /orders/{id}`, `--get-share 0` only `POST /orders`.
`--profile DIR` adds one round per variant, after the measured ones, with py-spy sampling each
service (`DIR/<variant>-<service>.txt`, raw stacks) and the requests it answered
(`DIR/requests.json`): `python -m bench.callsites DIR a b` compares two variants by call site.

A code change is measured the same way: check the old version out in a worktree and run a
variant with `PYTHONPATH=<worktree>/services`, which takes precedence over the installed code.
"""

import argparse
import json
import sys
from functools import partial
from pathlib import Path

from bench import environment, load, profiling
from bench.results import Repeated, Result
from devtools.stack import services as stack

# py-spy's samples per second in --profile rounds: at 100 Hz a sample is 5-10 µs of a
# request in an 8-s round, too coarse for call sites of a few µs.
PROFILE_RATE = 250


class Variant(Result):
    env: dict[str, dict[str, str]]  # by service
    measured: Repeated  # median by CPU per request


class Tuning(Result):
    """results.json of `python -m bench.tune`."""

    sampling: float
    clients: int
    seconds: float
    rounds: int
    get_share: float
    variants: dict[str, Variant]


def parse_variant(spec: str) -> tuple[str, dict[str, dict[str, str]]]:
    """'name: KEY=V order.KEY=V' -> (name, {service: env}); no colon means no changes."""
    name, _, assignments = spec.partition(":")
    env: dict[str, dict[str, str]] = {service: {} for service in stack.PORTS}
    for assignment in assignments.split():
        key, sep, value = assignment.partition("=")
        if not sep:
            raise SystemExit(f"variant {name!r}: {assignment!r} is not KEY=VALUE")
        service, dot, variable = key.partition(".")
        targets = [service] if dot and service in stack.PORTS else list(stack.PORTS)
        for target in targets:
            env[target][variable if dot and service in stack.PORTS else key] = value
    return name.strip(), env


def measure(
    stacks: dict[str, environment.Services],
    workloads: dict[str, load.Workload],
    clients: int,
    seconds: float,
    rounds: int,
) -> dict[str, Repeated]:
    return load.take_turns(
        rounds,
        {
            name: partial(
                load.run_closed, services.cpu_seconds_by_service, workloads[name], clients, seconds
            )
            for name, services in stacks.items()
        },
        median_by=lambda r: r.cpu_ms_per_request,
    )


def profile(
    stacks: dict[str, environment.Services],
    workloads: dict[str, load.Workload],
    clients: int,
    seconds: float,
    into: Path,
) -> None:
    """One more round per variant, each service sampled by py-spy (not used for any number of
    the table: the sampler takes CPU from the same cores), and the CPU of each of its threads
    by name: py-spy sees Python frames only, a native thread (gRPC's) only in /proc."""
    into.mkdir(parents=True, exist_ok=True)
    answered: dict[str, int] = {}
    threads: dict[str, dict[str, dict[str, float]]] = {}
    for name, services in stacks.items():
        pids = {service: process.pid for service, process in services.processes.items()}
        recorders = [
            profiling.record(pid, seconds, into / f"{name}-{service}.txt", rate=PROFILE_RATE)
            for service, pid in pids.items()
        ]
        before = {service: profiling.thread_cpu_seconds(pid) for service, pid in pids.items()}
        result = load.run_closed(services.cpu_seconds_by_service, workloads[name], clients, seconds)
        after = {service: profiling.thread_cpu_seconds(pid) for service, pid in pids.items()}
        for recorder in recorders:
            recorder.wait(timeout=seconds + 60)
        answered[name] = requests = max(1, result.overall.answered)
        threads[name] = {
            service: {
                thread: round(1e6 * (used - before[service].get(thread, 0.0)) / requests, 1)
                for thread, used in sorted(after[service].items())
            }
            for service in pids
        }
    (into / "requests.json").write_text(json.dumps(answered, indent=2))
    (into / "threads.json").write_text(json.dumps(threads, indent=2))


def table(measured: dict[str, Repeated]) -> str:
    lines = [
        "| variant | req/s | p50 / p99 ms | errors | CPU ms/request | order | inventory | pricing |"
        " rounds (CPU ms/request) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    errors = []
    for name, repeated in measured.items():
        median = repeated.median
        overall, per = median.overall, median.cpu_ms_per_request_by_service
        rounds = ", ".join(f"{r.cpu_ms_per_request:.1f}" for r in repeated.rounds)
        lines.append(
            f"| {name} | {overall.throughput_rps:.1f} | {_ms(overall.latency.p50_ms)} / "
            f"{_ms(overall.latency.p99_ms)} | {overall.errors} | {median.cpu_ms_per_request:.2f}"
            f" | {per['order']:.2f} | {per['inventory']:.2f} | {per['pricing']:.2f} | {rounds} |"
        )
        if overall.errors:
            errors.append(f"{name}: {median.error_reasons}")
    return "\n".join(lines + errors)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tune", description=__doc__)
    parser.add_argument("variants", nargs="+", help="'name: KEY=VALUE service.KEY=VALUE ...'")
    parser.add_argument(
        "--sampling",
        type=float,
        default=1.0,
        help="head-sampling ratio; 0: metrics but no traces; -1: SDK disabled",
    )
    parser.add_argument("--clients", type=int, default=32, help="closed-loop concurrency")
    parser.add_argument("--seconds", type=float, default=8.0, help="one round of one variant")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--get-share",
        type=float,
        default=0.5,
        help="share of GET /orders/{id} in the mix (1: only reads, 0: only new orders)",
    )
    parser.add_argument("--out", type=Path, help="a folder for results.json and the logs")
    parser.add_argument(
        "--profile", type=Path, help="a folder for py-spy's stacks of one more round per variant"
    )
    parser.add_argument("--profile-seconds", type=float, default=20.0, help="that round's length")
    args = parser.parse_args()
    variants = dict(parse_variant(spec) for spec in args.variants)

    with environment.private_stack("tune", keep_logs=args.out) as private:
        stacks: dict[str, environment.Services] = {}
        try:
            sampling = None if args.sampling < 0 else args.sampling
            telemetry = environment.telemetry_env(private.telemetry, sampling)
            for name, env in variants.items():
                stacks[name] = environment.start_services(
                    private.workdir / name, private, telemetry, per_service_env=env
                )
            workloads = {
                name: load.prepared_workload(services, 200, args.get_share)
                for name, services in stacks.items()
            }
            # One unmeasured round: first requests pay imports, pool growth and statement caches.
            measure(stacks, workloads, args.clients, 2, 1)
            measured = measure(stacks, workloads, args.clients, args.seconds, args.rounds)
            if args.profile:
                profile(stacks, workloads, args.clients, args.profile_seconds, args.profile)
        finally:
            for services in stacks.values():
                services.stop()
    print(table(measured))
    if args.out:
        tuning = Tuning(
            sampling=args.sampling,
            clients=args.clients,
            seconds=args.seconds,
            rounds=args.rounds,
            get_share=args.get_share,
            variants={
                name: Variant(env=variants[name], measured=repeated)
                for name, repeated in measured.items()
            },
        )
        (args.out / "results.json").write_text(tuning.model_dump_json(indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
