"""The services' real telemetry, read back where people look for it: Jaeger and Prometheus.

One order must be one trace across order, inventory and pricing; client spans must be the
parents of the downstream server spans; every query must be one DB span under the server
span of the service that ran it; metrics must reach Prometheus under their semantic names.
"""

import json
import time
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest

from devtools.stack.processes import wait_for
from devtools.stack.services import Services
from devtools.stack.telemetry import Telemetry
from tests.support.shop import admin, as_customer, idempotency_key, new_product, place_order
from tests.support.telemetry import SERVICES, customer_tag, jaeger, promql


class Trace:
    """A Jaeger trace with its spans indexed, and the service of each span."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.spans = {span["spanID"]: span for span in data["spans"]}
        self.service = {
            span["spanID"]: data["processes"][span["processID"]]["serviceName"]
            for span in data["spans"]
        }

    def tags(self, span: dict[str, Any]) -> dict[str, Any]:
        return {tag["key"]: tag["value"] for tag in span["tags"]}

    def parent(self, span: dict[str, Any]) -> dict[str, Any] | None:
        for reference in span["references"]:
            if reference["refType"] == "CHILD_OF":
                return self.spans.get(reference["spanID"])
        return None

    def named(self, name: str) -> list[dict[str, Any]]:
        return [s for s in self.spans.values() if s["operationName"] == name]

    def enclosing_server_span(self, span: dict[str, Any]) -> dict[str, Any] | None:
        current = self.parent(span)
        while current is not None and self.tags(current).get("span.kind") != "server":
            current = self.parent(current)
        return current


def order_trace(telemetry: Telemetry, order_id: str, until: set[str]) -> Trace:
    """Wait until Jaeger holds the order's trace with spans from every service in `until`."""

    def complete() -> Trace | None:
        found = jaeger(
            telemetry,
            "/api/traces",
            service="order-service",
            tags=json.dumps({"order.id": order_id}),
        )["data"]
        if len(found) != 1:
            return None
        candidate = Trace(jaeger(telemetry, f"/api/traces/{found[0]['traceID']}")["data"][0])
        return candidate if until <= set(candidate.service.values()) else None

    return wait_for(f"the trace of order {order_id} in Jaeger", complete)


def test_one_order_is_one_trace_across_three_services(
    traced: Services, backends: Telemetry
) -> None:
    response = place_order(traced, [{"sku": new_product(traced), "quantity": 2}])
    assert response.status_code == 201, response.text

    trace = order_trace(backends, response.json()["id"], until=SERVICES)

    assert set(trace.service.values()) == SERVICES
    roots = [s for s in trace.spans.values() if trace.parent(s) is None]
    assert [r["operationName"] for r in roots] == ["POST /orders"]
    for name in (
        "place-order",
        "claim-idempotency-key",
        "persist-order",
        "reserve-stock",
        "confirm-order",  # once the order is stored, around the call that confirms it
        "confirm-reservation",
        "calculate-quote",
    ):
        assert len(trace.named(name)) == 1, name


@pytest.mark.parametrize(
    ("downstream", "route"),
    [("inventory-service", "POST /reservations"), ("pricing-service", "POST /quotes")],
)
def test_client_spans_are_parents_of_downstream_server_spans(
    traced: Services, backends: Telemetry, downstream: str, route: str
) -> None:
    response = place_order(traced, [{"sku": new_product(traced), "quantity": 1}])
    trace = order_trace(backends, response.json()["id"], until=SERVICES)

    [server] = [s for s in trace.named(route) if trace.service[s["spanID"]] == downstream]
    client = trace.parent(server)
    assert client is not None
    assert trace.service[client["spanID"]] == "order-service"
    client_tags = trace.tags(client)
    assert client_tags["span.kind"] == "client"
    assert client_tags["http.request.method"] == "POST"
    assert client_tags["http.response.status_code"] in (200, 201)


def test_every_query_is_one_db_span_under_its_services_server_span(
    traced: Services, backends: Telemetry
) -> None:
    sku = new_product(traced)
    response = place_order(traced, [{"sku": sku, "quantity": 3}])
    trace = order_trace(backends, response.json()["id"], until=SERVICES)

    db_spans = [s for s in trace.spans.values() if "db.system.name" in trace.tags(s)]
    by_service = {trace.service[s["spanID"]] for s in db_spans}
    assert by_service == SERVICES
    for span in db_spans:
        tags = trace.tags(span)
        assert tags["db.system.name"] == "postgresql"
        server = trace.enclosing_server_span(span)
        assert (
            server is not None and trace.service[server["spanID"]] == trace.service[span["spanID"]]
        )
        # Statements keep their placeholders: no parameter values (no SKU) in the span.
        assert sku not in json.dumps(span["tags"])
    # One span per statement: no second instrumentation (asyncpg) doubling each one. These are
    # the statements of a POST /orders per service, as tests/e2e/test_statements_per_request.py
    # counts them in PostgreSQL's own log (BEGIN and COMMIT are not spans): the confirm step
    # is one UPDATE in inventory (the reservation) and one in order (the claim completed).
    queries = [s for s in db_spans if "db.query.text" in trace.tags(s)]
    per_service = Counter(trace.service[s["spanID"]] for s in queries)
    assert per_service == {"order-service": 3, "inventory-service": 3, "pricing-service": 1}
    keys = [
        (s["references"][0]["spanID"], trace.tags(s)["db.query.text"], s["startTime"])
        for s in queries
    ]
    assert len(keys) == len(set(keys))
    assert not any("asyncpg" in s.get("operationName", "").lower() for s in db_spans)


def test_resource_and_business_attributes(traced: Services, backends: Telemetry) -> None:
    response = place_order(traced, [{"sku": new_product(traced), "quantity": 1}])
    order = response.json()
    trace = order_trace(backends, order["id"], until=SERVICES)

    [place] = trace.named("place-order")
    tags = trace.tags(place)
    assert tags["order.id"] == order["id"]
    # The customer as a keyed pseudonym (order/pseudonyms.py), never in clear.
    assert tags["customer.pseudonym"] == json.loads(customer_tag("tracer"))["customer.pseudonym"]
    assert "customer.id" not in tags
    assert tags["order.item_count"] == 1
    assert tags["order.total"] == order["total"]
    for process in trace.data["processes"].values():
        resource = {tag["key"]: tag["value"] for tag in process["tags"]}
        assert resource["service.namespace"] == "shop"
        assert resource["deployment.environment.name"] == "test"
        assert resource["service.instance.id"]
        assert resource["service.version"]
    # Nothing secret travels in spans: no access token, no Authorization header.
    everything = json.dumps(trace.data)
    assert admin(traced, "pricing")["Authorization"].split()[1] not in everything
    assert "authorization" not in everything.lower()


def test_a_failed_order_carries_an_error(traced: Services, backends: Telemetry) -> None:
    customer = f"failing-{uuid.uuid4().hex[:8]}"
    response = place_order(traced, [{"sku": "NO-SUCH-SKU", "quantity": 1}], customer)
    assert response.status_code == 422

    def failed_trace() -> Trace | None:
        tags = customer_tag(customer)
        found = jaeger(backends, "/api/traces", service="order-service", tags=tags)["data"]
        return Trace(found[0]) if found else None

    trace = wait_for("the failed order's trace in Jaeger", failed_trace)
    [place] = trace.named("place-order")
    tags = trace.tags(place)
    assert (tags["otel.status_code"], tags["error"]) == ("ERROR", True)
    [event] = [
        log
        for log in place["logs"]
        if {"key": "event", "type": "string", "value": "exception"} in log["fields"]
    ]
    fields = {field["key"]: field["value"] for field in event["fields"]}
    assert fields["exception.type"] == "pricing.contract.UnknownSkus"
    # A 4xx is the client's mistake: the server span stays unset, as the conventions say.
    [server] = trace.named("POST /orders")
    assert "otel.status_code" not in trace.tags(server)


def test_metrics_reach_prometheus_labelled_by_service(
    traced: Services, backends: Telemetry
) -> None:
    for _ in range(3):
        assert place_order(traced, [{"sku": new_product(traced), "quantity": 1}]).status_code == 201

    def series(query: str, services: set[str]) -> dict[str, float] | None:
        # Series can appear at 0 first (span metrics do), so wait for counts, not names.
        values = {
            s["metric"].get("service_name"): float(s["value"][1]) for s in promql(backends, query)
        }
        return values if all(values.get(service, 0) > 0 for service in services) else None

    queries = {
        "sum by (service_name) (http_server_request_duration_seconds_count)": SERVICES,
        "sum by (service_name) (http_client_request_duration_seconds_count)": {"order-service"},
        "sum by (service_name) (db_client_operation_duration_seconds_count)": SERVICES,
        "sum by (service_name) (db_client_connections_usage)": SERVICES,
        "sum by (service_name) (traces_span_metrics_calls_total)": SERVICES,
        "sum by (service_name) (shop_orders_created_total)": {"order-service"},
        "sum by (service_name) (shop_order_value_count)": {"order-service"},
    }
    for query, services in queries.items():
        wait_for(
            f"{query} > 0 for {sorted(services)}", lambda q=query, s=services: series(q, s), 90
        )


# Export every 5 s and scrape every 5 s; span metrics wait for the connector's 10 s flush
# instead of the export (docs/versions.md). Each bound leaves 5 s for a loaded machine.
METRICS_WITHIN_S = 15.0
SPAN_METRICS_WITHIN_S = 20.0


def test_a_new_orders_metrics_reach_prometheus_within_seconds(
    traced: Services, backends: Telemetry
) -> None:
    queries = {  # name: (query, seconds within which it counts a new order)
        "shop_orders_created_total": ("sum(shop_orders_created_total)", METRICS_WITHIN_S),
        "span metrics of POST /orders": (
            'sum(traces_span_metrics_calls_total{service_name="order-service",'
            'span_name="POST /orders",span_kind="SPAN_KIND_SERVER"})',
            SPAN_METRICS_WITHIN_S,
        ),
    }

    def value(query: str) -> float:
        found = promql(backends, query)
        return float(found[0]["value"][1]) if found else 0.0

    # Earlier tests' orders may still be on their way: start from counts that stopped moving
    # for longer than the slowest path takes.
    last: dict[str, float] = {}
    settled_since = time.monotonic()

    def settled() -> bool:
        nonlocal settled_since
        now = {name: value(query) for name, (query, _) in queries.items()}
        if now != last:
            last.update(now)
            settled_since = time.monotonic()
        return time.monotonic() - settled_since > SPAN_METRICS_WITHIN_S

    wait_for("the order counters to stop moving", settled, timeout=120)
    sku = new_product(traced)
    placed = time.monotonic()
    assert place_order(traced, [{"sku": sku, "quantity": 1}]).status_code == 201
    for name, (query, within) in queries.items():
        wait_for(f"{name} to count the new order", lambda q=query, n=name: value(q) > last[n])
        elapsed = time.monotonic() - placed
        assert elapsed <= within, f"{name} counted the order after {elapsed:.1f} s"


def test_collector_down_does_not_slow_requests(traced: Services, backends: Telemetry) -> None:
    sku = new_product(traced, stock=10_000)

    def median_latency(n: int = 30) -> float:
        durations = []
        tracer = as_customer(traced, "tracer")
        with httpx.Client(base_url=traced.url("order"), headers=tracer, timeout=30) as client:
            for _ in range(n):
                started = time.perf_counter()
                response = client.post(
                    "/orders",
                    json={"items": [{"sku": sku, "quantity": 1}]},
                    headers=idempotency_key(),
                )
                durations.append(time.perf_counter() - started)
                assert response.status_code == 201
        return sorted(durations)[n // 2]

    up = median_latency()
    backends.stop_collector()
    try:
        down = median_latency()
    finally:
        backends.start_collector()
    # Export happens on background threads with bounded queues: no request waits for it.
    assert down < up * 1.5 + 0.010, (up, down)

    response = place_order(traced, [{"sku": sku, "quantity": 1}])
    order_trace(backends, response.json()["id"], until=SERVICES)
