"""A stack of the three services exporting to the real Collector."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.stack.hydra import Hydra
from devtools.stack.postgres import LocalPostgres
from devtools.stack.services import Services
from devtools.stack.telemetry import Telemetry
from tests.support.shop import seed_database

TELEMETRY_ENV = {
    "OTEL_EXPORTER_OTLP_INSECURE": "true",
    # Spans within a second, so the tests wait for seconds; metrics at the interval the local
    # stack and the chart use (devtools.stack.telemetry), which test_traces.py holds to.
    "OTEL_BSP_SCHEDULE_DELAY": "500",
    "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=test",
}


@pytest.fixture(scope="session")
def traced(
    backends: Telemetry, postgres: LocalPostgres, oidc_provider: Hydra, logs_dir: Path
) -> Iterator[Services]:
    database_url = postgres.create_database("shop_telemetry")
    seed_database(database_url)
    services = Services.on_free_ports(database_url, oidc_provider, logs_dir / "telemetry")
    services.env = {**backends.service_env(), **TELEMETRY_ENV}
    services.start_all()
    yield services
    services.stop()
