"""Every Grafana panel's query returns data from the local Prometheus after real traffic.

Grafana cannot run here, so its variables are filled in as Grafana would for "All".
"""

import json
from pathlib import Path

import httpx
import pytest

from devtools.stack.processes import wait_for
from devtools.stack.services import Services
from devtools.stack.telemetry import Telemetry
from devtools.stack.versions import REPO
from tests.support.shop import as_customer, idempotency_key, new_product, place_order
from tests.support.telemetry import promql

DASHBOARDS = sorted((REPO / "observability" / "grafana" / "dashboards").glob("*.json"))
VARIABLES = {"$__rate_interval": "1m", "$service": ".+", "$quantile": "0.95"}


def panel_queries() -> list[pytest.ParameterSet]:
    queries = []
    for path in DASHBOARDS:
        for panel in json.loads(Path(path).read_text())["panels"]:
            for target in panel.get("targets", []):
                if "expr" in target:
                    name = f"{path.stem}/{panel['title']}/{target.get('refId', 'A')}"
                    queries.append(pytest.param(target["expr"], id=name))
    return queries


@pytest.fixture(scope="module")
def traffic(traced: Services) -> None:
    """Orders placed, read and listed, plus one refused, across the three services."""
    sku = new_product(traced)
    placed = [place_order(traced, [{"sku": sku, "quantity": 1}]).json()["id"] for _ in range(5)]
    assert place_order(traced, [{"sku": "NO-SUCH-SKU", "quantity": 1}]).status_code == 422
    tracer = as_customer(traced, "tracer")
    with httpx.Client(base_url=traced.url("order"), headers=tracer, timeout=30) as client:
        for order_id in placed:
            assert client.get(f"/orders/{order_id}").status_code == 200
        assert client.get("/orders").status_code == 200
        response = client.post("/orders", json={"items": []}, headers=idempotency_key())
        assert response.status_code == 422


def test_there_are_panels_to_check() -> None:
    assert [p.stem for p in DASHBOARDS] == ["collector", "database", "services"]
    assert len(panel_queries()) >= 25


@pytest.mark.parametrize("expr", panel_queries())
def test_panel_query_returns_data(traffic: None, backends: Telemetry, expr: str) -> None:
    query = expr
    for variable, value in VARIABLES.items():
        query = query.replace(variable, value)
    wait_for(f"data for {query!r}", lambda: promql(backends, query), timeout=120)
