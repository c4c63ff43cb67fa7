"""Jaeger, the Collector and Prometheus as local processes, from the repository's own configs.

Used by `shopctl run` and by the tests. Jaeger and the Collector are built from the Go module
proxy by `make telemetry-tools` into .tools/bin; Prometheus comes from Debian's package.
The ports are the configs' own (see collector/config.yaml and observability/), so only one
local stack can run at a time.
"""

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

# What the shared configs read from the environment, with the local stack's values.
BACKEND_ENV = {
    # Jaeger's OTLP port moves aside locally: 4317 is the Collector's.
    "JAEGER_OTLP_GRPC_ENDPOINT": "localhost:14317",
    "JAEGER_OTLP_ENDPOINT": "localhost:14317",
}
COLLECTOR_OTLP = "http://localhost:4317"
JAEGER_URL = "http://localhost:16686"
PROMETHEUS_URL = "http://localhost:9090"
PORTS = {
    "collector OTLP gRPC": 4317,
    "collector OTLP HTTP": 4318,
    "collector exporter": 8889,
    "collector telemetry": 8888,
    "collector health": 13133,
    "jaeger query": 16686,
    "jaeger OTLP gRPC": 14317,
    "jaeger health": 13134,
    "jaeger metrics": 14269,
    "prometheus": 9090,
}


@dataclass
class Backend:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def missing(root: Path) -> list[str]:
    """What is not installed yet, as the command that installs it."""
    tools = root / ".tools" / "bin"
    needs = [f"{tools / name} (make telemetry-tools)" for name in ("jaeger", "otelcol-shop")]
    absent = [need for need in needs if not Path(need.split()[0]).exists()]
    if shutil.which("prometheus") is None:
        absent.append("prometheus (apt-get install prometheus)")
    return absent


def busy_ports() -> list[str]:
    def in_use(port: int) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    return [f"{what} :{port}" for what, port in PORTS.items() if in_use(port)]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def start(name: str, argv: list[str], health_url: str, root: Path, logs: Path) -> Backend:
    """Start one backend and wait until its health endpoint answers."""
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv, cwd=root, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **BACKEND_ENV}
        )
    deadline = time.monotonic() + 60
    while not _healthy(health_url):
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}; see {log}")
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError(f"{name} did not answer {health_url} within 60s; see {log}")
        time.sleep(0.2)
    return Backend(name, process, log)


def start_jaeger(root: Path, logs: Path) -> Backend:
    return start(
        "jaeger",
        [str(root / ".tools/bin/jaeger"), "--config=observability/jaeger/config.yaml"],
        "http://localhost:13134/status",
        root,
        logs,
    )


def start_collector(root: Path, logs: Path, tail_sampling: bool = False) -> Backend:
    """The Collector from collector/config.yaml, with the tail-sampling overlay if asked."""
    configs = ["--config=collector/config.yaml"]
    if tail_sampling:
        configs.append("--config=collector/tail-sampling.yaml")
    return start(
        "collector",
        [str(root / ".tools/bin/otelcol-shop"), *configs],
        "http://localhost:13133/",
        root,
        logs,
    )


def start_prometheus(root: Path, data: Path, logs: Path) -> Backend:
    prometheus = shutil.which("prometheus")
    assert prometheus is not None, "checked by missing()"
    return start(
        "prometheus",
        [
            prometheus,
            "--config.file=observability/prometheus/prometheus.yml",
            f"--storage.tsdb.path={data}",
            "--web.listen-address=localhost:9090",
            # Keeps the trace ids the Collector attaches to histogram buckets (Grafana links).
            "--enable-feature=exemplar-storage",
        ],
        f"{PROMETHEUS_URL}/-/ready",
        root,
        logs,
    )


def start_all(
    root: Path, data: Path, logs: Path, tail_sampling: bool = False
) -> dict[str, Backend]:
    """Downstream first, so the Collector's first export finds Jaeger listening."""
    started: dict[str, Backend] = {}
    try:
        started["jaeger"] = start_jaeger(root, logs)
        started["collector"] = start_collector(root, logs, tail_sampling)
        started["prometheus"] = start_prometheus(root, data, logs)
    except BaseException:
        stop_all(started)
        raise
    return started


def stop_all(backends: dict[str, Backend]) -> None:
    for backend in reversed(backends.values()):
        backend.stop()
