"""The three services as uvicorn processes: used by `shopctl run` and by the tests."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

PORTS = {"order": 8000, "inventory": 8001, "pricing": 8002}


def service_env(
    name: str, database_url: str, ports: dict[str, int], admin_token: str, **extra: str
) -> dict[str, str]:
    """The environment one service process runs with (what the Helm chart sets in a pod)."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ADMIN_TOKEN": admin_token,
        "OTEL_SERVICE_NAME": f"{name}-service",
        **extra,
    }
    if name == "order":
        env["INVENTORY_URL"] = f"http://127.0.0.1:{ports['inventory']}"
        env["PRICING_URL"] = f"http://127.0.0.1:{ports['pricing']}"
    return env


def start_service(
    name: str, port: int, env: dict[str, str], log_file: Path
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        f"{name}.main:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        # On SIGTERM uvicorn stops accepting, then lets in-flight requests finish this long.
        "--timeout-graceful-shutdown",
        "10",
        "--no-access-log",
    ]
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_until_up(base_url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Poll /healthz until it answers; fail early if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{base_url}: process exited with {process.returncode}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{base_url}/healthz did not answer within {timeout}s")


def stop_service(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Supervised:
    """A service process kept running as Kubernetes keeps a pod: restarted when it exits,
    after a back-off that doubles on every exit soon after a start (up to `max_backoff`)
    and is forgiven once the process has run `stable_after` seconds."""

    def __init__(
        self,
        name: str,
        start: Callable[[], subprocess.Popen[bytes]],
        log: Callable[[str], None],
        min_backoff: float = 1.0,
        max_backoff: float = 30.0,
        stable_after: float = 60.0,
    ) -> None:
        self.name = name
        self._start = start
        self._log = log
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._stable_after = stable_after
        self._backoff = min_backoff
        self._restart_at: float | None = None
        self.restarts = 0
        self.process = start()
        self._started = time.monotonic()

    def poll(self) -> None:
        """Restart the process if it exited and its back-off is over; call it periodically."""
        now = time.monotonic()
        if self._restart_at is not None:
            if now >= self._restart_at:
                self._restart_at = None
                self.process = self._start()
                self._started = now
                self.restarts += 1
                self._log(f"{self.name}: restarted (restart {self.restarts})")
            return
        code = self.process.poll()
        if code is None:
            return
        if now - self._started >= self._stable_after:
            self._backoff = self._min_backoff
        delay = self._backoff
        self._backoff = min(self._backoff * 2, self._max_backoff)
        self._restart_at = now + delay
        self._log(f"{self.name}: exited ({_exit_reason(code)}); restarting in {delay:g}s")

    def stop(self) -> None:
        self._restart_at = None
        stop_service(self.process)


def _exit_reason(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"status {code}"
