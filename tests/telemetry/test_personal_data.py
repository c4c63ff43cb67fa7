"""No customer id or query string in clear in what the shop records: spans in Jaeger, the
services' logs, metrics in Prometheus; and the Collector deleting such attributes from any span
that carries them anyway (collector/config.yaml, `attributes/personal-data`)."""

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from devtools.stack.hydra import ADMIN_CLIENT
from devtools.stack.processes import wait_for
from devtools.stack.services import Services
from devtools.stack.telemetry import Telemetry
from tests.support.shop import as_customer, new_product, place_order
from tests.support.telemetry import customer_tag, jaeger, settled_traces

FORBIDDEN = {
    "customer.id": "alice-forbidden",
    "url.query": "customer_id=alice-forbidden",
    "enduser.id": "alice-forbidden",
    "user.email": "alice@example.com",
    "http.request.header.authorization": "Bearer alice-forbidden",
}


def test_the_collector_deletes_personal_attributes_whoever_sent_them(backends: Telemetry) -> None:
    marker = uuid.uuid4().hex
    provider = TracerProvider(resource=Resource.create({"service.name": "careless-service"}))
    exporter = OTLPSpanExporter(endpoint=backends.collector_otlp, insecure=True)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("test").start_as_current_span(
        "careless", attributes={"test.marker": marker, **FORBIDDEN}
    ):
        pass
    provider.shutdown()

    def arrived() -> list[dict[str, object]] | None:
        found = jaeger(
            backends,
            "/api/traces",
            service="careless-service",
            tags=json.dumps({"test.marker": marker}),
        )["data"]
        return found or None

    [trace] = wait_for("the careless span in Jaeger", arrived)
    [span] = trace["spans"]
    keys = {tag["key"] for tag in span["tags"]}
    assert "test.marker" in keys
    assert not keys & set(FORBIDDEN), keys & set(FORBIDDEN)
    assert "alice" not in json.dumps(trace)


def test_a_customer_id_is_nowhere_in_clear(
    traced: Services, backends: Telemetry, logs_dir: Path
) -> None:
    customer = f"private-{uuid.uuid4().hex[:8]}"
    response = place_order(traced, [{"sku": new_product(traced), "quantity": 1}], customer)
    assert response.status_code == 201, response.text
    since = str(int(time.time() * 1_000_000))
    listed = httpx.get(
        f"{traced.order_url}/orders?customer_id={customer}&limit=5",
        headers=as_customer(traced, customer),
        timeout=30,
    )
    assert listed.status_code == 200, listed.text

    # The order's trace is found by the customer's pseudonym, and the listing's by its route.
    [placed] = settled_traces(
        "the customer's order",
        lambda: jaeger(
            backends, "/api/traces", service="order-service", tags=customer_tag(customer)
        )["data"],
        1,
    )

    def listing() -> list[dict[str, object]] | None:
        found = jaeger(
            backends,
            "/api/traces",
            service="order-service",
            operation="GET /orders",
            start=since,
        )["data"]
        return found or None

    listings = wait_for("a listing's trace in Jaeger", listing)
    for trace in (placed, *listings):
        assert customer not in json.dumps(trace)
    # Nor in the services' logs.
    logs = list((logs_dir / "telemetry").glob("*.log"))
    assert len(logs) == 3
    for log in logs:
        assert customer not in log.read_text(), log


def test_an_admin_write_is_traced_with_its_client_id(traced: Services, backends: Telemetry) -> None:
    # The admin is a client, not a person: its id is kept where the Collector deletes enduser.*.
    since = str(int(time.time() * 1_000_000))
    new_product(traced)

    def written() -> list[dict[str, Any]] | None:
        found = jaeger(
            backends,
            "/api/traces",
            service="inventory-service",
            operation="PUT /stock/{sku}",
            tags=json.dumps({"shop.admin.client_id": ADMIN_CLIENT}),
            start=since,
        )["data"]
        return found or None

    [trace, *_] = wait_for("the admin's stock write in Jaeger", written)
    keys = {tag["key"] for span in trace["spans"] for tag in span["tags"]}
    assert not any(key.startswith("enduser.") for key in keys), keys
