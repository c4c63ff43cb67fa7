"""The three services as uvicorn processes: used by `shopctl run` and by the tests."""

import os
import subprocess
import sys
import time
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
