"""Round trips to PostgreSQL per request, per service: a count that must not grow unnoticed.

Every statement is a round trip that costs CPU in the service (SQLAlchemy, asyncpg) and in
PostgreSQL. The counts below are what one request costs after warm-up (pools and statement
caches full), read from PostgreSQL's statement log. When a change adds or removes a
statement on purpose, update EXPECTED here, in one place, and say why in the commit.
"""

import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from devtools.stack.hydra import Hydra
from devtools.stack.postgres import LocalPostgres
from devtools.stack.processes import wait_for
from devtools.stack.services import Services
from shopctl.migrations import SERVICES
from tests.e2e.statements import StatementLog, log_all_statements
from tests.support.shop import as_customer, idempotency_key, seed_database

DATABASE = "shop_statements"
# Two seeded SKUs, one piece each: the reservation's statements depend on the item count.
ORDER = {"items": [{"sku": "SKU-00001", "quantity": 1}, {"sku": "SKU-00002", "quantity": 1}]}

# Statements per request and service, by kind: each is a round trip. Work of one statement
# runs without BEGIN and COMMIT (shopkit.db.Database.statement); the pool does not ping on
# checkout (shopkit.db.create_engine).
EXPECTED: dict[str, dict[str, dict[str, int]]] = {
    "POST /orders": {
        # claim the key (INSERT), then store the order and its lines and move the claim to
        # `confirming` in one fenced statement (WITH ... UPDATE ... INSERT ... INSERT), then,
        # once inventory confirmed the reservation, complete the claim (UPDATE, fenced: the
        # confirm step's price on the order side)
        "order": {"INSERT": 1, "WITH": 1, "UPDATE": 1},
        # the reservation (INSERT), then stock and lines in one statement (WITH ... INSERT);
        # after the order is stored, its confirmation: one UPDATE of the reservation's status,
        # without BEGIN and COMMIT (the confirm step's price on the inventory side)
        "inventory": {"BEGIN": 1, "INSERT": 1, "WITH": 1, "COMMIT": 1, "UPDATE": 1},
        "pricing": {"SELECT": 1},  # the quote
    },
    "GET /orders/{id}": {
        "order": {"SELECT": 1},  # the order joined with its lines
        "inventory": {"SELECT": 1},
        "pricing": {"SELECT": 1},
    },
}


@pytest.fixture(scope="module")
def logged(
    postgres: LocalPostgres, oidc_provider: Hydra, logs_dir: Path
) -> Iterator[tuple[Services, StatementLog]]:
    url = postgres.create_database(DATABASE)
    seed_database(url)
    log_all_statements(postgres, DATABASE)  # before the services connect
    running = Services.on_free_ports(url, oidc_provider, logs_dir / "statements")
    # The order service's recovery passes are not per-request statements: keep them out.
    running.env = {"RECOVERY_INTERVAL_SECONDS": "3600"}
    running.start_all()
    yield running, StatementLog(postgres, DATABASE)
    running.stop()


@pytest.fixture
async def api(logged: tuple[Services, StatementLog]) -> AsyncIterator[httpx.AsyncClient]:
    stack = logged[0]
    customer = as_customer(stack, "statements")
    async with httpx.AsyncClient(
        base_url=stack.url("order"), headers=customer, timeout=30
    ) as client:
        yield client


def settled(
    log: StatementLog, quiet: float = 0.5, deadline: float = 10.0
) -> dict[str, Counter[str]]:
    """The counts once nothing new was logged for `quiet` seconds: the last COMMIT of a
    request may be logged just after its response arrived."""
    last = log.since_mark()
    changed = time.monotonic()

    def unchanged_for_quiet() -> tuple[dict[str, Counter[str]]] | None:
        nonlocal last, changed
        now = log.since_mark()
        if now != last:
            last, changed = now, time.monotonic()
        return (now,) if time.monotonic() - changed >= quiet else None

    [counts] = wait_for(
        f"no new statement logged for {quiet}s", unchanged_for_quiet, deadline, interval=0.05
    )
    return counts


def _as_dicts(counts: dict[str, Counter[str]]) -> dict[str, dict[str, int]]:
    return {service: dict(counts.get(service, Counter())) for service in SERVICES}


async def test_statements_per_order_and_per_read(
    api: httpx.AsyncClient, logged: tuple[Services, StatementLog]
) -> None:
    _, log = logged
    # Warm-up: one of each request fills the pools and the prepared-statement caches.
    for _ in range(2):
        warm = await api.post("/orders", json=ORDER, headers=idempotency_key())
        assert warm.status_code == 201, warm.text
        assert (await api.get(f"/orders/{warm.json()['id']}")).status_code == 200

    log.mark()
    placed = await api.post("/orders", json=ORDER, headers=idempotency_key())
    assert placed.status_code == 201, placed.text
    measured = {"POST /orders": _as_dicts(settled(log))}

    log.mark()
    read = await api.get(f"/orders/{placed.json()['id']}")
    assert read.status_code == 200, read.text
    measured["GET /orders/{id}"] = _as_dicts(settled(log))

    assert measured == EXPECTED, f"statements per request changed; if on purpose: {measured}"
