"""Recovery's telemetry, read back from Jaeger and Prometheus under the names the alerts use.

Two claims are left unfinished as a dead process would leave them (claimed long ago): one with
its request, which recovery completes, one without (made before the outbox existed), which
recovery can only release.
"""

import asyncio
import hashlib
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from devtools.stack.processes import wait_for
from devtools.stack.services import Services
from devtools.stack.telemetry import Telemetry
from tests.support.shop import new_product
from tests.support.telemetry import jaeger, promql

METRICS_DEADLINE = 60.0


async def _abandon_claims(database_url: str, claims: list[dict[str, Any]]) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as db:
            await db.execute(
                text(
                    "INSERT INTO orders.idempotency_records"
                    " (customer_id, key, request_hash, order_id, state, request, claimed_at,"
                    "  created_at)"
                    " VALUES ('recovered', :key, :hash, :order_id, 'in_progress',"
                    "         CAST(:request AS jsonb),"
                    "         now() - interval '1 hour', now() - interval '1 hour')"
                ),
                claims,
            )
    finally:
        await engine.dispose()


def _recoveries(backends: Telemetry, outcome: str) -> float:
    series = promql(backends, f'sum(shop_recoveries_total{{outcome="{outcome}"}})')
    return float(series[0]["value"][1]) if series else 0.0


def test_recovery_actions_are_spans_and_counters(backends: Telemetry, traced: Services) -> None:
    completed_before = _recoveries(backends, "completed")
    released_before = _recoveries(backends, "released")
    sku = new_product(traced)
    forward, backward = uuid.uuid4(), uuid.uuid4()
    request = f'{{"customer_id": "recovered", "items": [{{"sku": "{sku}", "quantity": 2}}]}}'
    claims = [
        {
            "key": f"recovery-{order_id}",
            "hash": hashlib.sha256(str(order_id).encode()).hexdigest(),
            "order_id": order_id,
            "request": body,
        }
        for order_id, body in ((forward, request), (backward, None))
    ]
    asyncio.run(_abandon_claims(traced.database_url, claims))

    traced_operations: dict[str, set[str]] = {}

    def recovered_spans() -> dict[str, dict[str, Any]] | None:
        found = {}
        for trace in jaeger(
            backends, "/api/traces", service="order-service", operation="recover-order"
        )["data"]:
            for span in trace["spans"]:
                tags = {tag["key"]: tag["value"] for tag in span["tags"]}
                if span["operationName"] == "recover-order":
                    found[tags["order.id"]] = tags
                    traced_operations[tags["order.id"]] = {
                        s["operationName"] for s in trace["spans"]
                    }
        # Forward to the end: the order stored, then its reservation confirmed at inventory
        # (whose spans may reach Jaeger after the order service's).
        confirmed = "confirm-reservation" in traced_operations.get(str(forward), set())
        return found if confirmed and {str(forward), str(backward)} <= set(found) else None

    spans = wait_for(
        "recover-order spans of both claims, the forward one's through its confirmation",
        recovered_spans,
        timeout=30,
    )
    assert spans[str(forward)]["recovery.outcome"] == "completed"
    assert {"persist-order", "confirm-order"} <= traced_operations[str(forward)]
    assert spans[str(forward)]["recovery.attempt"] == 2
    assert spans[str(forward)]["recovery.claim_age_s"] >= 3600
    assert spans[str(backward)]["recovery.outcome"] == "released"

    wait_for(
        "shop_recoveries_total of both outcomes in Prometheus",
        lambda: (
            _recoveries(backends, "completed") >= completed_before + 1
            and _recoveries(backends, "released") >= released_before + 1
        ),
        timeout=METRICS_DEADLINE,
    )
    assert promql(backends, "shop_reservations_expired_total"), "the released hold is counted"
    # The alerts' gauge: every order instance reports it (0 once nothing is unfinished).
    ages = wait_for(
        "shop_recovery_oldest_unfinished_seconds back to 0",
        lambda: [
            s
            for s in promql(backends, "shop_recovery_oldest_unfinished_seconds")
            if s["value"][1] == "0"
        ],
        timeout=METRICS_DEADLINE,
    )
    assert ages[0]["metric"]["service_name"] == "order-service"
