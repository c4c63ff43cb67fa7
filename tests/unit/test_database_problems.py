"""A database that refuses connections (starting, stopping, out of connection slots) is a 503
naming it, not a 500."""

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from shopkit.problems import install_problem_handlers

REFUSALS = [
    asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
    asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
]


@pytest.mark.parametrize("refusal", REFUSALS, ids=lambda exc: type(exc).__name__)
async def test_a_refused_connection_is_a_503_naming_the_database(refusal: Exception) -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/stock")
    async def stock() -> None:
        raise refusal  # as asyncpg raises it at connect, unwrapped by SQLAlchemy

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/stock")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["dependency"] == "database"
    assert type(refusal).__name__ in response.json()["detail"]
