"""A private copy of the whole stack on free ports: PostgreSQL, Jaeger, the Collector, the services.

Other engineers and CI run the stack on its fixed ports (4317, 8000-8002, 16686, ...) on this
same machine, so nothing here binds them. Jaeger and the Collector start through
shopctl.backends, the same launcher as `make run` and the tests.
"""

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import psutil  # type: ignore[import-untyped]

from shopctl import backends, stack
from shopctl.postgres import LocalPostgres

REPO = Path(__file__).resolve().parents[1]
ADMIN_TOKEN = "bench-admin-token"
PRODUCTS = 100
# Enough stock that no benchmark run ever meets "out of stock" (a 409 would count as an error).
STOCK = 100_000_000


def start_backends(workdir: Path) -> backends.Telemetry:
    """Jaeger and the Collector from the repository's configs, on free ports (shopctl.backends,
    the launcher of `make run` and the tests). No Prometheus: the benchmark reads the
    Collector's and Jaeger's own counters directly. Jaeger keeps 500 000 traces, so every span
    of a run is still there to be counted."""
    telemetry = backends.Telemetry(
        REPO, workdir, backends.Ports.free(), prometheus=False, jaeger_max_traces=500_000
    )
    telemetry.start()
    return telemetry


def start_postgres(workdir: Path) -> LocalPostgres:
    """A fresh cluster, migrated with `shopctl db upgrade` and seeded with `shopctl seed`."""
    postgres = LocalPostgres(workdir / "postgres", backends.free_port())
    postgres.start()
    shopctl = [sys.executable, "-m", "shopctl.cli"]
    env_url = ["--database-url", postgres.url]
    for command in (
        [*shopctl, "db", "upgrade", *env_url],
        [*shopctl, "seed", "--products", str(PRODUCTS), "--stock", str(STOCK), *env_url],
    ):
        subprocess.run(command, check=True, capture_output=True, cwd=REPO)
    return postgres


def telemetry_env(telemetry: backends.Telemetry | None, sampling: float | None) -> dict[str, str]:
    """OTEL_* for a variant: None is no telemetry at all (OTEL_SDK_DISABLED), 0 is metrics
    without traces (the always_off sampler), else a head-sampling ratio."""
    if telemetry is None or sampling is None:
        return {"OTEL_SDK_DISABLED": "true"}
    sampler = {"OTEL_TRACES_SAMPLER": "always_off"}
    if sampling > 0:
        sampler = {
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": str(sampling),
        }
    return {
        "OTEL_SDK_DISABLED": "false",
        "OTEL_EXPORTER_OTLP_ENDPOINT": telemetry.collector_otlp,
        **sampler,
        # The SDK's own counters (otel.sdk.processor.span.processed, with error.type=queue_full
        # for dropped spans) go out with the app metrics, read back from the Collector.
        "OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED": "true",
        "OTEL_METRIC_EXPORT_INTERVAL": "2000",
    }


@dataclass
class Services:
    """The three services (or the sync baseline in place of order), on free ports."""

    ports: dict[str, int]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def order_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['order']}"

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def cpu_seconds_by_service(self) -> dict[str, float]:
        """User + system CPU of each service's process and its children (uvicorn or gunicorn
        workers); a process that is gone counts what was read before it went."""
        seconds = dict.fromkeys(self.processes, 0.0)
        for name, process in self.processes.items():
            try:
                parent = psutil.Process(process.pid)
                for proc in [parent, *parent.children(recursive=True)]:
                    times = proc.cpu_times()
                    seconds[name] += times.user + times.system
            except psutil.NoSuchProcess:
                pass
        return seconds

    def cpu_seconds(self) -> float:
        return sum(self.cpu_seconds_by_service().values())

    def stop(self) -> None:
        for process in self.processes.values():
            stack.stop_service(process)


def start_services(
    workdir: Path,
    database_url: str,
    extra_env: dict[str, str],
    sync_order: bool = False,
    per_service_env: dict[str, dict[str, str]] | None = None,
) -> Services:
    """inventory and pricing as uvicorn processes; order as uvicorn, or the Flask baseline."""
    services = Services({name: backends.free_port() for name in stack.PORTS})
    logs = workdir / "logs"
    try:
        for name in ("inventory", "pricing", "order"):
            own = (per_service_env or {}).get(name, {})
            env = stack.service_env(
                name,
                database_url,
                services.ports,
                ADMIN_TOKEN,
                **{"LOG_LEVEL": "WARNING", **extra_env, **own},
            )
            log = logs / f"{name}{'-sync' if name == 'order' and sync_order else ''}.log"
            if name == "order" and sync_order:
                process = start_sync_order(services.ports["order"], env, log)
            else:
                process = stack.start_service(name, services.ports[name], env, log)
            services.processes[name] = process
        for name, process in services.processes.items():
            stack.wait_until_up(services.url(name), process, timeout=60)
    except BaseException:
        services.stop()
        raise
    return services


# The tutorial's production set-up: (2 x cores) + 1 sync workers, one request at a time each.
SYNC_WORKERS = 2 * (psutil.cpu_count() or 1) + 1


def start_sync_order(port: int, env: dict[str, str], log_file: Path) -> subprocess.Popen[bytes]:
    env = {**env, "DATABASE_URL": env["DATABASE_URL"].replace("+asyncpg", "+psycopg")}
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--worker-class",
        "sync",
        "--workers",
        str(SYNC_WORKERS),
        "--bind",
        f"127.0.0.1:{port}",
        "--timeout",
        "30",
        "bench.syncshop.app:create_app()",
    ]
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        return subprocess.Popen(command, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
