"""The async engine, connections and sessions, and the schema-per-service metadata."""

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import MetaData, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from shopkit.settings import ServiceSettings

# Stable constraint names, so Alembic migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def service_metadata(schema: str) -> MetaData:
    """Each service keeps its tables in its own schema and never reads another's."""
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def create_engine(settings: ServiceSettings, application_name: str) -> AsyncEngine:
    engine = create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        # No pre-ping: on asyncpg it is three round trips (BEGIN, an empty query, ROLLBACK)
        # before every transaction. A restarted database closes the sockets, which asyncpg
        # sees at once: such connections are dropped at checkout without a round trip
        # (below). A connection that dies silently fails its one request, and SQLAlchemy
        # then replaces every older connection of the pool (optimistic disconnect handling).
        pool_pre_ping=False,
        # An error's message (logged, and recorded on spans as the exception) shows the
        # statement, never its values: those hold customer ids and request bodies.
        hide_parameters=True,
        connect_args={
            "timeout": settings.db_connect_timeout_seconds,
            "server_settings": {
                "application_name": application_name,
                "statement_timeout": str(settings.db_statement_timeout_ms),
            },
        },
    )
    event.listen(engine.sync_engine, "checkout", discard_closed)
    return engine


def discard_closed(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """A pool "checkout" listener: a connection the server closed is not handed out, the
    pool connects a new one. asyncpg and psycopg both know without a round trip."""
    driver = record.driver_connection
    closed = driver.is_closed() if callable(getattr(driver, "is_closed", None)) else driver.closed
    if closed:
        raise DisconnectionError("the server closed this pooled connection")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


class Database:
    """A service's database: Core statements on pooled connections, and ORM sessions.

    The request paths run Core statements on a connection. An ORM session costs about
    0.3 ms of CPU more per statement (its transaction, the ORM's compile step, the result's
    bookkeeping; docs/benchmarks.md) and buys nothing for statements that read or write
    rows rather than entities. Sessions serve the work that loads entities.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessionmaker = create_sessionmaker(engine)
        # The same pool: a connection is switched to autocommit while checked out through
        # here, and back on return (a flag of the driver on asyncpg: no round trip).
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    def statement(self) -> AsyncConnection:
        """A connection for work that is one statement: no BEGIN and COMMIT around it.

        One statement is atomic on its own; an explicit transaction would add two round
        trips. Use as `async with database.statement() as connection:`.
        """
        return self._autocommit.connect()

    def transaction(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection in a transaction, committed at the end of the block, rolled back
        if the block raises."""
        return self.engine.begin()


async def get_database(request: Request) -> Database:
    """`async def`, or FastAPI would run it in its thread pool: a thread hop per request."""
    database: Database = request.app.state.database
    return database


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    database: Database = request.app.state.database
    async with database.sessionmaker() as session:
        yield session


DatabaseDep = Annotated[Database, Depends(get_database)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
