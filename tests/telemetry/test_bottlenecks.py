"""Each fault scenario, switched on in the traced stack, is named by `make traces`.

Every test drives real requests, waits for their traces in Jaeger, and analyzes exactly the
window it drove, so the scenarios never see each other's traces.
"""

import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from devtools.stack.services import Services
from devtools.stack.telemetry import Telemetry
from devtools.traces import analyze, parse_trace, report_json
from devtools.traces.jaeger import fetch_traces
from tests.support.shop import admin, as_customer, new_product, place_order
from tests.support.telemetry import settled_traces

Switch = Callable[..., None]


@pytest.fixture
def switch(traced: Services) -> Iterator[Switch]:
    switched: list[tuple[str, str]] = []

    def on(service: str, name: str, **parameters: object) -> None:
        url = f"{traced.url(service)}/admin/scenarios/{name}"
        response = httpx.put(
            url, json={"enabled": True, **parameters}, headers=admin(traced, service)
        )
        assert response.status_code == 200, response.text
        switched.append((service, name))

    yield on
    for service, name in switched:
        url = f"{traced.url(service)}/admin/scenarios/{name}"
        httpx.put(url, json={}, headers=admin(traced, service))


def analysis(telemetry: Telemetry, started: datetime, requests: int) -> dict[str, Any]:
    """Wait until Jaeger holds the window's `requests` traces, complete, then analyze them."""
    raw = settled_traces(
        f"{requests} traces",
        lambda: fetch_traces(
            telemetry.jaeger_url, "order-service", datetime.now(UTC) - started, 500
        ),
        requests,
    )
    report = analyze([parse_trace(t) for t in raw], top=3, min_repeats=5)
    return report_json(report, {})


def orders_of_one_customer(stack: Services, count: int) -> str:
    customer = f"nplus-{uuid.uuid4().hex[:8]}"
    sku = new_product(stack, stock=1000)
    for _ in range(count):
        assert place_order(stack, [{"sku": sku, "quantity": 1}], customer).status_code == 201
    return customer


def test_with_every_scenario_off_there_is_no_finding(traced: Services, backends: Telemetry) -> None:
    customer = orders_of_one_customer(traced, 6)
    started = datetime.now(UTC)
    placed = [place_order(traced, [{"sku": new_product(traced), "quantity": 2}]) for _ in range(3)]
    with httpx.Client(base_url=traced.url("order"), timeout=30) as client:
        for response in placed:
            url = f"/orders/{response.json()['id']}"
            assert client.get(url, headers=as_customer(traced, "tracer")).status_code == 200
        assert client.get("/orders", headers=as_customer(traced, customer)).status_code == 200

    findings = analysis(backends, started, requests=3 + 3 + 1)["findings"]

    assert findings == {
        "n_plus_one": [],
        "sequential_calls": [],
        "error_hotspots": [],
        "queueing": [],
    }


def test_n_plus_one_names_the_repeated_statement_and_its_count(
    traced: Services, backends: Telemetry, switch: Switch
) -> None:
    customer = orders_of_one_customer(traced, 8)
    switch("order", "n-plus-one")
    started = datetime.now(UTC)
    headers = as_customer(traced, customer)
    with httpx.Client(base_url=traced.url("order"), headers=headers, timeout=30) as client:
        for _ in range(3):
            response = client.get("/orders", params={"limit": 8})
            assert len(response.json()["items"]) == 8

    [finding] = analysis(backends, started, requests=3)["findings"]["n_plus_one"]

    assert finding["service"] == "order-service"
    assert "FROM orders.order_lines" in finding["statement"]
    assert (finding["max_calls"], finding["traces"], finding["calls"]) == (8, 3, 24)


def test_slow_dependency_puts_the_critical_path_through_that_service(
    traced: Services, backends: Telemetry, switch: Switch
) -> None:
    switch("pricing", "slow-dependency", latency_ms=400)
    started = datetime.now(UTC)
    for _ in range(3):
        assert place_order(traced, [{"sku": new_product(traced), "quantity": 1}]).status_code == 201

    report = analysis(backends, started, requests=3)

    for trace in report["slowest_traces"]:
        by_service = trace["self_us_by_service"]
        assert max(by_service, key=by_service.get) == "pricing-service", by_service
        assert by_service["pricing-service"] >= 400_000
        slowest_step = max(trace["critical_path"], key=lambda step: step["self_us"])
        assert (slowest_step["service"], slowest_step["operation"]) == (
            "pricing-service",
            "POST /quotes",
        )


def test_sequential_fanout_names_the_two_calls(
    traced: Services, backends: Telemetry, switch: Switch
) -> None:
    placed = [place_order(traced, [{"sku": new_product(traced), "quantity": 1}]) for _ in range(3)]
    switch("order", "sequential-fanout")
    started = datetime.now(UTC)
    tracer = as_customer(traced, "tracer")
    with httpx.Client(base_url=traced.url("order"), headers=tracer, timeout=30) as client:
        for response in placed:
            assert client.get(f"/orders/{response.json()['id']}").status_code == 200

    [finding] = analysis(backends, started, requests=3)["findings"]["sequential_calls"]

    assert finding["service"] == "order-service"
    assert finding["parent_operation"] == "GET /orders/{order_id}"
    assert {call["downstream"] for call in finding["calls"]} == {
        "inventory-service",
        "pricing-service",
    }
    assert finding["traces"] == 3


def test_errors_name_the_failing_service_and_operation(
    traced: Services, backends: Telemetry, switch: Switch
) -> None:
    skus = [new_product(traced) for _ in range(3)]  # before inventory fails every request
    switch("inventory", "errors", fraction=1.0)
    started = datetime.now(UTC)
    for sku in skus:
        response = place_order(traced, [{"sku": sku, "quantity": 1}])
        assert response.status_code == 503

    report = analysis(backends, started, requests=3)

    [hotspot] = report["findings"]["error_hotspots"]
    assert (hotspot["service"], hotspot["operation"], hotspot["traces"]) == (
        "inventory-service",
        "POST /reservations",
        3,
    )


def test_lock_contention_shows_as_waiting_on_the_locked_rows(
    traced: Services, backends: Telemetry, switch: Switch
) -> None:
    sku = new_product(traced, stock=100)
    switch("inventory", "lock-contention", latency_ms=300)
    started = datetime.now(UTC)
    with ThreadPoolExecutor(4) as pool:
        responses = list(
            pool.map(lambda _: place_order(traced, [{"sku": sku, "quantity": 1}]), range(4))
        )
    assert [r.status_code for r in responses] == [201] * 4

    [slowest, *_] = analysis(backends, started, requests=4)["slowest_traces"]

    assert slowest["duration_us"] >= 3 * 300_000
    step = max(slowest["critical_path"], key=lambda s: s["self_us"])
    # The slowest order waited for the others' locks in its SELECT ... FOR UPDATE of the
    # stock rows (the span named by its query summary).
    assert (step["service"], step["operation"]) == ("inventory-service", "SELECT inventory.stock")
    assert step["self_us"] >= 2 * 300_000


def test_the_command_reports_json_for_ci(traced: Services, backends: Telemetry) -> None:
    assert place_order(traced, [{"sku": new_product(traced), "quantity": 1}]).status_code == 201
    result = subprocess.run(
        [sys.executable, "-m", "devtools", "traces", "analyze", "--json", "--since", "10m"],
        env={"JAEGER_URL": backends.jaeger_url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["traces"] > 0
    assert set(report["findings"]) == {
        "n_plus_one",
        "sequential_calls",
        "error_hotspots",
        "queueing",
    }

    tables = subprocess.run(
        [sys.executable, "-m", "devtools", "traces", "analyze", "--since", "10m"],
        env={"JAEGER_URL": backends.jaeger_url, "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert tables.returncode == 0, tables.stderr
    assert "traces analyzed" in tables.stdout
    assert "Critical path of" in tables.stdout


def test_the_command_says_clearly_when_there_is_nothing_to_analyze(
    backends: Telemetry,
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "devtools", "traces", "analyze", "--service", "nobody"],
        env={"JAEGER_URL": backends.jaeger_url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "no traces of nobody in the last 15m" in result.stderr
    assert "Traceback" not in result.stderr
