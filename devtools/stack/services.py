"""The three services as local processes: `make run`, the tests and the benchmark start them here.

`Services` is the services of one stack: their ports (the README's, or free ones), their
environment (what the Helm chart sets in a pod) and their processes. One service can be stopped
and started again on its port, or started with another command (the benchmark's sync baseline).
"""

import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from devtools.stack import processes
from devtools.stack.hydra import Hydra
from devtools.stack.processes import HOST
from shopctl.migrations import SERVICES

# The README's ports (`make run`): order first, then the services it calls.
PORTS = {name: 8000 + i for i, name in enumerate(reversed(SERVICES))}
# The order service's per-customer limit (order/rate_limit.py) lifted, for load generators and
# tests that place many customers' orders under one signed-in customer.
UNLIMITED_ORDERS_PER_CUSTOMER = {
    "CUSTOMER_ORDER_BURST": "1000000",
    "CUSTOMER_ORDERS_PER_SECOND": "1000000",
}


def uvicorn_command(name: str, port: int) -> list[str]:
    """How a service runs, as the chart's Deployment runs it, on loopback."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        f"{name}.main:create_app",
        "--factory",
        "--host",
        HOST,
        "--port",
        str(port),
        # On SIGTERM uvicorn stops accepting, then lets in-flight requests finish this long.
        "--timeout-graceful-shutdown",
        "10",
        "--no-access-log",
    ]


@dataclass
class Services:
    """The services of one stack. `env` is added to every service's environment; `service_env`
    to one service's (a scenario that only pricing should run, say)."""

    database_url: str
    provider: Hydra  # the OpenID Connect provider whose tokens the services accept
    logs: Path
    ports: dict[str, int] = field(default_factory=lambda: dict(PORTS))
    env: dict[str, str] = field(default_factory=dict)
    service_env: dict[str, dict[str, str]] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @classmethod
    def on_free_ports(cls, database_url: str, provider: Hydra, logs: Path) -> Self:
        """On ports nothing else holds, so the tests and the benchmark run beside `make run`."""
        ports = dict(zip(SERVICES, processes.free_ports(len(SERVICES)), strict=True))
        return cls(database_url, provider, logs, ports)

    def url(self, name: str) -> str:
        return f"http://{HOST}:{self.ports[name]}"

    @property
    def order_url(self) -> str:
        return self.url("order")

    def environment(self, name: str) -> dict[str, str]:
        """What one service's process runs with, on top of ours."""
        env = {
            "DATABASE_URL": self.database_url,
            **self.provider.service_env(name),
            "OTEL_SERVICE_NAME": f"{name}-service",
            **self.env,
            **self.service_env.get(name, {}),
        }
        if name == "order":
            env["INVENTORY_URL"] = self.url("inventory")
            env["PRICING_URL"] = self.url("pricing")
        return env

    def launch(
        self, name: str, command: Sequence[str] | None = None, log: Path | None = None
    ) -> subprocess.Popen[bytes]:
        """Start one service without waiting for it (uvicorn, unless `command` says otherwise)."""
        process = processes.start(
            command or uvicorn_command(name, self.ports[name]),
            log or self.logs / f"{name}.log",
            self.environment(name),
        )
        self.processes[name] = process
        return process

    def wait_healthy(self, name: str, timeout: float = 60.0) -> None:
        processes.wait_healthy(name, self.processes[name], f"{self.url(name)}/healthz", timeout)

    def start(self, name: str, command: Sequence[str] | None = None) -> None:
        """Start one service and wait until it answers /healthz."""
        self.launch(name, command)
        self.wait_healthy(name)

    def stop(self, name: str | None = None) -> None:
        """Stop one service, or (no name) every one that runs."""
        for each in [name] if name else list(self.processes):
            processes.stop(self.processes.pop(each))

    def start_all(self) -> None:
        """Every service, started at once and then awaited; none left running on failure."""
        try:
            for name in SERVICES:
                self.launch(name)
            for name in SERVICES:
                self.wait_healthy(name)
        except BaseException:
            self.stop()
            raise

    def restart_dead(self) -> list[str]:
        """Start again, without waiting, the services whose process exited; their names."""
        dead = [name for name, process in self.processes.items() if process.poll() is not None]
        for name in dead:
            self.launch(name)
        return dead
