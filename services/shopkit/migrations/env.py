"""Alembic environment shared by the three services.

`shopctl db upgrade` passes the service name; its models give the schema and the metadata,
and its `migrations/` folder holds its revisions. Each service keeps its own version table
inside its own schema, so the three histories never meet.
"""

import asyncio
import importlib

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

config = context.config
service: str = config.attributes["service"]
metadata = importlib.import_module(f"{service}.models").Base.metadata
schema = metadata.schema


def run_migrations(connection: Connection) -> None:
    # Create the schema only when it is missing: a role that owns its schema (as in the
    # Helm chart) then needs no CREATE privilege on the whole database.
    exists = connection.scalar(
        text("SELECT 1 FROM pg_namespace WHERE nspname = :schema"), {"schema": schema}
    )
    if not exists:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=schema,
        include_schemas=True,
        include_name=lambda name, type_, _: type_ != "schema" or name == schema,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = create_async_engine(config.attributes["database_url"])
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
asyncio.run(run_async_migrations())
