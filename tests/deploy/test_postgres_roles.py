"""The chart's PostgreSQL init script, run for real: one role per schema, migrations as that role.

The postgres image runs files/postgres/create-service-roles.sh once on an empty data directory;
here it runs against a throw-away cluster of its own (roles are cluster-wide), with the
passwords in a temp folder instead of the mounted Secret.
"""

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.stack.postgres import DATABASE, USER, LocalPostgres
from devtools.stack.processes import free_port
from devtools.stack.versions import REPO

SCRIPT = REPO / "deploy/helm/shop/files/postgres/create-service-roles.sh"
SCHEMAS = {"order": "orders", "inventory": "inventory", "pricing": "pricing"}
# The chart's roles: the services', then the bundled Hydra's (shop.databaseRoles).
ROLES = [*SCHEMAS.values(), "hydra"]
HYDRA = REPO / ".tools" / "bin" / "hydra"


@pytest.fixture(scope="module")
def initialized() -> Iterator[LocalPostgres]:
    with tempfile.TemporaryDirectory(prefix="shop-test-roles-") as folder:
        root = Path(folder)
        os.chmod(root, 0o755)  # as root, the server runs as `postgres`
        server = LocalPostgres(root / "data", free_port())
        server.start()
        try:
            secrets = root / "secrets"
            secrets.mkdir()
            for role in ROLES:
                (secrets / f"{role}-password").write_text(f"pw-{role}")
            script = root / "create-service-roles.sh"
            script.write_text(SCRIPT.read_text().replace("/run/secrets/shop-roles", str(secrets)))
            env = {
                **os.environ,
                "SHOP_SCHEMAS": " ".join(ROLES),
                "POSTGRES_USER": USER,
                "POSTGRES_DB": DATABASE,
                "PGHOST": "127.0.0.1",
                "PGPORT": str(server.port),
                "PATH": f"{server.bindir}:{os.environ['PATH']}",
            }
            run = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True)
            assert run.returncode == 0, run.stderr
            yield server
        finally:
            server.stop()


def _as_role(server: LocalPostgres, schema: str, sql: str) -> subprocess.CompletedProcess[str]:
    psql = [str(server.bindir / "psql"), "-h", "127.0.0.1", "-p", str(server.port)]
    return subprocess.run(
        [*psql, "-U", schema, "-v", "ON_ERROR_STOP=1", "-c", sql, DATABASE],
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize("service", SCHEMAS)
def test_each_service_migrates_its_schema_as_its_own_role(
    initialized: LocalPostgres, service: str
) -> None:
    schema = SCHEMAS[service]
    url = f"postgresql+asyncpg://{schema}:pw-{schema}@127.0.0.1:{initialized.port}/{DATABASE}"
    upgrade = [sys.executable, "-m", "shopctl.cli", "db", "upgrade", "--service", service]
    run = subprocess.run([*upgrade, "--database-url", url], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    tables = _as_role(
        initialized, schema, f"SELECT count(*) FROM pg_tables WHERE schemaname = '{schema}'"
    )
    assert tables.returncode == 0, tables.stderr
    assert int(tables.stdout.split()[2]) >= 2, tables.stdout  # its tables and alembic_version


def test_a_role_can_neither_add_schemas_nor_touch_another_schema(
    initialized: LocalPostgres,
) -> None:
    created = _as_role(initialized, "orders", "CREATE SCHEMA sneaky")
    assert created.returncode != 0
    assert "permission denied for database" in created.stderr
    other = _as_role(initialized, "orders", "CREATE TABLE inventory.sneaky (id int)")
    assert other.returncode != 0
    assert "permission denied for schema inventory" in other.stderr


def test_hydra_migrates_its_store_into_its_own_schema(initialized: LocalPostgres) -> None:
    if not HYDRA.exists():
        pytest.skip("hydra not built: make hydra")
    dsn = f"postgres://hydra:pw-hydra@127.0.0.1:{initialized.port}/{DATABASE}?sslmode=disable"
    run = subprocess.run(
        [str(HYDRA), "migrate", "sql", "up", "--read-from-env", "--yes"],
        env={**os.environ, "DSN": dsn},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    tables = _as_role(
        initialized, "hydra", "SELECT count(*) FROM pg_tables WHERE schemaname = 'hydra'"
    )
    assert int(tables.stdout.split()[2]) >= 10, tables.stdout  # clients, keys, flows...
    public = _as_role(
        initialized, "hydra", "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
    )
    assert int(public.stdout.split()[2]) == 0, public.stdout
