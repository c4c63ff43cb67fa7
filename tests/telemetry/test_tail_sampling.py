"""Tail sampling in the Collector keeps every failed and every slow trace, and a share of
the rest; span metrics still count every request."""

import uuid
from collections.abc import Iterator

import httpx
import pytest

from devtools.stack.processes import wait_for
from devtools.stack.services import Services
from devtools.stack.telemetry import Telemetry
from tests.support.shop import admin, new_product, place_order
from tests.support.telemetry import customer_tag

PERCENTAGE = 20
NORMAL, FAILING, SLOW = 100, 10, 10


@pytest.fixture
def tail_sampling(backends: Telemetry, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The Collector restarted with collector/tail-sampling.yaml, then restored."""
    monkeypatch.setenv("TAIL_SAMPLING_PERCENTAGE", str(PERCENTAGE))
    monkeypatch.setenv("TAIL_SAMPLING_LATENCY_MS", "300")
    try:
        backends.start_collector(tail_sampling=True)
        yield
    finally:
        backends.start_collector()


def scenario(stack: Services, service: str, name: str, enabled: bool, **parameters: object) -> None:
    response = httpx.put(
        f"{stack.url(service)}/admin/scenarios/{name}",
        json={"enabled": enabled, **parameters},
        headers=admin(stack, service),
    )
    assert response.status_code == 200


def traces_of(telemetry: Telemetry, customer: str) -> int:
    found = httpx.get(
        f"{telemetry.jaeger_url}/api/traces",
        params={
            "service": "order-service",
            "tags": customer_tag(customer),
            "limit": "1000",
        },
        timeout=30,
    ).json()["data"]
    return len(found)


def test_errors_and_slow_traces_are_all_kept_and_a_share_of_the_rest(
    traced: Services, backends: Telemetry, tail_sampling: None
) -> None:
    run = uuid.uuid4().hex[:8]
    sku = new_product(traced, stock=10_000)
    for _ in range(NORMAL):
        assert (
            place_order(traced, [{"sku": sku, "quantity": 1}], f"normal-{run}").status_code == 201
        )
    scenario(traced, "inventory", "errors", True)
    try:
        for _ in range(FAILING):
            response = place_order(traced, [{"sku": sku, "quantity": 1}], f"failing-{run}")
            assert response.status_code == 503
    finally:
        scenario(traced, "inventory", "errors", False)
    scenario(traced, "pricing", "slow-dependency", True, latency_ms=400)
    try:
        for _ in range(SLOW):
            assert (
                place_order(traced, [{"sku": sku, "quantity": 1}], f"slow-{run}").status_code == 201
            )
    finally:
        scenario(traced, "pricing", "slow-dependency", False)

    # Decisions come decision_wait (10 s) after a trace's first span.
    wait_for(
        "every failed trace", lambda: traces_of(backends, f"failing-{run}") == FAILING, timeout=90
    )
    wait_for("every slow trace", lambda: traces_of(backends, f"slow-{run}") == SLOW, timeout=90)
    kept = traces_of(backends, f"normal-{run}")

    # Binomial(100, 0.2): mean 20, standard deviation 4; three deviations either side.
    assert 8 <= kept <= 32, kept
    # Span metrics come from the unsampled pipeline: every request is counted.
    everything = NORMAL + FAILING + SLOW
    wait_for(
        f"span metrics counting all {everything} orders",
        lambda: orders_counted_by_span_metrics(backends) >= everything,
        timeout=90,
    )


def orders_counted_by_span_metrics(telemetry: Telemetry) -> float:
    """POST /orders calls counted by this Collector process (restarted by the fixture), read
    from its own exporter: Prometheus would still hold the previous process's series."""
    exposed = httpx.get(telemetry.collector_exporter, timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in exposed.splitlines()
        if line.startswith("traces_span_metrics_calls_total{")
        and 'service_name="order-service"' in line
        and 'span_name="POST /orders"' in line
    )
