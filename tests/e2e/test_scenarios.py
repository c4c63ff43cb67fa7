"""Fault scenarios switch on and off at run time, and do what they say."""

import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from devtools.stack.services import Services
from shopkit.scenarios import supported_by
from tests.support.shop import admin, as_customer, idempotency_key

Switch = Callable[..., None]
# As the registry declares them (shopkit/scenarios.py).
SUPPORTED = {
    service: {scenario.name for scenario in supported_by(service)}
    for service in ("order", "inventory", "pricing")
}


@pytest.fixture
def switch(services: Services) -> Iterator[Switch]:
    """Switch scenarios on for one test; everything is off again afterwards."""
    switched: list[tuple[str, str]] = []

    def on(service: str, name: str, **parameters: object) -> None:
        response = httpx.put(
            f"{services.url(service)}/admin/scenarios/{name}",
            json={"enabled": True, **parameters},
            headers=admin(services, service),
        )
        assert response.status_code == 200, response.text
        switched.append((service, name))

    yield on
    for service, name in switched:
        url = f"{services.url(service)}/admin/scenarios/{name}"
        httpx.put(url, json={}, headers=admin(services, service))


@pytest.mark.parametrize("service", SUPPORTED)
def test_each_service_lists_its_scenarios_all_off(services: Services, service: str) -> None:
    response = httpx.get(
        f"{services.url(service)}/admin/scenarios", headers=admin(services, service)
    )
    assert response.status_code == 200
    assert set(response.json()) == SUPPORTED[service]
    assert not any(s["enabled"] for s in response.json().values())


def test_scenarios_need_the_admin_token_and_a_known_name(services: Services) -> None:
    url = f"{services.url('pricing')}/admin/scenarios"
    assert httpx.get(url).status_code == 401
    pricing_admin = admin(services, "pricing")
    assert (
        httpx.put(f"{url}/n-plus-one", json={"enabled": True}, headers=pricing_admin).status_code
        == 404
    )
    bad = httpx.put(f"{url}/errors", json={"enabled": True, "fraction": 2}, headers=pricing_admin)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "fraction"
    # Each scenario takes its own parameters: `errors` has no latency.
    extra = httpx.put(f"{url}/errors", json={"latency_ms": 100}, headers=pricing_admin)
    assert extra.status_code == 422
    assert extra.json()["errors"][0]["field"] == "latency_ms"


def test_a_scenario_s_state_reads_back_with_its_parameters(
    services: Services, switch: Switch
) -> None:
    switch("inventory", "lock-contention", latency_ms=50, fraction=0.25)
    url = f"{services.url('inventory')}/admin/scenarios"
    states = httpx.get(url, headers=admin(services, "inventory")).json()
    assert states["lock-contention"] == {"enabled": True, "latency_ms": 50, "fraction": 0.25}
    assert states["errors"] == {"enabled": False, "fraction": 1.0}


def _place(services: Services) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = httpx.post(
        f"{services.url('order')}/orders",
        json={"items": [{"sku": "SKU-00042", "quantity": 1}]},
        headers={**idempotency_key(), **as_customer(services, "scenario")},
        timeout=30,
    )
    return response, time.perf_counter() - started


def test_slow_dependency_delays_the_service(services: Services, switch: Switch) -> None:
    switch("pricing", "slow-dependency", latency_ms=300)
    response, elapsed = _place(services)
    assert response.status_code == 201
    assert elapsed >= 0.3


def test_sequential_fanout_adds_the_two_latencies(services: Services, switch: Switch) -> None:
    switch("pricing", "slow-dependency", latency_ms=300)
    switch("inventory", "slow-dependency", latency_ms=300)
    concurrent = _place(services)[1]
    switch("order", "sequential-fanout")
    sequential = _place(services)[1]
    # Inventory's delay counts twice either way: the reservation, and the confirmation after
    # the order is stored. Concurrently, the quote hides behind the reservation.
    assert 0.6 <= concurrent < 0.85
    assert sequential >= 0.9


def test_errors_fail_the_dependency(services: Services, switch: Switch) -> None:
    switch("inventory", "errors", fraction=1.0)
    response, _ = _place(services)
    assert response.status_code == 503
    assert response.json()["dependency"] == "inventory"


def test_lock_contention_serializes_reservations(services: Services, switch: Switch) -> None:
    switch("inventory", "lock-contention", latency_ms=200)
    response, elapsed = _place(services)
    assert response.status_code == 201
    assert elapsed >= 0.2
