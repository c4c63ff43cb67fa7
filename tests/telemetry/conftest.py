"""A stack of the three services exporting to the real Collector."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.stack.hydra import Hydra
from devtools.stack.postgres import LocalPostgres
from devtools.stack.services import UNLIMITED_ORDERS_PER_CUSTOMER, Services
from devtools.stack.telemetry import Telemetry
from tests.support.shop import seed_database
from tests.support.telemetry import PSEUDONYM_KEY

TELEMETRY_ENV = {
    "OTEL_EXPORTER_OTLP_INSECURE": "true",
    # Spans within a second, so the tests wait for seconds; metrics at the interval the local
    # stack and the chart use (devtools.stack.telemetry), which test_traces.py holds to.
    "OTEL_BSP_SCHEDULE_DELAY": "500",
    "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=test",
    "CUSTOMER_PSEUDONYM_KEY": PSEUDONYM_KEY,
    # These tests place orders by the dozen as one customer (their traces are found by it); the
    # per-customer limit has tests of its own (tests/e2e/test_attacker.py).
    **UNLIMITED_ORDERS_PER_CUSTOMER,
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


# Per module: a second order instance recovers claims on the same database; other modules
# count and draw the order service's traces without it.
@pytest.fixture(scope="module")
def gateway_trusted(traced: Services, logs_dir: Path) -> Iterator[Services]:
    """A second order service on the traced stack's inventory, pricing and database, set up as
    behind a trusted gateway: it continues its callers' trace context."""
    services = Services.on_free_ports(traced.database_url, traced.provider, logs_dir / "gateway")
    services.ports = {**traced.ports, "order": services.ports["order"]}
    services.env = dict(traced.env)
    services.service_env = {"order": {"TRUST_INCOMING_TRACE_CONTEXT": "true"}}
    services.start("order")
    yield services
    services.stop()
