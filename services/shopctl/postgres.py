"""A throw-away PostgreSQL cluster in a folder, for `shopctl run` and the tests.

Binaries come from the machine (Debian's postgresql, or anything on PATH) or, failing that,
from the `pgserver` wheel, so neither root nor Docker is needed. PostgreSQL refuses to run
as root; when we are root, the server runs as the `postgres` system user.
"""

import glob
import os
import shutil
import subprocess
from pathlib import Path

DATABASE = "shop"
USER = "shop"


def find_bindir() -> Path:
    candidates = [os.environ.get("PG_BINDIR", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_major, reverse=True)
    on_path = shutil.which("initdb")
    candidates.append(str(Path(on_path).resolve().parent) if on_path else "")
    try:
        import pgserver  # type: ignore[import-not-found]  # optional: pip install pgserver

        candidates.append(str(Path(pgserver.__file__).parent / "pginstall" / "bin"))
    except ImportError:
        pass
    for candidate in filter(None, candidates):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    raise RuntimeError(
        "no PostgreSQL found: set DATABASE_URL, install Debian's postgresql, "
        "or `pip install pgserver`"
    )


def _major(path: str) -> int:
    version = Path(path).parent.name
    return int(version) if version.isdigit() else 0


class LocalPostgres:
    """initdb once, then start and stop at will; data survives restarts of the server."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.bindir = find_bindir()
        self._as_postgres = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:1])} failed: {result.stderr.strip()}")

    def _ensure_cluster(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            shutil.chown(self.data_dir, "postgres", "postgres")
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
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data_dir} "
            "-c max_connections=200"
        )
        log = self.data_dir / "server.log"
        self._run("pg_ctl", "-D", str(self.data_dir), "-o", options, "-l", str(log), "-w", "start")
        if not self._has_database():
            self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, DATABASE)

    def _has_database(self) -> bool:
        command = [
            str(self.bindir / "psql"),
            "-h",
            "127.0.0.1",
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
