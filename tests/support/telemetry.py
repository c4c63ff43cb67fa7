"""Reading back what the services exported: traces from Jaeger, metrics from Prometheus."""

from typing import Any

import httpx

from devtools.stack.telemetry import Telemetry
from shopctl.migrations import SERVICES as SERVICE_NAMES

# The services as their telemetry names them (OTEL_SERVICE_NAME).
SERVICES = {f"{name}-service" for name in SERVICE_NAMES}


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
