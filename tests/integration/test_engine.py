"""The services' engine (shopkit.db.create_engine) against a real PostgreSQL."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from shopkit.db import create_engine
from shopkit.settings import ServiceSettings


async def test_an_error_shows_the_statement_but_not_its_values(database_url: str) -> None:
    # No token is verified here: an issuer and an audience only because the settings need them.
    settings = ServiceSettings(
        database_url=database_url, oidc_issuer="http://127.0.0.1:9", oidc_audience="test"
    )
    engine = create_engine(settings, application_name="test")
    try:
        async with engine.connect() as connection:
            with pytest.raises(DBAPIError) as failure:
                # Fails on the database (division by zero), as a statement timeout would.
                await connection.execute(
                    text("SELECT CAST(:customer_id AS text), 1 / 0"), {"customer_id": "alice-42"}
                )
    finally:
        await engine.dispose()

    message = str(failure.value)
    assert "division by zero" in message
    assert "SELECT CAST" in message
    assert "alice-42" not in message
