"""A stack of the three services exporting to the real Collector, and ways to read back."""

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shopctl.backends import Telemetry
from shopctl.postgres import LocalPostgres
from tests.conftest import create_database, seed_database
from tests.e2e.conftest import ADMIN, Stack, idempotency_key

SERVICES = {"order-service", "inventory-service", "pricing-service"}
TELEMETRY_ENV = {
    "OTEL_EXPORTER_OTLP_INSECURE": "true",
    # Spans within a second, so the tests wait for seconds; metrics at the interval the local
    # stack and the chart use (shopctl.backends), which test_traces.py holds to its promise.
    "OTEL_BSP_SCHEDULE_DELAY": "500",
    "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=test",
}


@pytest.fixture(scope="session")
def traced(backends: Telemetry, postgres: LocalPostgres, logs_dir: Path) -> Iterator[Stack]:
    database_url = create_database(postgres, "shop_telemetry")
    seed_database(database_url)
    stack = Stack(database_url, logs_dir / "telemetry")
    stack.extra_env = {**backends.service_env(), **TELEMETRY_ENV}
    stack.start_all()
    yield stack
    stack.stop_all()


def jaeger(telemetry: Telemetry, path: str, **params: str) -> Any:
    response = httpx.get(f"{telemetry.jaeger_url}{path}", params=params, timeout=10)
    response.raise_for_status()
    return response.json()


def promql(telemetry: Telemetry, query: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{telemetry.prometheus_url}/api/v1/query", params={"query": query}, timeout=10
    )
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


def place_order(
    stack: Stack, items: list[dict[str, object]], customer: str = "tracer"
) -> httpx.Response:
    with httpx.Client(base_url=stack.url("order"), timeout=30) as client:
        return client.post(
            "/orders", json={"customer_id": customer, "items": items}, headers=idempotency_key()
        )


def new_sku(stack: Stack, stock: int = 100) -> str:
    sku = f"TR-{uuid.uuid4().hex[:10].upper()}"
    with httpx.Client(headers=ADMIN, timeout=30) as client:
        client.put(
            f"{stack.url('pricing')}/prices/{sku}",
            json={"name": "x", "unit_price": "4.20", "currency": "EUR"},
        ).raise_for_status()
        client.put(f"{stack.url('inventory')}/stock/{sku}", json={"available": stock})
    return sku
