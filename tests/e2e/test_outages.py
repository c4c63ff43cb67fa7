"""A dependency down gives a clear 503 naming it, leaves nothing behind, and heals.

These tests stop and start real processes, so they get a PostgreSQL server and a
stack of their own instead of disturbing the shared ones.
"""

import asyncio
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devtools.stack.hydra import Hydra
from devtools.stack.postgres import LocalPostgres
from devtools.stack.processes import free_port
from devtools.stack.services import Services
from tests.support.shop import admin, as_customer, idempotency_key, new_product


@pytest.fixture(scope="module")
def isolated(oidc_provider: Hydra, logs_dir: Path) -> Iterator[tuple[Services, LocalPostgres]]:
    with tempfile.TemporaryDirectory(prefix="shop-test-outage-pg-") as folder:
        os.chmod(folder, 0o755)
        postgres = LocalPostgres(Path(folder) / "data", free_port())
        postgres.start()
        stack = Services.on_free_ports(
            postgres.create_database("shop_outage"), oidc_provider, logs_dir / "outage"
        )
        stack.start_all()
        yield stack, postgres
        stack.stop()
        if postgres.is_running():
            postgres.stop()


async def test_pricing_down_gives_503_and_releases_the_reservation(
    isolated: tuple[Services, LocalPostgres],
) -> None:
    stack, _ = isolated
    sku = new_product(stack, stock=10)
    as_admin = admin(stack, "inventory")
    body = {"items": [{"sku": sku, "quantity": 4}]}
    c1 = as_customer(stack, "c1")
    stack.stop("pricing")
    try:
        async with httpx.AsyncClient(base_url=stack.url("order"), headers=c1, timeout=30) as api:
            response = await api.post("/orders", json=body, headers=idempotency_key())
            stock = (
                await api.get(f"{stack.url('inventory')}/stock/{sku}", headers=as_admin)
            ).json()
    finally:
        stack.start("pricing")

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["dependency"] == "pricing"
    assert "pricing is unavailable" in response.json()["detail"]
    assert stock["available"] == 10  # the reservation was given back

    async with httpx.AsyncClient(base_url=stack.url("order"), headers=c1, timeout=30) as api:
        again = await api.post("/orders", json=body, headers=idempotency_key())
    assert again.status_code == 201


async def test_a_retry_after_503_with_the_same_key_succeeds(
    isolated: tuple[Services, LocalPostgres],
) -> None:
    stack, _ = isolated
    sku = new_product(stack, stock=10)
    as_admin = admin(stack, "inventory")
    body = {"items": [{"sku": sku, "quantity": 1}]}
    c1 = as_customer(stack, "c1")
    headers = idempotency_key()
    stack.stop("inventory")
    try:
        async with httpx.AsyncClient(base_url=stack.url("order"), headers=c1, timeout=30) as api:
            failed = await api.post("/orders", json=body, headers=headers)
    finally:
        stack.start("inventory")
    async with httpx.AsyncClient(base_url=stack.url("order"), headers=c1, timeout=30) as api:
        retried = await api.post("/orders", json=body, headers=headers)
        stock = (await api.get(f"{stack.url('inventory')}/stock/{sku}", headers=as_admin)).json()

    assert (failed.status_code, failed.json()["dependency"]) == (503, "inventory")
    assert retried.status_code == 201
    assert stock["available"] == 9


async def test_database_down_gives_503_and_recovers(
    isolated: tuple[Services, LocalPostgres],
) -> None:
    stack, postgres = isolated
    sku = new_product(stack, stock=10)
    as_admin = admin(stack, "inventory")
    body = {"items": [{"sku": sku, "quantity": 1}]}
    headers = {**idempotency_key(), **as_customer(stack, "c1")}
    postgres.stop()
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            ready = {n: await client.get(f"{stack.url(n)}/readyz") for n in stack.ports}
            alive = {n: await client.get(f"{stack.url(n)}/healthz") for n in stack.ports}
            order = await client.post(f"{stack.url('order')}/orders", json=body, headers=headers)
            stock = await client.get(f"{stack.url('inventory')}/stock/{sku}", headers=as_admin)
    finally:
        postgres.start()

    assert {n: r.status_code for n, r in ready.items()} == dict.fromkeys(stack.ports, 503)
    assert {n: r.status_code for n, r in alive.items()} == dict.fromkeys(stack.ports, 200)
    assert ready["order"].json()["dependency"] == "database"
    for response in (order, stock):
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["dependency"] == "database"

    # Pools throw away the dead connections and reconnect on the next request.
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(100):
            ready = {n: await client.get(f"{stack.url(n)}/readyz") for n in stack.ports}
            if all(r.status_code == 200 for r in ready.values()):
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail(f"services not ready 10 s after the database came back: {ready}")
        headers = {**idempotency_key(), **as_customer(stack, "c1")}
        order = await client.post(f"{stack.url('order')}/orders", json=body, headers=headers)
    assert order.status_code == 201
