"""Liveness and readiness routes: /healthz says the process runs, /readyz that it can serve."""

import asyncio

from fastapi import APIRouter, Request
from sqlalchemy import text

from shopkit.db import Database
from shopkit.problems import DependencyUnavailable

router = APIRouter(tags=["health"])

READY_TIMEOUT_SECONDS = 2.0
# The probes' paths: they answer whatever the load, never queued behind business requests.
PATHS = frozenset({"/healthz", "/readyz"})


@router.get("/healthz", summary="Liveness: the process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the database answers",
    responses={503: {"description": "The database is unreachable"}},
)
async def readyz(request: Request) -> dict[str, str]:
    database: Database = request.app.state.database
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS), database.statement() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach the database means "not ready"
        raise DependencyUnavailable("database", type(exc).__name__) from exc
    return {"status": "ready"}
