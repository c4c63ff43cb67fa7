"""helm test: get a token, place one order, then find its trace in Jaeger.

A pass proves the whole path at once: a token from the OpenID Connect provider, order ->
inventory and pricing (with the order service's own tokens) -> PostgreSQL, and the spans through
the SDK and the Collector into Jaeger. The trace is looked up by the `order.id` span attribute
the order service sets, not by a trace id taken from response headers.

The token comes by client credentials (RFC 6749 4.4) of the test's own client, which has the
customer scope: the client's id is the token's subject, so it orders as that customer.
"""

import json
import os
import sys
import time
import uuid

import httpx

issuer = os.environ["OIDC_ISSUER"].rstrip("/")
order_url = os.environ["ORDER_URL"]
jaeger_url = os.environ["JAEGER_URL"]
timeout = float(os.environ["TRACE_TIMEOUT_SECONDS"])

# The token endpoint as the provider announces it (Hydra's is /oauth2/token, others differ).
discovery = httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=10)
if not discovery.is_success:
    sys.exit(f"{issuer} discovery answered {discovery.status_code}: {discovery.text}")
granted = httpx.post(
    discovery.json()["token_endpoint"],
    data={"grant_type": "client_credentials", "audience": "order", "scope": "orders"},
    auth=(os.environ["CLIENT_ID"], os.environ["CLIENT_SECRET"]),
    timeout=10,
)
if not granted.is_success:
    sys.exit(f"the token endpoint answered {granted.status_code}: {granted.text}")
token = granted.json()["access_token"]

response = httpx.post(
    f"{order_url}/orders",
    headers={"Idempotency-Key": str(uuid.uuid4()), "Authorization": f"Bearer {token}"},
    json={"items": [{"sku": "SKU-00001", "quantity": 1}]},
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
