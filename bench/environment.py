"""What the benchmark adds to the local stack of devtools.stack: a throw-away private stack, its
data, its telemetry variants, the CPU its services use, and the sync baseline in place of the
order service.

Every process starts through devtools.stack, on free ports, so a run never touches a stack on
the README's ports (`make run`, another engineer's, CI's) on the same machine.
"""

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from devtools.stack import hydra, processes, services, telemetry
from devtools.stack.postgres import LocalPostgres
from devtools.stack.versions import REPO

PRODUCTS = 100
# Enough stock that no benchmark run ever meets "out of stock" (a 409 would count as an error).
STOCK = 100_000_000


@dataclass(frozen=True)
class PrivateStack:
    """A run's own work folder and backends: nothing of them is shared with another stack."""

    workdir: Path
    postgres: LocalPostgres
    telemetry: telemetry.Telemetry | None
    provider: hydra.Hydra  # the OpenID Connect provider whose tokens the services accept


@contextmanager
def private_stack(
    name: str, *, with_telemetry: bool = True, keep_logs: Path | None = None
) -> Iterator[PrivateStack]:
    """A throw-away folder with PostgreSQL (migrated and seeded), ORY Hydra and, `with_telemetry`,
    Jaeger and the Collector. Stop the services started in the block before it ends; the backends
    stop at its end whatever happened, and the tail of every log goes to `keep_logs`."""
    with tempfile.TemporaryDirectory(prefix=f"shop-{name}-") as folder:
        workdir = Path(folder)
        workdir.chmod(0o755)  # PostgreSQL runs as `postgres` when we are root
        postgres = start_postgres(workdir)
        backends = None
        provider = hydra.Hydra(REPO, workdir / "hydra", hydra.Ports.free())
        try:
            provider.start()
            if with_telemetry:
                backends = start_backends(workdir / "backends")
            yield PrivateStack(workdir, postgres, backends, provider)
        finally:
            if backends is not None:
                backends.stop()
            provider.stop()
            postgres.stop()
            if keep_logs is not None:
                _keep_log_tails(workdir, keep_logs)


def _keep_log_tails(workdir: Path, into: Path) -> None:
    """`<variant>/logs/order.log` as `<variant>-order.log`: the last 200 kB of each."""
    into.mkdir(parents=True, exist_ok=True)
    for log in workdir.rglob("*.log"):
        parts = [part for part in log.relative_to(workdir).parts if part != "logs"]
        (into / "-".join(parts)).write_bytes(log.read_bytes()[-200_000:])


def start_backends(workdir: Path) -> telemetry.Telemetry:
    """Jaeger and the Collector from the repository's configs, on free ports. No Prometheus:
    the benchmark reads the Collector's and Jaeger's own counters directly. Jaeger keeps
    500 000 traces, so every span of a run is still there to be counted."""
    backends = telemetry.Telemetry(
        REPO, workdir, telemetry.Ports.free(), prometheus=False, jaeger_max_traces=500_000
    )
    backends.start()
    return backends


def start_postgres(workdir: Path) -> LocalPostgres:
    """A fresh cluster, migrated with `shopctl db upgrade` and seeded with `shopctl seed`."""
    postgres = LocalPostgres(workdir / "postgres", processes.free_port())
    postgres.start()
    shopctl = [sys.executable, "-m", "shopctl.cli"]
    env_url = ["--database-url", postgres.url]
    for command in (
        [*shopctl, "db", "upgrade", *env_url],
        [*shopctl, "seed", "--products", str(PRODUCTS), "--stock", str(STOCK), *env_url],
    ):
        subprocess.run(command, check=True, capture_output=True, cwd=REPO)
    return postgres


def telemetry_env(
    backends: telemetry.Telemetry | None, sampling: float | None, sdk_metrics: bool = False
) -> dict[str, str]:
    """OTEL_* for a variant: None is no telemetry at all (OTEL_SDK_DISABLED), 0 is metrics
    without traces (the always_off sampler), else a head-sampling ratio; otherwise as the
    services run (`make run`'s export interval). `sdk_metrics`: the SDK's own counters, which
    only the span pipeline run reads, exported every 2 s; they add a measurement or three to
    every span, sampled or not, so everything else runs without them."""
    if backends is None or sampling is None:
        return {"OTEL_SDK_DISABLED": "true"}
    sampler = {"OTEL_TRACES_SAMPLER": "always_off"}
    if sampling > 0:
        sampler = {
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": str(sampling),
        }
    env = {"OTEL_SDK_DISABLED": "false", **backends.service_env(), **sampler}
    if sdk_metrics:
        # The SDK's own counters (otel.sdk.processor.span.processed, with error.type=queue_full
        # for dropped spans) go out with the app metrics, read back from the Collector.
        env["OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED"] = "true"
        env["OTEL_METRIC_EXPORT_INTERVAL"] = "2000"
    return env


class Services(services.Services):
    """The services of one variant, with the CPU they use."""

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


def start_services(
    workdir: Path,
    private: PrivateStack,
    extra_env: dict[str, str],
    per_service_env: dict[str, dict[str, str]] | None = None,
) -> Services:
    """The three services as uvicorn processes, on free ports, logging warnings only, without
    admission control unless `extra_env` switches it on: the benchmark's closed loops run more
    clients than it admits (32, 50), and measure capacity and cost, not shedding. One signed-in
    customer places all of the benchmark's orders, so its rate limit is lifted."""
    started = Services.on_free_ports(private.postgres.url, private.provider, workdir / "logs")
    started.env = {
        "LOG_LEVEL": "WARNING",
        "ADMISSION_ENABLED": "false",
        **services.UNLIMITED_ORDERS_PER_CUSTOMER,
        **extra_env,
    }
    started.service_env = per_service_env or {}
    started.start_all()
    return started


# The tutorial's production set-up: (2 x cores) + 1 sync workers, one request at a time each.
SYNC_WORKERS = 2 * (psutil.cpu_count() or 1) + 1


def start_sync_order(async_services: Services, env: dict[str, str]) -> Services:
    """The Flask baseline in place of the order service, on a port of its own, calling the same
    inventory and pricing processes as `async_services`, with the same environment. Stop it
    with `.stop("order")`: the others are shared."""
    port = processes.free_port()
    # The same database through psycopg, the sync driver.
    database_url = make_url(async_services.database_url).set(drivername="postgresql+psycopg")
    sync = Services(
        async_services.database_url,
        async_services.provider,
        async_services.logs,
        ports={**async_services.ports, "order": port},
        env=env,
        service_env={"order": {"DATABASE_URL": database_url.render_as_string(False)}},
        processes={name: p for name, p in async_services.processes.items() if name != "order"},
    )
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--worker-class",
        "sync",
        "--workers",
        str(SYNC_WORKERS),
        "--bind",
        f"{processes.HOST}:{port}",
        "--timeout",
        "30",
        "--chdir",
        str(REPO),
        "bench.syncshop.app:create_app()",
    ]
    sync.launch("order", command, log=async_services.logs / "order-sync.log")
    try:
        sync.wait_healthy("order")
    except BaseException:
        sync.stop("order")
        raise
    return sync
