"""What the benchmark tests need: the Go-built Jaeger and Collector (no Prometheus)."""

import pytest

from shopctl import backends
from tests.conftest import REPO


def skip_without_telemetry_tools() -> None:
    if not (REPO / ".tools/bin/jaeger").exists() or not (REPO / ".tools/bin/otelcol-shop").exists():
        pytest.skip(f"telemetry tools not built: {', '.join(backends.missing(REPO))}")
