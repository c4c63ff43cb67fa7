"""`make run` starts the whole stack or nothing: what is missing stops it before anything
starts, in one line that names the command to run."""

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devtools import cli
from devtools.stack import versions
from devtools.stack.versions import REPO


def test_a_checkout_without_the_tools_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(REPO / "versions.env", tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)

    result = CliRunner().invoke(cli.app, ["run"])

    assert result.exit_code == 1
    assert result.stdout == ""
    postgres = versions.load(REPO / "versions.env")["POSTGRES_LOCAL_VERSION"]
    assert result.stderr.splitlines() == [
        "run: not starting: .tools/bin/jaeger, .tools/bin/otelcol-shop, "
        ".tools/bin/prometheus not built (make telemetry-tools); "
        ".tools/bin/hydra not built (make hydra); "
        f"PostgreSQL {postgres} not fetched (make postgres-server)"
    ]
    assert not (tmp_path / ".run").exists()  # nothing was started, not even PostgreSQL


def test_with_a_database_url_no_local_postgres_is_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(REPO / "versions.env", tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://shop@db.invalid/shop")

    result = CliRunner().invoke(cli.app, ["run"])

    assert result.exit_code == 1
    assert "PostgreSQL" not in result.stderr
    assert "not built (make telemetry-tools)" in result.stderr
