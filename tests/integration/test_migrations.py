"""The Alembic migrations create exactly what the models describe."""

import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

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
