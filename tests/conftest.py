"""Real things, built once per session: a PostgreSQL cluster, migrated databases, services."""

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from shopctl import backends as backends_
from shopctl import migrations
from shopctl.postgres import LocalPostgres

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60.0) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = probe()
        if result:
            return result
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    # Not under pytest's private temp folder: as root, the server runs as `postgres`,
    # which must be able to reach its data directory.
    with tempfile.TemporaryDirectory(prefix="shop-test-pg-") as folder:
        os.chmod(folder, 0o755)
        server = LocalPostgres(Path(folder) / "data", free_port())
        server.start()
        yield server
        server.stop()


def create_database(postgres: LocalPostgres, name: str) -> str:
    """A fresh, fully migrated database on the session's server; returns its URL."""
    subprocess.run(
        [
            str(postgres.bindir / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(postgres.port),
            "-U",
            "shop",
            name,
        ],
        check=True,
    )
    url = postgres.url.rsplit("/", 1)[0] + f"/{name}"
    for service in migrations.SERVICES:
        migrations.upgrade(service, url)
    return url


def seed_database(url: str) -> None:
    """The catalog `make run` and the chart seed (SKU-00001..SKU-00100), through the CLI."""
    seed = [sys.executable, "-m", "shopctl.cli", "seed", "--products", "100"]
    subprocess.run([*seed, "--database-url", url], check=True, capture_output=True)


@pytest.fixture(scope="session")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[backends_.Telemetry]:
    """Jaeger, the Collector and Prometheus, once per session, from the repository's configs,
    on free ports: the tests run beside `make run`."""
    absent = backends_.missing(REPO)
    if absent:
        # A failure, not a skip: `make test` builds them, and a green run must have used them.
        pytest.fail(f"telemetry backends not built ({', '.join(absent)}): make telemetry-tools")
    telemetry = backends_.Telemetry(
        REPO, tmp_path_factory.mktemp("telemetry"), backends_.Ports.free()
    )
    telemetry.start()
    yield telemetry
    telemetry.stop()


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")
