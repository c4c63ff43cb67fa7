"""Jaeger, the Collector and Prometheus as local processes, from the repository's own configs.

Used by `make run` (on the README's ports), the tests and the benchmark (on free ports, so they
run beside `make run`). Each is built by `make telemetry-tools` into .tools/bin at the versions
the chart runs (versions.env). Jaeger and the Collector run the repository's config plus an
overlay, written to the work folder, that moves every listener to the ports asked for (both
deep-merge several --config files, later ones win); Prometheus runs an unchanged copy of
prometheus.yml beside target files that name those ports (file-based discovery, as in the
chart). Everything listens on loopback only.
"""

import shutil
import subprocess
from dataclasses import astuple, dataclass, field, fields
from pathlib import Path
from typing import Any, Self

import yaml

from devtools.stack import processes
from devtools.stack.processes import HOST, free_ports, port_taken

BINARIES = {"jaeger": "jaeger", "collector": "otelcol-shop", "prometheus": "prometheus"}


@dataclass(frozen=True)
class Ports:
    """Every listener of the three backends; the defaults are the README's (`make run`)."""

    collector_otlp_grpc: int = 4317
    collector_otlp_http: int = 4318
    collector_exporter: int = 8889  # application and span metrics, scraped by Prometheus
    collector_telemetry: int = 8888  # the Collector's own metrics
    collector_health: int = 13133
    jaeger_query: int = 16686  # HTTP query API (/api/traces)
    jaeger_query_grpc: int = 16685
    jaeger_otlp_grpc: int = 14317  # 4317 is the Collector's
    jaeger_health: int = 13134
    jaeger_metrics: int = 14269
    prometheus: int = 9090

    @classmethod
    def free(cls) -> Self:
        """Ports the kernel has just handed out, so nothing else on the machine holds them."""
        return cls(*free_ports(len(fields(cls))))

    def busy(self) -> list[str]:
        """The listeners whose port something already answers on."""
        named = zip(fields(self), astuple(self), strict=True)
        return [f"{f.name.replace('_', ' ')} :{port}" for f, port in named if port_taken(port)]


# The README's URL of the local stack's Jaeger, the default of `python -m devtools traces`.
JAEGER_URL = f"http://{HOST}:{Ports().jaeger_query}"


def missing(root: Path) -> list[str]:
    """The backends not built yet."""
    tools = root / ".tools" / "bin"
    return [binary for binary in BINARIES.values() if not (tools / binary).exists()]


@dataclass
class Backend:
    """How one backend is started, so that it can be stopped and started again on its ports."""

    name: str
    argv: list[str]
    health_url: str
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        """Start, then wait until the health endpoint answers (stopped again if it never does)."""
        self.process = processes.start(self.argv, self.log, self.env)
        try:
            processes.wait_healthy(self.name, self.process, self.health_url, timeout)
        except BaseException as exc:
            self.stop()
            exc.add_note(f"see {self.log}")
            raise

    def stop(self) -> None:
        if self.process is not None:
            processes.stop(self.process)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def _telemetry_reader(port: int) -> list[dict[str, Any]]:
    # The repository configs' reader (same naming options), on loopback and the given port.
    exporter = {
        "host": HOST,
        "port": port,
        "without_scope_info": True,
        "without_units": True,
        "without_type_suffix": True,
    }
    return [{"pull": {"exporter": {"prometheus": exporter}}}]


class Telemetry:
    """The backends of one stack, with the URLs its services and tests use.

    prometheus=False leaves Prometheus out (the benchmark reads the Collector's counters
    directly); jaeger_max_traces overrides how many traces Jaeger's memory store keeps.
    """

    def __init__(
        self,
        root: Path,
        workdir: Path,
        ports: Ports | None = None,
        *,
        tail_sampling: bool = False,
        prometheus: bool = True,
        jaeger_max_traces: int | None = None,
    ) -> None:
        self.root = root
        self.workdir = workdir
        self.ports = ports or Ports()
        self.tail_sampling = tail_sampling
        self.prometheus = prometheus
        self.jaeger_max_traces = jaeger_max_traces
        self.backends: dict[str, Backend] = {}

    @property
    def collector_otlp(self) -> str:
        return f"http://{HOST}:{self.ports.collector_otlp_grpc}"

    @property
    def collector_exporter(self) -> str:
        return f"http://{HOST}:{self.ports.collector_exporter}/metrics"

    @property
    def collector_metrics(self) -> str:
        """The Collector's own metrics (otelcol_*)."""
        return f"http://{HOST}:{self.ports.collector_telemetry}/metrics"

    @property
    def jaeger_metrics(self) -> str:
        """Jaeger's own metrics (a Collector build too: otelcol_*_total)."""
        return f"http://{HOST}:{self.ports.jaeger_metrics}/metrics"

    @property
    def jaeger_url(self) -> str:
        return f"http://{HOST}:{self.ports.jaeger_query}"

    @property
    def prometheus_url(self) -> str:
        return f"http://{HOST}:{self.ports.prometheus}"

    def service_env(self) -> dict[str, str]:
        """OTEL_* for the services: export here, and metrics every 5 s rather than the SDK's
        60 s, so a new order reaches Prometheus within about 15 s (5 s export, 5 s span
        metrics flush, 5 s scrape; docs/versions.md has what it costs)."""
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.collector_otlp,
            "OTEL_METRIC_EXPORT_INTERVAL": "5000",
        }

    def start(self) -> None:
        """Downstream first, so the Collector's first export finds Jaeger listening."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            wanted = [self._jaeger(), self._collector(self.tail_sampling)]
            if self.prometheus:
                wanted.append(self._prometheus())
            for backend in wanted:
                self.backends[backend.name] = backend
                backend.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for backend in reversed(self.backends.values()):
            backend.stop()

    def revive(self) -> list[str]:
        """Start again, on the same ports, the backends that died; their names. On a shared
        machine someone's clean-up may kill processes by name (this happened during a
        benchmark): the services keep their exporter settings, so the same ports make it
        transparent to them."""
        dead = [b for b in self.backends.values() if not b.running]
        for backend in dead:
            backend.start()
        return [backend.name for backend in dead]

    def stop_collector(self) -> None:
        self.backends["collector"].stop()

    def start_collector(self, tail_sampling: bool = False) -> None:
        """The Collector (again) on the same ports, with or without the tail-sampling overlay."""
        self.backends["collector"].stop()
        self.backends["collector"] = self._collector(tail_sampling)
        self.backends["collector"].start()

    def _tool(self, name: str) -> str:
        return str(self.root / ".tools" / "bin" / BINARIES[name])

    def _overlay(self, name: str, content: dict[str, Any]) -> Path:
        path = self.workdir / f"{name}-ports.yaml"
        path.write_text(yaml.safe_dump(content))
        return path

    def _jaeger(self) -> Backend:
        p = self.ports
        overlay = self._overlay(
            "jaeger",
            {
                "receivers": {
                    "otlp": {"protocols": {"grpc": {"endpoint": f"{HOST}:{p.jaeger_otlp_grpc}"}}}
                },
                "extensions": {
                    "jaeger_query": {
                        "http": {"endpoint": f"{HOST}:{p.jaeger_query}"},
                        "grpc": {"endpoint": f"{HOST}:{p.jaeger_query_grpc}"},
                    },
                    "healthcheckv2": {"http": {"endpoint": f"{HOST}:{p.jaeger_health}"}},
                    **self._jaeger_storage(),
                },
                "service": {
                    "telemetry": {"metrics": {"readers": _telemetry_reader(p.jaeger_metrics)}}
                },
            },
        )
        config = self.root / "observability/jaeger/config.yaml"
        return Backend(
            "jaeger",
            [self._tool("jaeger"), f"--config={config}", f"--config={overlay}"],
            f"http://{HOST}:{p.jaeger_health}/status",
            self.workdir / "jaeger.log",
        )

    def _jaeger_storage(self) -> dict[str, Any]:
        if self.jaeger_max_traces is None:
            return {}
        memory = {"memory": {"max_traces": self.jaeger_max_traces}}
        return {"jaeger_storage": {"backends": {"memstore": memory}}}

    def _collector(self, tail_sampling: bool) -> Backend:
        p = self.ports
        overlay = self._overlay(
            "collector",
            {
                "receivers": {
                    "otlp": {
                        "protocols": {
                            "grpc": {"endpoint": f"{HOST}:{p.collector_otlp_grpc}"},
                            "http": {"endpoint": f"{HOST}:{p.collector_otlp_http}"},
                        }
                    }
                },
                "exporters": {"prometheus": {"endpoint": f"{HOST}:{p.collector_exporter}"}},
                "extensions": {"health_check": {"endpoint": f"{HOST}:{p.collector_health}"}},
                "service": {
                    "telemetry": {"metrics": {"readers": _telemetry_reader(p.collector_telemetry)}}
                },
            },
        )
        configs = [self.root / "collector/config.yaml"]
        if tail_sampling:
            configs.append(self.root / "collector/tail-sampling.yaml")
        return Backend(
            "collector",
            [self._tool("collector"), *(f"--config={c}" for c in [*configs, overlay])],
            f"http://{HOST}:{p.collector_health}/",
            self.workdir / "collector.log",
            # What the repository config reads from the environment (see its header).
            {"JAEGER_OTLP_ENDPOINT": f"{HOST}:{p.jaeger_otlp_grpc}"},
        )

    def _prometheus(self) -> Backend:
        p = self.ports
        source = self.root / "observability/prometheus"
        config = self.workdir / "prometheus"
        (config / "targets").mkdir(parents=True, exist_ok=True)
        for name in ("prometheus.yml", "alerts.yml"):
            shutil.copyfile(source / name, config / name)
        targets = {
            "collector-exporter": p.collector_exporter,
            "collector-telemetry": p.collector_telemetry,
            "jaeger": p.jaeger_metrics,
            "prometheus": p.prometheus,
        }
        for name, port in targets.items():
            (config / "targets" / f"{name}.yml").write_text(
                yaml.safe_dump([{"targets": [f"{HOST}:{port}"]}])
            )
        return Backend(
            "prometheus",
            [
                self._tool("prometheus"),
                f"--config.file={config / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.workdir / 'prometheus-data'}",
                f"--web.listen-address={HOST}:{p.prometheus}",
                # Keeps the trace ids the Collector attaches to histogram buckets (Grafana links).
                "--enable-feature=exemplar-storage",
            ],
            f"{self.prometheus_url}/-/ready",
            self.workdir / "prometheus.log",
        )
