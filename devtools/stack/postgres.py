"""A throw-away PostgreSQL cluster in a folder, for `make run`, the tests and the benchmark.

The server is the one `make postgres-server` fetched into .tools/: the major the chart runs
(versions.env), never whatever the machine happens to have, so migrations and queries are
proven against the version a cluster runs. PostgreSQL refuses to run as root; when we are root,
the server runs as the `postgres` system user.
"""

import os
import pwd
import shutil
import subprocess
from pathlib import Path

from devtools.stack import versions
from devtools.stack.processes import HOST
from shopctl import migrations

DATABASE = "shop"
USER = "shop"
SERVER_USER = "postgres"


class PostgresMissing(RuntimeError):
    """What to run so that a local server can start; one line, for `make run` and the tests."""


def find_bindir(root: Path = versions.REPO) -> Path:
    version = versions.load(root / "versions.env")["POSTGRES_LOCAL_VERSION"]
    bindir = root / ".tools" / f"postgresql-{version}" / "bin"
    if not (bindir / "pg_ctl").exists():
        raise PostgresMissing(f"PostgreSQL {version} not fetched (make postgres-server)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            raise PostgresMissing(
                f"PostgreSQL refuses to run as root and there is no `{SERVER_USER}` user to run "
                f"it as (useradd --system --user-group {SERVER_USER})"
            ) from None
        # The server runs from the checkout: every folder above it must let that user through.
        reachable = ["runuser", "-u", SERVER_USER, "--", "test", "-x", str(bindir / "postgres")]
        if subprocess.run(reachable, capture_output=True).returncode != 0:
            raise PostgresMissing(
                f"the `{SERVER_USER}` user cannot run {bindir}/postgres: a folder above it is "
                "not searchable by others (chmod o+x it, or clone the repository elsewhere)"
            )
    return bindir


class LocalPostgres:
    """initdb once, then start and stop at will; data survives restarts of the server."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.bindir = find_bindir()
        self._as_postgres = os.geteuid() == 0

    @property
    def url(self) -> str:
        return self.database_url(DATABASE)

    def database_url(self, database: str) -> str:
        return f"postgresql+asyncpg://{USER}@{HOST}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A fresh database with every service's schema migrated; returns its URL."""
        self._run("createdb", "-h", HOST, "-p", str(self.port), "-U", USER, name)
        url = self.database_url(name)
        for service in migrations.SERVICES:
            migrations.upgrade(service, url)
        return url

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:1])} failed: {result.stderr.strip()}")

    def _ensure_cluster(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            shutil.chown(self.data_dir, SERVER_USER, SERVER_USER)
        # Trust on loopback only: a development cluster that no one else can reach.
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            USER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        )

    def start(self) -> None:
        self._ensure_cluster()
        # Connections: each service process keeps a pool of up to 20 (shopkit.settings), and
        # the benchmark runs four stacks of three and the sync baseline's five workers at once.
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data_dir} "
            "-c max_connections=500"
        )
        log = self.data_dir / "server.log"
        self._run("pg_ctl", "-D", str(self.data_dir), "-o", options, "-l", str(log), "-w", "start")
        if not self._has_database():
            self._run("createdb", "-h", HOST, "-p", str(self.port), "-U", USER, DATABASE)

    def _has_database(self) -> bool:
        command = [
            str(self.bindir / "psql"),
            "-h",
            HOST,
            "-p",
            str(self.port),
            "-U",
            USER,
            "-d",
            "postgres",
            "-tAc",
            f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'",
        ]
        result = subprocess.run(command, check=True, capture_output=True, text=True)
        return result.stdout.strip() == "1"

    def stop(self, mode: str = "fast") -> None:
        """`fast` rolls back open transactions and checkpoints; `immediate` is a crash (the
        next start replays the WAL), as the soak test inflicts."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def is_running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists()
