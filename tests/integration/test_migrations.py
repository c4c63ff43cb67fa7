"""The Alembic migrations create exactly what the models describe."""

import asyncio
import importlib
import json
import uuid

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from devtools.stack.postgres import LocalPostgres
from shopctl import migrations
from shopctl.migrations import SERVICES


@pytest.mark.parametrize("service", SERVICES)
async def test_models_match_migrations(engine: AsyncEngine, service: str) -> None:
    metadata = importlib.import_module(f"{service}.models").Base.metadata

    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(
            connection,
            opts={
                "include_schemas": True,
                "include_name": lambda name, kind, _: kind != "schema" or name == metadata.schema,
                "version_table_schema": metadata.schema,
            },
        )
        return list(compare_metadata(context, metadata))

    async with engine.connect() as connection:
        assert await connection.run_sync(differences) == []


def test_keys_become_per_customer_and_stored_orders_drop_their_request(
    postgres: LocalPostgres,
) -> None:
    """order_0005 on claims made before it: each takes its customer from its request, else
    from its order, else '' (an unfinished claim from before the outbox)."""
    url = postgres.create_database("shop_migration_keys_per_customer")
    command.downgrade(migrations.alembic_config("order", url), "order_0004")
    stored, known_by_order = uuid.uuid4(), uuid.uuid4()

    def request(customer_id: str) -> str:
        return json.dumps({"customer_id": customer_id, "items": [{"sku": "S-1", "quantity": 1}]})

    asyncio.run(
        _execute(
            url,
            (
                "INSERT INTO orders.orders (id, customer_id, status, currency, subtotal,"
                " discount, total) VALUES (:id, 'c-order', 'confirmed', 'EUR', 1, 0, 1)",
                {"id": known_by_order},
            ),
            *(
                (
                    "INSERT INTO orders.idempotency_records (key, request_hash, order_id, state,"
                    " request) VALUES (:key, 'h', :order_id, :state, CAST(:request AS jsonb))",
                    {"key": key, "order_id": order_id, "state": state, "request": body},
                )
                for key, order_id, state, body in (
                    ("in-progress", uuid.uuid4(), "in_progress", request("c-request")),
                    ("stored", stored, "completed", request("c-stored")),
                    ("before-the-outbox", known_by_order, "completed", None),
                    ("unknown", uuid.uuid4(), "in_progress", None),
                )
            ),
        )
    )

    migrations.upgrade("order", url)

    rows = asyncio.run(
        _fetch(url, "SELECT key, customer_id, request IS NULL FROM orders.idempotency_records")
    )
    assert sorted(rows) == [
        ("before-the-outbox", "c-order", True),
        ("in-progress", "c-request", False),  # recovery still needs it
        ("stored", "c-stored", True),
        ("unknown", "", True),
    ]


async def _execute(url: str, *statements: tuple[str, dict[str, object]]) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            for statement, parameters in statements:
                await connection.execute(text(statement), parameters)
    finally:
        await engine.dispose()


async def _fetch(url: str, query: str) -> list[tuple[object, ...]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return [tuple(row) for row in await connection.execute(text(query))]
    finally:
        await engine.dispose()
