"""Errors as RFC 9457 problem details (application/problem+json), naming the field or cause."""

import logging
import socket
from collections.abc import Sequence
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # no stubs; only its exception classes are used
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://shop.example.com/problems/"

log = logging.getLogger(__name__)


class Problem(Exception):
    """Raise from a handler to answer with a problem document.

    `slug` becomes the problem `type` URI; extra keyword arguments become extension members.
    """

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.headers = headers
        self.extensions = extensions


class DependencyUnavailable(Problem):
    """Another service or the database did not answer in time: 503 naming it.

    `reached` is False only when no attempt got a connection, so the request surely never
    arrived: callers may then skip compensating for it.
    """

    def __init__(self, dependency: str, reason: str, reached: bool = True) -> None:
        super().__init__(
            503,
            "dependency-unavailable",
            "Dependency unavailable",
            f"{dependency} is unavailable: {reason}",
            headers={"Retry-After": "1"},
            dependency=dependency,
        )
        self.dependency = dependency
        self.reached = reached


def problem_response(problem: Problem, instance: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {
        # RFC 9457: "about:blank" means the status code says it all.
        "type": problem.slug if problem.slug == "about:blank" else PROBLEM_BASE + problem.slug,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        **problem.extensions,
    }
    if instance:
        body["instance"] = instance
    return JSONResponse(
        body, status_code=problem.status, headers=problem.headers, media_type=PROBLEM_MEDIA_TYPE
    )


def field_name(loc: Sequence[str | int]) -> str:
    """('body', 'items', 0, 'quantity') -> 'items[0].quantity'; headers keep their own name."""
    where, *path = loc or ("body",)
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    if where == "header":
        return f"{name} header"
    return name or str(where)


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(exc, request.url.path)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            # A body that is not JSON at all has no field to name but the body itself.
            "field": "body" if error["type"] == "json_invalid" else field_name(error["loc"]),
            "message": error["msg"],
            "in": error["loc"][0],
        }
        for error in exc.errors()
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    problem = Problem(422, "invalid-request", "Invalid request", detail, errors=errors)
    return problem_response(problem, request.url.path)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers) if exc.headers else None
    problem = Problem(exc.status_code, "about:blank", str(exc.detail), str(exc.detail), headers)
    return problem_response(problem, request.url.path)


async def _on_database_error(request: Request, exc: Exception) -> JSONResponse:
    # Only connection-level failures mean "the database is down"; anything else is a bug
    # and must surface as a 500 with its stack trace in the log.
    if isinstance(exc, DBAPIError) and not _is_connection_error(exc):
        raise exc
    reason = _reason(exc)
    log.warning("database unavailable: %s", reason)
    problem = DependencyUnavailable("database", reason)
    return problem_response(problem, request.url.path)


def _is_connection_error(exc: DBAPIError) -> bool:
    if exc.connection_invalidated:
        return True
    original = exc.orig
    return isinstance(original, (OSError, TimeoutError)) or type(original).__name__ in {
        "ConnectionDoesNotExistError",
        "CannotConnectNowError",
        "ConnectionFailureError",
        "InterfaceError",
        "AdminShutdownError",
        "CrashShutdownError",
        "InternalClientError",
        "TooManyConnectionsError",
    }


def _reason(exc: Exception) -> str:
    if isinstance(exc, PoolTimeoutError):
        return "no free connection in the pool"
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return type(exc.orig).__name__
    return type(exc).__name__


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(HTTPException, _on_http_error)
    # asyncpg raises connect failures unwrapped: refused, reset, unknown host, timed out, and
    # the server's own refusals while it starts up or shuts down (CannotConnectNowError, ...)
    # or has no connection slot left (TooManyConnectionsError, max_connections reached).
    for error in (
        DBAPIError,
        PoolTimeoutError,
        ConnectionError,
        socket.gaierror,
        TimeoutError,
        asyncpg.exceptions.OperatorInterventionError,
        asyncpg.exceptions.PostgresConnectionError,
        asyncpg.exceptions.TooManyConnectionsError,
    ):
        app.add_exception_handler(error, _on_database_error)
