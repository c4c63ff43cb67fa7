"""An order whose process dies mid-saga is finished by recovery, not left holding stock.

The stack here has a short claim lease and recovery interval, so recovery acts within
seconds; its own database keeps the checks exact.
"""

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from devtools.stack.hydra import Hydra
from devtools.stack.postgres import LocalPostgres
from devtools.stack.processes import wait_for
from devtools.stack.services import Services
from tests.support.shop import admin, as_customer, idempotency_key, new_product

LEASE_SECONDS = 2.0
PRICING_DELAY_MS = 3000  # longer than the lease: recovery takes the claim over meanwhile


@pytest.fixture(scope="module")
def crashable(postgres: LocalPostgres, oidc_provider: Hydra, logs_dir: Path) -> Iterator[Services]:
    stack = Services.on_free_ports(
        postgres.create_database("shop_crash"), oidc_provider, logs_dir / "crash"
    )
    stack.env = {
        "IDEMPOTENCY_CLAIM_TTL_SECONDS": str(LEASE_SECONDS),
        "RECOVERY_INTERVAL_SECONDS": "0.2",
    }
    stack.start_all()
    yield stack
    stack.stop()


async def _slow_pricing(
    client: httpx.AsyncClient, stack: Services, enabled: bool, latency_ms: int = PRICING_DELAY_MS
) -> None:
    response = await client.put(
        f"{stack.url('pricing')}/admin/scenarios/slow-dependency",
        json={"enabled": enabled, "latency_ms": latency_ms},
        headers=admin(stack, "pricing"),
    )
    assert response.status_code == 200, response.text


async def _failing_inventory(client: httpx.AsyncClient, stack: Services, enabled: bool) -> None:
    response = await client.put(
        f"{stack.url('inventory')}/admin/scenarios/errors",
        json={"enabled": enabled},
        headers=admin(stack, "inventory"),
    )
    assert response.status_code == 200, response.text


def _stock(stack: Services, sku: str) -> int:
    url = f"{stack.url('inventory')}/stock/{sku}"
    response = httpx.get(url, headers=admin(stack, "inventory"), timeout=30)
    available: int = response.json()["available"]
    return available


def _reservation_status(stack: Services, order_id: object) -> str:
    url = f"{stack.url('inventory')}/reservations/{order_id}"
    status: str = httpx.get(url, headers=admin(stack, "inventory"), timeout=30).json()["status"]
    return status


def _orders_of(stack: Services, customer: str) -> list[dict[str, object]]:
    response = httpx.get(
        f"{stack.url('order')}/orders", headers=as_customer(stack, customer), timeout=30
    )
    items: list[dict[str, object]] = response.json()["items"]
    return items


async def _poll(what: str, probe: Callable[[], object], within: float) -> float:
    """Poll `probe` until truthy, in a thread so that this test's own requests go on; returns
    the seconds it took."""
    started = time.monotonic()
    await asyncio.to_thread(wait_for, what, probe, within)
    return time.monotonic() - started


async def test_order_killed_mid_order_is_finished_without_a_retry(crashable: Services) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        sku = new_product(crashable, stock=100)
        await _slow_pricing(client, crashable, True)
        try:
            body = {"items": [{"sku": sku, "quantity": 7}]}
            post = asyncio.create_task(
                client.post(
                    f"{crashable.url('order')}/orders",
                    json=body,
                    headers={**idempotency_key(), **as_customer(crashable, "crash-1")},
                )
            )

            await _poll(
                "the reservation of 7 units", lambda: _stock(crashable, sku) == 93, within=5
            )
            crashable.processes["order"].kill()  # kill -9 while it waits for the quote
            crashable.processes["order"].wait()
            with pytest.raises(httpx.TransportError):
                await post
            crashable.start("order")

            def settled() -> bool:
                return _stock(crashable, sku) == 100 or bool(_orders_of(crashable, "crash-1"))

            took = await _poll("recovery to finish the order", settled, within=15)
        finally:
            await _slow_pricing(client, crashable, False)
        # Recovery goes forward when it can: the order is placed, its stock stays taken.
        orders = _orders_of(crashable, "crash-1")
        assert [o["lines"][0]["quantity"] for o in orders] == [7]  # type: ignore[index]
        assert _stock(crashable, sku) == 93
        assert _reservation_status(crashable, orders[0]["id"]) == "confirmed"
        assert took < 10


async def test_an_order_stored_while_inventory_fails_is_confirmed_by_recovery(
    crashable: Services,
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        sku = new_product(crashable, stock=100)
        # A quote slow enough to switch inventory's failures on after the reservation, quick
        # enough that the request stores its order within its lease.
        await _slow_pricing(client, crashable, True, latency_ms=1200)
        try:
            body = {"items": [{"sku": sku, "quantity": 3}]}
            post = asyncio.create_task(
                client.post(
                    f"{crashable.url('order')}/orders",
                    json=body,
                    headers={**idempotency_key(), **as_customer(crashable, "confirm-1")},
                )
            )
            await _poll(
                "the reservation of 3 units", lambda: _stock(crashable, sku) == 97, within=5
            )
            # Every inventory call fails from now on: the order is stored, but its reservation
            # cannot be confirmed.
            await _failing_inventory(client, crashable, True)
            try:
                placed = await post
            finally:
                await _failing_inventory(client, crashable, False)
        finally:
            await _slow_pricing(client, crashable, False)
        assert placed.status_code == 201, placed.text  # stored is placed

        order_id = placed.json()["id"]

        def confirmed() -> bool:
            return _reservation_status(crashable, order_id) == "confirmed"

        took = await _poll("recovery to confirm the reservation", confirmed, within=15)
        assert _stock(crashable, sku) == 97
        assert took < 10


async def test_a_request_slower_than_its_lease_is_fenced_out(crashable: Services) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        sku = new_product(crashable, stock=50)
        await _slow_pricing(client, crashable, True)
        body = {"items": [{"sku": sku, "quantity": 5}]}
        fenced = as_customer(crashable, "fenced-1")
        key = {**idempotency_key(), **fenced}
        try:
            # Recovery takes the claim over after 1 s while this request waits 3 s for pricing:
            # the request must neither store the order nor release the stock.
            first = await client.post(f"{crashable.url('order')}/orders", json=body, headers=key)
        finally:
            await _slow_pricing(client, crashable, False)
        assert first.status_code == 409, first.text
        assert first.json()["type"].endswith("idempotency-key-in-progress")

        def replay() -> httpx.Response | None:
            response = httpx.post(
                f"{crashable.url('order')}/orders", json=body, headers=key, timeout=30
            )
            return response if response.status_code == 201 else None

        await _poll("the recovered order", replay, within=10)
        answer = replay()
        assert answer is not None and answer.headers["Idempotent-Replayed"] == "true"
        listed = await client.get(f"{crashable.url('order')}/orders", headers=fenced)
        assert [o["id"] for o in listed.json()["items"]] == [answer.json()["id"]]
        assert _stock(crashable, sku) == 45
