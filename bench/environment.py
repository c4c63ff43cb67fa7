"""A private copy of the whole stack on free ports: PostgreSQL, Jaeger, the Collector, the services.

Other engineers and CI run the stack on its fixed ports (4317, 8000-8002, 16686, ...) on this
same machine, so nothing here binds them: Jaeger and the Collector run from the repository's
own configs plus an overlay written to a temp dir that moves every listener to a free port
(the Collector deep-merges several --config files, later ones win; lists are replaced whole).
"""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import yaml

from shopctl import stack
from shopctl.postgres import LocalPostgres

REPO = Path(__file__).resolve().parents[1]
TOOLS = REPO / ".tools" / "bin"
ADMIN_TOKEN = "bench-admin-token"
PRODUCTS = 100
# Enough stock that no benchmark run ever meets "out of stock" (a 409 would count as an error).
STOCK = 100_000_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_healthy(url: str, process: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{what} did not answer {url} within {timeout:.0f}s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _telemetry_reader(port: int) -> list[dict[str, object]]:
    # Same reader as the repository's configs, on loopback and a free port.
    exporter = {
        "host": "127.0.0.1",
        "port": port,
        "without_scope_info": True,
        "without_units": True,
        "without_type_suffix": True,
    }
    return [{"pull": {"exporter": {"prometheus": exporter}}}]


@dataclass
class Launch:
    """How a backend was started, so that it can be started again on the same ports."""

    name: str
    argv: list[str]
    health_url: str
    log: Path
    env: dict[str, str] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as log:
            process = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, env=self.env
            )
        wait_healthy(self.health_url, process, self.name, 60)
        return process


@dataclass
class Jaeger:
    query_url: str
    otlp_endpoint: str
    telemetry_url: str  # Jaeger's own metrics (otelcol_*_total)
    process: subprocess.Popen[bytes]
    launch: Launch


@dataclass
class Collector:
    otlp_url: str
    telemetry_url: str  # the Collector's own metrics (otelcol_*)
    exporter_url: str  # application metrics, including the SDKs' otel_sdk_* counters
    process: subprocess.Popen[bytes]
    launch: Launch


def revive(backend: Jaeger | Collector) -> bool:
    """Start a backend again if it died; whether it had to. On a shared machine someone's
    clean-up may kill processes by name (this happened during a run): the services keep
    their exporter settings, so the same ports make it transparent to them."""
    if backend.process.poll() is None:
        return False
    backend.process = backend.launch.start()
    return True


def start_jaeger(workdir: Path) -> Jaeger:
    otlp, query, query_grpc, health, metrics = (free_port() for _ in range(5))
    overlay = {
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{otlp}"}}}},
        "extensions": {
            "jaeger_query": {
                "http": {"endpoint": f"127.0.0.1:{query}"},
                "grpc": {"endpoint": f"127.0.0.1:{query_grpc}"},
            },
            "healthcheckv2": {"http": {"endpoint": f"127.0.0.1:{health}"}},
            # Every span of a run must still be there to be counted (searches ask for 100 000).
            "jaeger_storage": {"backends": {"memstore": {"memory": {"max_traces": 500_000}}}},
        },
        "service": {"telemetry": {"metrics": {"readers": _telemetry_reader(metrics)}}},
    }
    config = workdir / "jaeger-overlay.yaml"
    config.write_text(yaml.safe_dump(overlay))
    launch = Launch(
        "jaeger",
        [
            str(TOOLS / "jaeger"),
            f"--config={REPO / 'observability/jaeger/config.yaml'}",
            f"--config={config}",
        ],
        f"http://127.0.0.1:{health}/status",
        workdir / "jaeger.log",
    )
    return Jaeger(
        f"http://127.0.0.1:{query}",
        f"127.0.0.1:{otlp}",
        f"http://127.0.0.1:{metrics}/metrics",
        launch.start(),
        launch,
    )


def start_collector(workdir: Path, jaeger: Jaeger) -> Collector:
    grpc, http, exporter, health, telemetry = (free_port() for _ in range(5))
    overlay = {
        "receivers": {
            "otlp": {
                "protocols": {
                    "grpc": {"endpoint": f"127.0.0.1:{grpc}"},
                    "http": {"endpoint": f"127.0.0.1:{http}"},
                }
            }
        },
        "exporters": {
            "prometheus": {"endpoint": f"127.0.0.1:{exporter}"},
            "otlp_grpc/jaeger": {"endpoint": jaeger.otlp_endpoint},
        },
        "extensions": {"health_check": {"endpoint": f"127.0.0.1:{health}"}},
        "service": {"telemetry": {"metrics": {"readers": _telemetry_reader(telemetry)}}},
    }
    config = workdir / "collector-overlay.yaml"
    config.write_text(yaml.safe_dump(overlay))
    launch = Launch(
        "collector",
        [
            str(TOOLS / "otelcol-shop"),
            f"--config={REPO / 'collector/config.yaml'}",
            f"--config={config}",
        ],
        f"http://127.0.0.1:{health}/",
        workdir / "collector.log",
        # The repository config reads it; the overlay above sets the same value explicitly.
        env={**os.environ, "JAEGER_OTLP_ENDPOINT": jaeger.otlp_endpoint},
    )
    return Collector(
        f"http://127.0.0.1:{grpc}",
        f"http://127.0.0.1:{telemetry}/metrics",
        f"http://127.0.0.1:{exporter}/metrics",
        launch.start(),
        launch,
    )


def start_postgres(workdir: Path) -> LocalPostgres:
    """A fresh cluster, migrated with `shopctl db upgrade` and seeded with `shopctl seed`."""
    postgres = LocalPostgres(workdir / "postgres", free_port())
    postgres.start()
    shopctl = [sys.executable, "-m", "shopctl.cli"]
    env_url = ["--database-url", postgres.url]
    for command in (
        [*shopctl, "db", "upgrade", *env_url],
        [*shopctl, "seed", "--products", str(PRODUCTS), "--stock", str(STOCK), *env_url],
    ):
        subprocess.run(command, check=True, capture_output=True, cwd=REPO)
    return postgres


def telemetry_env(collector: Collector | None, sampling: float | None) -> dict[str, str]:
    """OTEL_* for a variant: None is no telemetry at all (OTEL_SDK_DISABLED), 0 is metrics
    without traces (the always_off sampler), else a head-sampling ratio."""
    if collector is None or sampling is None:
        return {"OTEL_SDK_DISABLED": "true"}
    sampler = {"OTEL_TRACES_SAMPLER": "always_off"}
    if sampling > 0:
        sampler = {
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": str(sampling),
        }
    return {
        "OTEL_SDK_DISABLED": "false",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.otlp_url,
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
            stop(process)


def start_services(
    workdir: Path,
    database_url: str,
    extra_env: dict[str, str],
    sync_order: bool = False,
    per_service_env: dict[str, dict[str, str]] | None = None,
) -> Services:
    """inventory and pricing as uvicorn processes; order as uvicorn, or the Flask baseline."""
    services = Services({name: free_port() for name in stack.PORTS})
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
