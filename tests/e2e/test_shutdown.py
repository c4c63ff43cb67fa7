"""A service stops well inside a pod's grace period, whatever the Collector does.

With the Collector unreachable, the OTLP exporters retry their last export for up to 10 s each
(spans, then metrics): the order service took 11 s to exit on SIGTERM here, 15-20 s in a
container, on every stop of every pod while the Collector was down.
"""

import signal
import time
from pathlib import Path

import httpx

from devtools.stack.hydra import Hydra
from devtools.stack.postgres import LocalPostgres
from devtools.stack.processes import free_port
from devtools.stack.services import Services
from shopkit.telemetry import SHUTDOWN_FLUSH_SECONDS
from tests.support.shop import seed_database


def test_a_service_stops_in_seconds_while_the_collector_is_unreachable(
    postgres: LocalPostgres, oidc_provider: Hydra, logs_dir: Path
) -> None:
    database_url = postgres.create_database("shop_shutdown")
    seed_database(database_url)
    stack = Services.on_free_ports(database_url, oidc_provider, logs_dir / "shutdown")
    # A loopback port nothing listens on: every export is refused and retried.
    stack.env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{free_port()}"
    stack.start("pricing")
    try:
        # Spans and metrics waiting to be exported when the stop comes.
        for _ in range(20):
            assert httpx.get(f"{stack.url('pricing')}/prices/SKU-00001").status_code == 200
        process = stack.processes["pricing"]
        stopping = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        took = time.monotonic() - stopping
    finally:
        stack.stop()
    # The flush's bound and uvicorn's own stop; without the bound, 11 s here.
    assert took < SHUTDOWN_FLUSH_SECONDS + 2, f"stopped after {took:.1f} s"
    # A stop that ran its lifespan to the end (uvicorn then re-raises the SIGTERM it caught),
    # and says what it dropped.
    log = (logs_dir / "shutdown" / "pricing.log").read_text()
    assert "telemetry not flushed within" in log
    assert "Application shutdown complete." in log
