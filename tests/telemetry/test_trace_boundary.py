"""The trust boundary for trace context, through the real processes, Collector and Jaeger.

The order service is the public edge: a caller's traceparent, sampled flag, tracestate and
baggage steer nothing there, and its requests become traces of ours linked to the caller's.
Inventory and pricing trust the order service: one order stays one trace across the three.
Behind a trusted gateway (TRUST_INCOMING_TRACE_CONTEXT=true), the caller's trace continues.
The sampling decision at a ratio of 0 is in tests/unit/test_trace_boundary.py, where the
absence of a span can be proven without waiting for one.
"""

import json
import secrets

import httpx

from devtools.stack.services import Services
from devtools.stack.telemetry import Telemetry
from tests.support.shop import new_product, place_order
from tests.support.telemetry import SERVICES
from tests.telemetry.test_traces import order_trace

FORGED = {"baggage": "user.role=admin,tenant=victim", "tracestate": "forged=victim"}


def caller_context(sampled: bool) -> tuple[str, str, dict[str, str]]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    flags = "01" if sampled else "00"
    return trace_id, span_id, {"traceparent": f"00-{trace_id}-{span_id}-{flags}", **FORGED}


def test_a_public_callers_context_is_linked_not_continued_and_its_unsampled_flag_hides_nothing(
    traced: Services, backends: Telemetry
) -> None:
    caller_trace, caller_span, headers = caller_context(sampled=False)

    response = place_order(traced, [{"sku": new_product(traced), "quantity": 1}], headers=headers)
    assert response.status_code == 201, response.text

    # Sampled although the caller said 00, and one trace across the three services.
    trace = order_trace(backends, response.json()["id"], until=SERVICES)
    assert trace.data["traceID"] != caller_trace
    [root] = [s for s in trace.spans.values() if trace.parent(s) is None]
    assert (root["operationName"], trace.service[root["spanID"]]) == (
        "POST /orders",
        "order-service",
    )
    assert root["references"] == [
        {"refType": "FOLLOWS_FROM", "traceID": caller_trace, "spanID": caller_span}
    ]
    # The caller's tracestate and baggage reached no span of any service.
    everything = json.dumps(trace.data)
    assert "victim" not in everything
    assert not any("w3c.tracestate" in trace.tags(s) for s in trace.spans.values())
    # Nothing was recorded in the caller's trace.
    assert (
        httpx.get(f"{backends.jaeger_url}/api/traces/{caller_trace}", timeout=10).status_code == 404
    )


def test_behind_a_trusted_gateway_the_callers_trace_continues(
    gateway_trusted: Services, backends: Telemetry
) -> None:
    caller_trace, caller_span, headers = caller_context(sampled=True)
    sku = new_product(gateway_trusted)

    response = place_order(gateway_trusted, [{"sku": sku, "quantity": 1}], headers=headers)
    assert response.status_code == 201, response.text

    trace = order_trace(backends, response.json()["id"], until=SERVICES)
    assert trace.data["traceID"] == caller_trace
    [server] = [
        s for s in trace.named("POST /orders") if trace.service[s["spanID"]] == "order-service"
    ]
    assert server["references"] == [
        {"refType": "CHILD_OF", "traceID": caller_trace, "spanID": caller_span}
    ]
