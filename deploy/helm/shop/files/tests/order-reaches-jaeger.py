"""helm test: place one order, then find its trace in Jaeger.

A pass proves the whole path at once: order -> inventory and pricing -> PostgreSQL, and the
spans through the SDK and the Collector into Jaeger. The trace is looked up by the `order.id`
span attribute the order service sets, not by a trace id taken from response headers.
"""

import json
import os
import sys
import time
import uuid

import httpx

order_url = os.environ["ORDER_URL"]
jaeger_url = os.environ["JAEGER_URL"]
timeout = float(os.environ["TRACE_TIMEOUT_SECONDS"])

response = httpx.post(
    f"{order_url}/orders",
    headers={"Idempotency-Key": str(uuid.uuid4())},
    json={"customer_id": "helm-test", "items": [{"sku": "SKU-00001", "quantity": 1}]},
    timeout=10,
)
if not response.is_success:
    sys.exit(f"POST /orders answered {response.status_code}: {response.text}")
order_id = response.json()["id"]
print(f"placed order {order_id}")

query = {
    "service": "order-service",
    "tags": json.dumps({"order.id": order_id}),
    "lookback": "1h",
    "limit": "1",
}
# Spans reach Jaeger after the SDK's and the Collector's batching: poll until a deadline.
deadline = time.monotonic() + timeout
while True:
    found = httpx.get(f"{jaeger_url}/api/traces", params=query, timeout=5)
    traces = (found.json().get("data") or []) if found.is_success else []
    if traces:
        spans = traces[0]["spans"]
        services = {traces[0]["processes"][span["processID"]]["serviceName"] for span in spans}
        print(f"trace {traces[0]['traceID']}: {len(spans)} spans from {sorted(services)}")
        sys.exit(0)
    if time.monotonic() > deadline:
        sys.exit(f"no trace with order.id={order_id} in Jaeger after {timeout:.0f}s")
    time.sleep(2)
