"""The smoke suite that CI runs against the cluster, run here against the local stack."""

import os
import subprocess
import sys

from shopctl.backends import Telemetry
from tests.conftest import REPO
from tests.e2e.conftest import Stack


def test_smoke_suite_passes_against_a_real_stack(traced: Stack, backends: Telemetry) -> None:
    env = {
        **os.environ,
        "SHOP_BASE_URL": traced.url("order"),
        "JAEGER_URL": backends.jaeger_url,
        "PROMETHEUS_URL": backends.prometheus_url,
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/smoke", "-q", "-p", "no:cacheprovider"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    assert "3 passed, 1 skipped" in result.stdout
