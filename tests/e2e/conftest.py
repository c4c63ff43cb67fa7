"""The three services as real uvicorn processes on free ports, talking real HTTP."""

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from devtools.stack.hydra import Hydra
from devtools.stack.postgres import LocalPostgres
from devtools.stack.services import Services
from tests.support.shop import admin, as_customer, seed_database


@pytest.fixture(scope="session")
def services(postgres: LocalPostgres, oidc_provider: Hydra, logs_dir: Path) -> Iterator[Services]:
    database_url = postgres.create_database("shop_e2e")
    seed_database(database_url)
    running = Services.on_free_ports(database_url, oidc_provider, logs_dir / "e2e")
    running.start_all()
    yield running
    running.stop()


@pytest.fixture
async def order_api(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """The order API, signed in as a customer of the test's own unless a request says otherwise
    (each customer's orders are rate-limited: order/rate_limit.py)."""
    headers = as_customer(services, f"shopper-{uuid.uuid4().hex[:12]}")
    async with httpx.AsyncClient(
        base_url=services.order_url, headers=headers, timeout=30
    ) as client:
        yield client


@pytest.fixture
async def inventory_api(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=services.url("inventory"), headers=admin(services, "inventory"), timeout=30
    ) as client:
        yield client


@pytest.fixture
async def pricing_api(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=services.url("pricing"), headers=admin(services, "pricing"), timeout=30
    ) as client:
        yield client
