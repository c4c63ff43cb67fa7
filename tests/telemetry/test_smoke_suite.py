"""The smoke suite that CI runs against the cluster, run here against the local stack."""

import os
import subprocess
import sys

from devtools.stack.services import Services
from devtools.stack.telemetry import Telemetry
from devtools.stack.versions import REPO


def test_smoke_suite_passes_against_a_real_stack(traced: Services, backends: Telemetry) -> None:
    env = {
        **os.environ,
        "SHOP_BASE_URL": traced.url("order"),
        "JAEGER_URL": backends.jaeger_url,
        "PROMETHEUS_URL": backends.prometheus_url,
        "OIDC_ISSUER": traced.provider.issuer,
        "HYDRA_ADMIN_URL": traced.provider.admin_url,
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
