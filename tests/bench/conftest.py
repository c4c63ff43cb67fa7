"""What the benchmark tests need: the Go-built Jaeger and Collector (no Prometheus)."""

import pytest

from devtools.stack import telemetry
from devtools.stack.versions import REPO


@pytest.fixture(scope="session")
def telemetry_tools() -> None:
    """Skips the test when Jaeger or the Collector is not built."""
    absent = {"jaeger", "otelcol-shop"} & set(telemetry.missing(REPO))
    if absent:
        pytest.skip(f"telemetry tools not built: {', '.join(sorted(absent))}")
