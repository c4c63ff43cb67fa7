"""A crash soak in the spirit of Jepsen: real processes, real PostgreSQL, nothing mocked.

Concurrent clients place orders and retry each one with its Idempotency-Key, while a nemesis
kill -9s the order, inventory and pricing processes at random and restarts PostgreSQL (fast
shutdown, and immediate: a crash). Then faults and traffic stop, and the system must settle,
within the recovery bound, to a state where:

1. for every SKU, available stock + units of stored orders = initial stock;
2. every 201 a client saw is exactly one stored order, with the lines it asked for, and a
   replay of its key returns that same order;
3. no reservation is held or confirmed without an order, and every order's reservation is
   confirmed;
4. no Idempotency-Key is left unfinished.

`run(Config(...))` returns the figures and the violations; `python -m tests.soak` prints them.
"""

import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from devtools.stack.hydra import Hydra
from devtools.stack.hydra import Ports as HydraPorts
from devtools.stack.postgres import LocalPostgres
from devtools.stack.processes import free_port
from devtools.stack.services import UNLIMITED_ORDERS_PER_CUSTOMER, Services
from devtools.stack.versions import REPO
from shopctl.migrations import SERVICES

# What the nemesis does: every one once per round, in a random order.
FAULTS = (
    "kill order",
    "kill inventory",
    "kill pricing",
    "restart postgres fast",
    "restart postgres immediate",
)


@dataclass(frozen=True)
class Config:
    duration: float = 25.0  # seconds of traffic and faults, at least one round of each fault
    clients: int = 8
    skus: int = 8
    # Low, so that some orders run out of stock and are refused: the refusal path is tested too.
    stock: int = 100
    lease: float = 2.0  # IDEMPOTENCY_CLAIM_TTL_SECONDS of the order service
    recovery_interval: float = 0.5
    http_timeout: float = 2.0  # of calls between services, so recovery's own calls end soon
    # Seconds of traffic between the end of a fault (all processes up again) and the next.
    fault_every: tuple[float, float] = (0.5, 2.0)
    settle_within: float = 30.0  # the bound the system must settle within once faults stop
    per_order_give_up: float = 15.0  # a client stops retrying a key after this long
    seed: int | None = None
    # PYTHONPATH of the services under test (another checkout's services/), or this one's.
    services_path: str | None = None
    logs: Path | None = None


@dataclass
class Figures:
    attempted: int = 0
    acknowledged: int = 0
    refused: int = 0  # out of stock: a definite answer, nothing placed
    requests: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    stored_orders: int = 0
    time_to_consistency: float | None = None
    longest_orphan_hold: float = 0.0  # seconds a reservation without an order was held
    seed: int = 0

    @property
    def abandoned(self) -> int:
        """Orders with no definite answer: the client gave up, or stopped mid-request."""
        return self.attempted - self.acknowledged - self.refused

    def lines(self) -> list[str]:
        consistent = (
            f"{self.time_to_consistency:.1f}s"
            if self.time_to_consistency is not None
            else "never (within the bound)"
        )
        return [
            f"seed                   {self.seed}",
            f"orders attempted       {self.attempted} (HTTP requests {self.requests})",
            f"acknowledged (201)     {self.acknowledged}",
            f"refused (out of stock) {self.refused}",
            f"abandoned by client    {self.abandoned}",
            f"orders stored          {self.stored_orders}",
            "answers                "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.answers.items())),
            "faults                 "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items())),
            f"time to consistency    {consistent} after the last fault",
            f"longest orphan hold    {self.longest_orphan_hold:.1f}s (released, no order)",
        ]


@dataclass
class Ack:
    key: str
    order_id: str
    body: dict[str, Any]
    customer: str


class Cluster:
    """PostgreSQL and the three services on free ports; a process that dies is restarted."""

    def __init__(self, config: Config, folder: Path) -> None:
        self.config = config
        self.postgres = LocalPostgres(folder / "pg", free_port())
        self.provider = Hydra(REPO, folder / "hydra", HydraPorts.free())
        self.env = {
            "IDEMPOTENCY_CLAIM_TTL_SECONDS": str(config.lease),
            "RECOVERY_INTERVAL_SECONDS": str(config.recovery_interval),
            "HTTP_TIMEOUT_SECONDS": str(config.http_timeout),
            "DB_POOL_TIMEOUT_SECONDS": "3",
            "OTEL_SDK_DISABLED": "true",
            # Each client places orders back to back, faster than a customer may; the soak
            # is about crashes, not about that limit.
            **UNLIMITED_ORDERS_PER_CUSTOMER,
        }
        if config.services_path:
            self.env["PYTHONPATH"] = config.services_path
        self.services = Services.on_free_ports(
            self.postgres.url, self.provider, config.logs or folder / "logs"
        )
        self.services.env = self.env
        # Pricing is slow on a share of quotes: more orders are mid-saga when a kill lands.
        slow = {"slow-dependency": {"enabled": True, "latency_ms": 400, "fraction": 0.5}}
        self.services.service_env = {"pricing": {"SCENARIOS": json.dumps(slow)}}

    def url(self, name: str) -> str:
        return self.services.url(name)

    def shopctl(self, *args: str) -> None:
        """The CLI of the services under test: their migrations and their seed."""
        env = {**os.environ, **self.env, "DATABASE_URL": self.postgres.url}
        subprocess.run(
            [sys.executable, "-m", "shopctl.cli", *args], env=env, check=True, capture_output=True
        )

    def wait_until_up(self) -> None:
        for name in self.services.processes:
            self.services.wait_healthy(name, timeout=30)

    def stop(self) -> None:
        self.services.stop()
        self.provider.stop()
        if self.postgres.is_running():
            self.postgres.stop()


async def _client(
    number: int,
    config: Config,
    cluster: Cluster,
    skus: list[str],
    rng: random.Random,
    stop: asyncio.Event,
    acks: list[Ack],
    figures: Figures,
) -> None:
    """Place orders one after the other, retrying each with its key until a definite answer."""
    customer = f"soak-{number}"
    # Signed in once, before the nemesis starts: the provider is not under test.
    token = await asyncio.to_thread(cluster.provider.customer_token, customer)
    signed_in = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=cluster.url("order"), headers=signed_in, timeout=10
    ) as api:
        while not stop.is_set():
            key = f"soak-{number}-{uuid.uuid4()}"
            chosen = rng.sample(skus, rng.randint(1, 3))
            body = {
                "items": [{"sku": sku, "quantity": rng.randint(1, 4)} for sku in sorted(chosen)],
            }
            figures.attempted += 1
            give_up = time.monotonic() + config.per_order_give_up
            while True:
                figures.requests += 1
                try:
                    response = await api.post(
                        "/orders", json=body, headers={"Idempotency-Key": key}
                    )
                    answer = f"{response.status_code}"
                    if response.status_code == 409:
                        answer += " " + response.json().get("type", "").rsplit("/", 1)[-1]
                except httpx.TransportError as exc:
                    response, answer = None, type(exc).__name__
                figures.answers[answer] += 1
                if response is not None and response.status_code == 201:
                    acks.append(Ack(key, response.json()["id"], body, customer))
                    figures.acknowledged += 1
                    break
                if answer == "409 out-of-stock":
                    figures.refused += 1
                    break
                if stop.is_set() or time.monotonic() > give_up:
                    break
                await asyncio.sleep(rng.uniform(0.1, 0.4))


async def _nemesis(config: Config, cluster: Cluster, rng: random.Random, figures: Figures) -> None:
    """Rounds of every fault in a random order, until `duration` has passed and a round ended.

    Each fault lands on a serving stack: a process is only killed once all are up again.
    """
    ends = time.monotonic() + config.duration
    while time.monotonic() < ends:
        for fault in rng.sample(FAULTS, len(FAULTS)):
            await asyncio.to_thread(cluster.wait_until_up)
            await asyncio.sleep(rng.uniform(*config.fault_every))
            figures.faults[fault] += 1
            if fault.startswith("kill "):
                process = cluster.services.processes[fault.removeprefix("kill ")]
                process.kill()  # SIGKILL: no shutdown, no cleanup, in whatever it was doing
                process.wait()
                cluster.services.restart_dead()
            else:
                mode = fault.rsplit(" ", 1)[1]
                await asyncio.to_thread(cluster.postgres.stop, mode)
                await asyncio.sleep(rng.uniform(0, 1))
                await asyncio.to_thread(cluster.postgres.start)


async def _violations(
    engine: AsyncEngine, initial: dict[str, int], acks: list[Ack]
) -> tuple[list[str], int]:
    """The invariants that are checked in the database; returns them broken, and #orders."""
    broken: list[str] = []
    async with engine.connect() as db:
        stock = dict((await db.execute(text("SELECT sku, available FROM inventory.stock"))).all())
        ordered = dict(
            (
                await db.execute(
                    text("SELECT sku, sum(quantity) FROM orders.order_lines GROUP BY sku")
                )
            ).all()
        )
        for sku, start in sorted(initial.items()):
            if stock[sku] + ordered.get(sku, 0) != start:
                broken.append(
                    f"stock: {sku} has {stock[sku]} available + {ordered.get(sku, 0)} ordered"
                    f" != {start} initially"
                )
        lines = {
            str(order_id): sorted(zip(skus, quantities, strict=True))
            for order_id, skus, quantities in await db.execute(
                text(
                    "SELECT order_id, array_agg(sku), array_agg(quantity)"
                    " FROM orders.order_lines GROUP BY order_id"
                )
            )
        }
        stored = (await db.execute(text("SELECT count(*) FROM orders.orders"))).scalar_one()
        for ack in acks:
            wanted = sorted((i["sku"], i["quantity"]) for i in ack.body["items"])
            if lines.get(ack.order_id) != wanted:
                broken.append(
                    f"acknowledged order {ack.order_id} is stored as {lines.get(ack.order_id)}"
                )
        if len({ack.order_id for ack in acks}) != len(acks):
            broken.append("two acknowledgements name the same order")
        orphans = (
            await db.scalars(
                text(
                    "SELECT r.order_id FROM inventory.reservations r"
                    " LEFT JOIN orders.orders o ON o.id = r.order_id"
                    " WHERE r.status <> 'released' AND o.id IS NULL"
                )
            )
        ).all()
        broken += [f"reservation of {order_id} kept without an order" for order_id in orphans]
        unconfirmed = (
            await db.scalars(
                text(
                    "SELECT o.id FROM orders.orders o LEFT JOIN inventory.reservations r"
                    " ON r.order_id = o.id WHERE r.status IS DISTINCT FROM 'confirmed'"
                )
            )
        ).all()
        broken += [f"order {order_id} has no confirmed reservation" for order_id in unconfirmed]
        unfinished = (
            await db.execute(
                text("SELECT key, state FROM orders.idempotency_records WHERE state <> 'completed'")
            )
        ).all()
        broken += [f"key {key} left {state}" for key, state in unfinished]
    return broken, stored


async def _replays(cluster: Cluster, acks: list[Ack]) -> list[str]:
    """A retry of an acknowledged key returns the same order, marked as a replay."""
    broken = []
    async with httpx.AsyncClient(base_url=cluster.url("order"), timeout=10) as api:
        for ack in acks:
            token = cluster.provider.customer_token(ack.customer)  # one sign-in per customer
            headers = {"Idempotency-Key": ack.key, "Authorization": f"Bearer {token}"}
            response = await api.post("/orders", json=ack.body, headers=headers)
            if response.status_code != 201 or response.json()["id"] != ack.order_id:
                broken.append(
                    f"replay of {ack.key} answered {response.status_code} {response.text[:200]}"
                )
    return broken


async def _orphan_hold_seconds(engine: AsyncEngine) -> float:
    """The longest a reservation that ended without an order was held before its release."""
    async with engine.connect() as db:
        longest = (
            await db.execute(
                text(
                    "SELECT max(extract(epoch FROM r.released_at - r.created_at))"
                    " FROM inventory.reservations r LEFT JOIN orders.orders o ON o.id = r.order_id"
                    " WHERE o.id IS NULL AND r.released_at IS NOT NULL"
                    " AND EXISTS (SELECT 1 FROM inventory.reservation_lines l"
                    "             WHERE l.order_id = r.order_id)"
                )
            )
        ).scalar_one()
    return float(longest or 0)


async def _soak(config: Config, folder: Path) -> tuple[Figures, list[str]]:
    seed = config.seed if config.seed is not None else random.randrange(2**32)
    rng = random.Random(seed)
    figures = Figures(seed=seed)
    cluster = Cluster(config, folder)
    cluster.postgres.start()
    cluster.provider.start()
    engine = create_async_engine(cluster.postgres.url, pool_pre_ping=True)
    try:
        cluster.shopctl("db", "upgrade")
        cluster.shopctl("seed", "--products", str(config.skus), "--stock", str(config.stock))
        async with engine.connect() as db:
            initial = dict(
                (await db.execute(text("SELECT sku, available FROM inventory.stock"))).all()
            )
        await engine.dispose()  # no connection of ours may outlive a PostgreSQL restart
        for name in SERVICES:
            cluster.services.launch(name)
        await asyncio.to_thread(cluster.wait_until_up)

        stop = asyncio.Event()
        acks: list[Ack] = []
        skus = sorted(initial)
        clients = [
            asyncio.create_task(
                _client(n, config, cluster, skus, random.Random(rng.random()), stop, acks, figures)
            )
            for n in range(config.clients)
        ]
        await _nemesis(config, cluster, rng, figures)
        stop.set()
        # Requests still in flight are abandoned, as a client that goes away would.
        for task in clients:
            task.cancel()
        await asyncio.gather(*clients, return_exceptions=True)
        if not cluster.postgres.is_running():
            await asyncio.to_thread(cluster.postgres.start)
        cluster.services.restart_dead()
        faults_over = time.monotonic()

        broken: list[str] = []
        while True:
            try:
                broken, figures.stored_orders = await _violations(engine, initial, acks)
            except Exception as exc:  # PostgreSQL still recovering, say
                broken = [f"could not check: {exc!r}"]
            if not broken:
                figures.time_to_consistency = time.monotonic() - faults_over
                break
            if time.monotonic() - faults_over > config.settle_within:
                break
            await asyncio.sleep(0.25)
        await asyncio.to_thread(cluster.wait_until_up)
        broken += await _replays(cluster, acks)
        figures.longest_orphan_hold = await _orphan_hold_seconds(engine)
        return figures, broken
    finally:
        await engine.dispose()
        cluster.stop()


def run(config: Config) -> tuple[Figures, list[str]]:
    """Run the soak; returns its figures and the invariants it found broken (none: passed)."""
    # Not under pytest's private temp folder: as root, the server runs as `postgres`,
    # which must be able to reach its data directory.
    with tempfile.TemporaryDirectory(prefix="shop-soak-") as folder:
        os.chmod(folder, 0o755)
        return asyncio.run(_soak(config, Path(folder)))
