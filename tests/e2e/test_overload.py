"""After an overload the order service serves again: nothing stays stuck once the load is gone.

The overload is far beyond what two cores serve (300 reads/s for 8 s), and its clients give
up after 2 s, as impatient users and proxies do. Every read fans out to inventory and pricing
through the order service's HTTP pool, where calls queue when the pool is full: an earlier
version capped that pool at 16 connections, and httpcore then left connections behind that
were never used nor freed, until every call timed out waiting for one (503) for good.
"""

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devtools.stack.hydra import Hydra
from devtools.stack.postgres import LocalPostgres
from devtools.stack.processes import wait_for
from devtools.stack.services import Services
from tests.support.shop import as_customer, idempotency_key, seed_database

RATE = 300
SECONDS = 8


async def _overload(url: str, headers: dict[str, str]) -> None:
    limits = httpx.Limits(max_connections=None)
    async with httpx.AsyncClient(timeout=2, limits=limits, headers=headers) as client:

        async def read() -> None:
            # Timed out or refused: the point is the load, not the answers.
            with contextlib.suppress(httpx.HTTPError):
                await client.get(url)

        tasks = []
        start = time.monotonic()
        for i in range(RATE * SECONDS):
            await asyncio.sleep(max(0, start + i / RATE - time.monotonic()))
            tasks.append(asyncio.create_task(read()))
        await asyncio.gather(*tasks)


@pytest.fixture
def overloaded(postgres: LocalPostgres, oidc_provider: Hydra, logs_dir: Path) -> Iterator[Services]:
    """A stack of its own: the abandoned requests it still works through after the test
    must not slow the other tests down, so it is killed rather than drained at the end."""
    database_url = postgres.create_database("shop_overload")
    seed_database(database_url)
    own = Services.on_free_ports(database_url, oidc_provider, logs_dir / "overload")
    own.start_all()
    yield own
    for process in own.processes.values():
        process.kill()
        process.wait()


async def test_the_order_service_serves_again_after_an_overload(overloaded: Services) -> None:
    customer = as_customer(overloaded, "c-overload")
    order_api = httpx.AsyncClient(base_url=overloaded.url("order"), headers=customer, timeout=10)
    body = {"items": [{"sku": "SKU-00001", "quantity": 1}]}
    async with order_api:
        created = await order_api.post("/orders", json=body, headers=idempotency_key())
        assert created.status_code == 201, created.text
        await _overload(f"{overloaded.url('order')}/orders/{created.json()['id']}", customer)
        _expect_fast_answers(f"{overloaded.url('order')}/orders/{created.json()['id']}", customer)


def _expect_fast_answers(url: str, headers: dict[str, str]) -> None:
    """Queued work drains within the timeouts (5 s per call); then reads must be fast again."""
    answers: list[int | str] = []

    def three_fast_in_a_row() -> bool:
        try:
            answers.append(httpx.get(url, headers=headers, timeout=2).status_code)
        except httpx.TimeoutException as exc:
            answers.append(type(exc).__name__)
        return answers[-3:] == [200, 200, 200]

    try:
        wait_for("three fast answers in a row", three_fast_in_a_row, timeout=30, interval=0.5)
    except TimeoutError:
        pytest.fail(f"still failing 30 s after the overload: {answers}")
