"""An order end to end, then its trace in Jaeger and its metrics in Prometheus."""

import json
import uuid
from typing import Any

import httpx
import pytest

from devtools.stack.processes import wait_for
from tests.smoke.target import Target
from tests.support.telemetry import SERVICES


@pytest.fixture(scope="module")
def order(target: Target) -> dict[str, Any]:
    # SKU-00001 comes from `shopctl seed`, which both the local stack and the chart run.
    response = httpx.post(
        f"{target.shop}/orders",
        json={"items": [{"sku": "SKU-00001", "quantity": 1}]},
        headers={"Idempotency-Key": str(uuid.uuid4()), "Authorization": f"Bearer {target.token}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_order_reads_back_with_live_data(target: Target, order: dict[str, Any]) -> None:
    signed_in = {"Authorization": f"Bearer {target.token}"}
    detail = httpx.get(f"{target.shop}/orders/{order['id']}", headers=signed_in, timeout=30).json()
    assert detail["total"] == order["total"]
    assert detail["lines"][0]["available_now"] is not None


def test_its_trace_spans_three_services_with_db_spans(
    target: Target, order: dict[str, Any]
) -> None:
    def trace() -> dict[str, Any] | None:
        found = httpx.get(
            f"{target.jaeger}/api/traces",
            params={"service": "order-service", "tags": json.dumps({"order.id": order["id"]})},
            timeout=30,
        ).json()["data"]
        if not found:
            return None
        services = {p["serviceName"] for p in found[0]["processes"].values()}
        return found[0] if services >= SERVICES else None

    found = wait_for(f"the trace of order {order['id']} in Jaeger", trace, timeout=120)
    by_process = {k: p["serviceName"] for k, p in found["processes"].items()}
    db_services = {
        by_process[span["processID"]]
        for span in found["spans"]
        if any(tag["key"] == "db.system.name" for tag in span["tags"])
    }
    assert db_services == SERVICES


def test_its_metrics_reach_prometheus(target: Target, order: dict[str, Any]) -> None:
    def created() -> list[Any] | None:
        result: list[Any] = httpx.get(
            f"{target.prometheus}/api/v1/query",
            params={"query": 'sum(shop_orders_created_total{service_name="order-service"}) > 0'},
            timeout=30,
        ).json()["data"]["result"]
        return result

    wait_for("shop_orders_created_total in Prometheus", created, timeout=120)


def test_grafana_has_its_datasources_and_dashboards(target: Target) -> None:
    if target.grafana is None or target.grafana_password is None:
        pytest.skip("no Grafana here (GRAFANA_URL and GRAFANA_PASSWORD_FILE unset)")
    auth = ("admin", target.grafana_password)
    datasources = httpx.get(f"{target.grafana}/api/datasources", auth=auth, timeout=30).json()
    assert {d["uid"] for d in datasources} >= {"prometheus", "jaeger"}
    dashboards = httpx.get(
        f"{target.grafana}/api/search", params={"type": "dash-db"}, auth=auth, timeout=30
    ).json()
    assert {d["uid"] for d in dashboards} >= {"shop-services", "shop-database", "shop-collector"}
