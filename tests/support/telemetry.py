"""Reading back what the services exported: traces from Jaeger, metrics from Prometheus."""

import json
from collections.abc import Callable
from typing import Any

import httpx

from devtools.stack.processes import wait_for
from devtools.stack.telemetry import Telemetry
from order.pseudonyms import customer_pseudonym
from shopctl.migrations import SERVICES as SERVICE_NAMES

# The services as their telemetry names them (OTEL_SERVICE_NAME).
SERVICES = {f"{name}-service" for name in SERVICE_NAMES}
# The key of the customer pseudonyms in the tests' traces (CUSTOMER_PSEUDONYM_KEY).
PSEUDONYM_KEY = "test-customer-pseudonym-key-0123456789"


def customer_tag(customer: str) -> str:
    """Jaeger's `tags` search for the traces of one customer: by its pseudonym, as an operator
    holding the key finds them (order/pseudonyms.py)."""
    return json.dumps({"customer.pseudonym": customer_pseudonym(PSEUDONYM_KEY.encode(), customer)})


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


def settled_traces(
    what: str, search: Callable[[], list[dict[str, Any]]], count: int
) -> list[dict[str, Any]]:
    """Wait until Jaeger's `search` returns `count` traces, each complete, and return them.

    A trace is there once its root (the entry service's server span, which ends last) is, but
    the other services export their spans on their own schedule: it is complete once no further
    span arrives between two polls. The polls are further apart than the services' batch export
    (OTEL_BSP_SCHEDULE_DELAY, 500 ms in the tests): two closer polls could both miss a batch.
    """
    last_count = -1

    def complete() -> list[dict[str, Any]] | None:
        nonlocal last_count
        traces = search()
        rooted = [t for t in traces if any(not s["references"] for s in t["spans"])]
        spans = sum(len(t["spans"]) for t in traces)
        done = len(rooted) >= count and spans == last_count
        last_count = spans
        return traces if done else None

    return wait_for(f"{what}, complete, in Jaeger", complete, interval=1.0)
