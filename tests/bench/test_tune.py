"""`python -m bench.tune`: variants are parsed as documented, and a tiny run measures them."""

import subprocess
import sys
from pathlib import Path

import pytest

from bench.tune import Tuning, parse_variant
from devtools.stack.versions import REPO
from shopctl.migrations import SERVICES


def test_a_variant_sets_a_variable_for_every_service_or_for_one() -> None:
    name, env = parse_variant("two-workers: HTTP_MAX_CONNECTIONS=8 order.UVICORN_WORKERS=2")
    assert name == "two-workers"
    assert env["order"] == {"HTTP_MAX_CONNECTIONS": "8", "UVICORN_WORKERS": "2"}
    assert env["inventory"] == env["pricing"] == {"HTTP_MAX_CONNECTIONS": "8"}


def test_a_bare_name_is_the_unchanged_configuration() -> None:
    assert parse_variant("baseline") == ("baseline", {"order": {}, "inventory": {}, "pricing": {}})


def test_an_assignment_without_a_value_is_refused() -> None:
    with pytest.raises(SystemExit, match="'DB_POOL_SIZE' is not KEY=VALUE"):
        parse_variant("broken: DB_POOL_SIZE")


@pytest.mark.usefixtures("telemetry_tools")
def test_two_variants_are_measured_side_by_side(tmp_path: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.tune",
            "--rounds=1",
            "--seconds=1",
            "--clients=4",
            f"--out={tmp_path}",
            "baseline",
            "small-pool: order.HTTP_MAX_CONNECTIONS=2",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, f"bench.tune failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    results = Tuning.model_validate_json((tmp_path / "results.json").read_text())
    assert results.variants["small-pool"].env["order"] == {"HTTP_MAX_CONNECTIONS": "2"}
    for name, variant in results.variants.items():
        assert len(variant.measured.rounds) == 1, name
        median = variant.measured.median
        assert median.overall.throughput_rps > 0, name
        assert median.overall.errors == 0, median.error_reasons
        per_service = median.cpu_ms_per_request_by_service
        assert set(per_service) == set(SERVICES)
        assert all(ms > 0 for ms in per_service.values()), per_service
    assert "| small-pool |" in run.stdout
    # The logs of every service of every variant are kept for a look at what went wrong.
    assert (tmp_path / "small-pool-order.log").exists()
