"""The three services as real uvicorn processes on free ports, talking real HTTP."""

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from subprocess import Popen

import httpx
import pytest

from shopctl import stack
from shopctl.postgres import LocalPostgres
from tests.conftest import create_database, free_port, seed_database

ADMIN_TOKEN = "test-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class Stack:
    """Starts, stops and restarts single services, as an outage test needs."""

    def __init__(self, database_url: str, logs: Path) -> None:
        self.database_url = database_url
        self.logs = logs
        self.ports = {name: free_port() for name in stack.PORTS}
        self.processes: dict[str, Popen[bytes]] = {}
        self.extra_env: dict[str, str] = {}

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def start(self, name: str) -> None:
        env = stack.service_env(name, self.database_url, self.ports, ADMIN_TOKEN, **self.extra_env)
        process = stack.start_service(name, self.ports[name], env, self.logs / f"{name}.log")
        self.processes[name] = process
        stack.wait_until_up(self.url(name), process)

    def stop(self, name: str) -> None:
        stack.stop_service(self.processes.pop(name))

    def start_all(self) -> None:
        for name in stack.PORTS:
            self.start(name)

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)


@pytest.fixture(scope="session")
def services(postgres: LocalPostgres, logs_dir: Path) -> Iterator[Stack]:
    database_url = create_database(postgres, "shop_e2e")
    seed_database(database_url)
    running = Stack(database_url, logs_dir / "e2e")
    running.start_all()
    yield running
    running.stop_all()


@pytest.fixture
async def order_api(services: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=services.url("order"), timeout=30) as client:
        yield client


@pytest.fixture
async def inventory_api(services: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=services.url("inventory"), headers=ADMIN, timeout=30
    ) as client:
        yield client


@pytest.fixture
async def pricing_api(services: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=services.url("pricing"), headers=ADMIN, timeout=30
    ) as client:
        yield client


async def new_product(
    inventory: httpx.AsyncClient, pricing: httpx.AsyncClient, stock: int, price: str = "10.00"
) -> str:
    """A SKU no other test uses, so tests share the services without sharing data."""
    sku = f"T-{uuid.uuid4().hex[:12].upper()}"
    response = await pricing.put(
        f"/prices/{sku}", json={"name": "Test product", "unit_price": price, "currency": "EUR"}
    )
    assert response.status_code == 200, response.text
    response = await inventory.put(f"/stock/{sku}", json={"available": stock})
    assert response.status_code == 200, response.text
    return sku


def idempotency_key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}
