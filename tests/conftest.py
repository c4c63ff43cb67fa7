"""Real things, built once per session: a PostgreSQL cluster, migrated databases, services."""

import os
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from shopctl import migrations
from shopctl.postgres import LocalPostgres


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


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")
