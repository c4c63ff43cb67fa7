"""Real things, built once per session: a PostgreSQL cluster, the telemetry backends."""

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.stack import hydra, telemetry
from devtools.stack.postgres import LocalPostgres
from devtools.stack.processes import free_port
from devtools.stack.versions import REPO


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


@pytest.fixture(scope="session")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[telemetry.Telemetry]:
    """Jaeger, the Collector and Prometheus, once per session, from the repository's configs,
    on free ports: the tests run beside `make run`."""
    absent = telemetry.missing(REPO)
    if absent:
        # A failure, not a skip: `make test` builds them, and a green run must have used them.
        pytest.fail(f"telemetry backends not built ({', '.join(absent)}): make telemetry-tools")
    started = telemetry.Telemetry(
        REPO, tmp_path_factory.mktemp("telemetry"), telemetry.Ports.free()
    )
    started.start()
    yield started
    started.stop()


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[hydra.Hydra]:
    """ORY Hydra, the OpenID Connect provider whose tokens every test stack accepts."""
    if hydra.missing(REPO):
        pytest.fail(f".tools/bin/{hydra.BINARY} not built: make hydra")
    provider = hydra.Hydra(REPO, tmp_path_factory.mktemp("hydra"), hydra.Ports.free())
    provider.start()
    yield provider
    provider.stop()


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")
