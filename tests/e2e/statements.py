"""What each service sends to PostgreSQL, read from the server's own statement log.

`log_statement = 'all'` is set on one database only (ALTER DATABASE), so the rest of the
test cluster logs as before. Every logged line carries the backend's pid (the default
`log_line_prefix`, '%m [%p] '); pg_stat_activity maps each pid to the `application_name`
the service connected with. The log has every statement: BEGIN, COMMIT, the pool's
pre-ping (`;`) and each row of an executemany, each one a round trip.
"""

import re
import subprocess
from collections import Counter
from pathlib import Path

from devtools.stack.postgres import USER, LocalPostgres

# '2026-11-26 01:02:03.456 UTC [12345] LOG:  statement: BEGIN' or '... execute <name>: ...'
STATEMENT = re.compile(r"\[(\d+)\] LOG:  (?:statement|execute [^:]*): (.*)")


def psql(postgres: LocalPostgres, database: str, sql: str) -> str:
    command = [str(postgres.bindir / "psql"), "-h", "127.0.0.1", "-p", str(postgres.port)]
    command += ["-U", USER, "-d", database, "-tAc", sql]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def log_all_statements(postgres: LocalPostgres, database: str) -> None:
    """For sessions that connect from now on (the services' pools must start after this)."""
    psql(postgres, "postgres", f"ALTER DATABASE {database} SET log_statement = 'all'")


class StatementLog:
    def __init__(self, postgres: LocalPostgres, database: str) -> None:
        self.postgres = postgres
        self.database = database
        self.path: Path = postgres.data_dir / "server.log"
        self.offset = 0

    def mark(self) -> None:
        """Count only what is logged from now on."""
        self.offset = self.path.stat().st_size

    def since_mark(self) -> dict[str, Counter[str]]:
        """Statements logged since mark(), by application_name, then by kind."""
        with self.path.open("rb") as log:
            log.seek(self.offset)
            text = log.read().decode(errors="replace")
        rows = psql(
            self.postgres,
            "postgres",
            f"SELECT pid, application_name FROM pg_stat_activity WHERE datname = '{self.database}'",
        )
        names = dict(line.split("|", 1) for line in rows.splitlines() if "|" in line)
        counts: dict[str, Counter[str]] = {}
        for pid, statement in STATEMENT.findall(text):
            if pid in names:
                counts.setdefault(names[pid], Counter())[kind(statement)] += 1
        return counts


def kind(statement: str) -> str:
    """BEGIN, COMMIT, ROLLBACK, ping, or the statement's first keyword (SELECT, INSERT, ...)."""
    words = statement.strip().rstrip(";").split(None, 1)
    if not words:
        return "ping"  # SQLAlchemy's pre-ping on asyncpg sends an empty statement
    first = words[0].upper()
    return "WITH" if first == "WITH" else first
