"""What metrics within seconds cost: CPU of the services, the Collector and Prometheus with the
SDK's default metric export interval (60 s) and with the stack's (5 s), at rest and under load.

    python -m bench.intervals [--seconds 120] [--rate 20]

Both variants run at once, each its own three services, Collector, Jaeger and Prometheus on free
ports (so this runs beside `make run`), against one PostgreSQL; every process's CPU time is read
with psutil over the same windows, so machine load drifting during the run hits both alike.
"""

import argparse
import asyncio
import json
import sys
from collections.abc import Callable

import psutil  # type: ignore[import-untyped]

from bench import environment, load
from devtools.stack.telemetry import Ports, Telemetry
from devtools.stack.versions import REPO

VARIANTS = {"60 s (SDK default)": "60000", "5 s (the stack's)": "5000"}


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def measure(
    stacks: dict[str, tuple[environment.Services, Telemetry]],
    window: Callable[[], None],
) -> dict[str, dict[str, float]]:
    """CPU seconds per variant and component spent while `window()` runs."""

    def sample() -> dict[str, dict[str, float]]:
        found: dict[str, dict[str, float]] = {}
        for label, (services, telemetry) in stacks.items():
            found[label] = {"services": services.cpu_seconds()}
            for name, backend in telemetry.backends.items():
                assert backend.process is not None
                found[label][name] = cpu_seconds([backend.process.pid])
        return found

    before = sample()
    window()
    after = sample()
    return {
        label: {part: round(after[label][part] - used, 2) for part, used in parts.items()}
        for label, parts in before.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="each window")
    parser.add_argument("--rate", type=float, default=20.0, help="orders and reads per second")
    args = parser.parse_args()
    # Each variant has its own Collector and Jaeger: a private stack's pair would be shared.
    with environment.private_stack("intervals", with_telemetry=False) as private:
        workdir = private.workdir
        stacks: dict[str, tuple[environment.Services, Telemetry]] = {}
        try:
            for i, (label, interval) in enumerate(VARIANTS.items()):
                telemetry = Telemetry(REPO, workdir / f"backends-{i}", Ports.free())
                telemetry.start()
                env = {**telemetry.service_env(), "OTEL_METRIC_EXPORT_INTERVAL": interval}
                services = environment.start_services(workdir / f"services-{i}", private, env)
                stacks[label] = (services, telemetry)
            workloads = {
                label: load.prepared_workload(services, 50)
                for label, (services, _) in stacks.items()
            }

            def at_rest() -> None:
                asyncio.run(asyncio.sleep(args.seconds))

            def under_load() -> None:
                async def both() -> None:
                    await asyncio.gather(
                        *(load.open_loop(w, args.rate, args.seconds) for w in workloads.values())
                    )

                asyncio.run(both())

            results = {
                "seconds": args.seconds,
                "rate_rps": args.rate,
                "at rest": measure(stacks, at_rest),
                "under load": measure(stacks, under_load),
            }
        finally:
            for services, telemetry in stacks.values():
                services.stop()
                telemetry.stop()
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
