"""Calls to other services: one shared client per app, explicit timeouts, bounded retries, the
caller's deadline passed on."""

import asyncio
import logging
import random
import time
from typing import Any, Protocol

import httpx

from shopkit import deadlines
from shopkit.problems import DependencyUnavailable
from shopkit.settings import ClientSettings
from shopkit.transport import AiohttpTransport

log = logging.getLogger(__name__)

# Statuses that say "try again": the peer is overloaded, restarting or behind a proxy that is.
RETRYABLE_STATUSES = frozenset({502, 503, 504})


def create_http_client(settings: ClientSettings) -> httpx.AsyncClient:
    """One client per app, created in the lifespan, so connections are pooled and reused.

    httpx's API over an aiohttp transport (shopkit.transport): same exceptions, less CPU.
    """
    return httpx.AsyncClient(
        timeout=httpx.Timeout(
            settings.http_timeout_seconds, connect=settings.http_connect_timeout_seconds
        ),
        transport=AiohttpTransport(settings.http_max_connections),
    )


class RetryBudget:
    """How many retries a process may add, as a share of its calls (Finagle's retry budget).

    Every call deposits `ratio` of a retry and each retry withdraws one; `per_second` more accrue
    with time, so that a process calling rarely may still retry a blip. At most ten seconds'
    worth of those (`per_second` x 10) can be saved up. When a dependency fails everything,
    retries then add about `ratio` to its load instead of multiplying it by the attempts:
    retrying into an overload is what turns it into a collapse.
    """

    def __init__(self, ratio: float, per_second: float) -> None:
        self.ratio = ratio
        self.per_second = per_second
        self._cap = max(10 * per_second, 1.0)
        self._balance = self._cap
        self._updated = time.monotonic()

    def deposit(self) -> None:
        self._accrue(self.ratio)

    def withdraw(self) -> bool:
        """Take one retry out of the budget; False when there is none to take."""
        self._accrue(0.0)
        if self._balance < 1:
            return False
        self._balance -= 1
        return True

    def _accrue(self, extra: float) -> None:
        now = time.monotonic()
        earned = (now - self._updated) * self.per_second + extra
        self._balance = min(self._balance + earned, self._cap)
        self._updated = now


class Credentials(Protocol):
    """The caller's own access token for a callee, by the callee's name (the token's audience)."""

    async def token(self, client: httpx.AsyncClient, audience: str) -> str: ...


class ServiceClient:
    """Talks to one dependency; any failure to get an answer becomes DependencyUnavailable.

    With `credentials`, every request carries the caller's own token for this dependency.
    """

    def __init__(
        self,
        name: str,
        base_url: str,
        client: httpx.AsyncClient,
        settings: ClientSettings,
        retries: RetryBudget | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        """`retries`: the process's retry budget, shared by all its clients; None retries as
        the settings allow, whatever the others do (for tools and tests)."""
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._client = client
        self._settings = settings
        self._retries = retries
        self._credentials = credentials

    async def request(
        self, method: str, path: str, *, idempotent: bool, **kwargs: Any
    ) -> httpx.Response:
        """Send a request; retry with jittered exponential backoff only when `idempotent`.

        Within the current request's deadline (shopkit/deadlines.py), if it has one: each attempt
        carries what is left of it and times out with it, and none starts, nor is retried, once
        it is spent. Returns any response below 500 (the caller maps 4xx to its own errors).
        """
        attempts = self._settings.http_attempts if idempotent else 1
        if self._credentials is not None:
            try:
                token = await self._credentials.token(self._client, self.name)
            except Exception as exc:  # the issuer down or refusing: the call never left
                raise DependencyUnavailable(self.name, f"no token: {exc}", reached=False) from exc
            kwargs["headers"] = {**kwargs.get("headers", {}), "Authorization": f"Bearer {token}"}
        reached = False
        reason = "the request's deadline passed"
        if self._retries is not None:
            self._retries.deposit()
        for attempt in range(1, attempts + 1):
            left = deadlines.remaining()
            if left is not None and left <= 0:
                reason = "the request's deadline passed"
                break
            try:
                response = await self._client.request(
                    method, self.base_url + path, **self._within(left, kwargs)
                )
            except httpx.TransportError as exc:  # connect errors, timeouts, protocol errors
                reason = type(exc).__name__
                # Only these say the request never left: no connection, or none free in time.
                reached |= not isinstance(
                    exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
                )
            else:
                reached = True
                if response.status_code < 500:
                    return response
                reason = f"HTTP {response.status_code}"
                if response.status_code not in RETRYABLE_STATUSES:
                    break
            if attempt < attempts:
                delay = self._settings.http_backoff_seconds * 2 ** (attempt - 1)
                delay *= random.uniform(0.5, 1.5)
                left = deadlines.remaining()
                if left is not None and left <= delay:
                    break  # a retry could not start in time: the budget is the bound
                if self._retries is not None and not self._retries.withdraw():
                    reason += "; no retry left in the retry budget"
                    break
                log.info("retrying %s %s%s after %s", method, self.name, path, reason)
                await asyncio.sleep(delay)
        raise DependencyUnavailable(self.name, reason, reached)

    def _within(self, left: float | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call's arguments, bounded by `left` seconds of budget and passing it on."""
        if left is None:
            return kwargs
        settings = self._settings
        timeout = httpx.Timeout(
            min(settings.http_timeout_seconds, left),
            connect=min(settings.http_connect_timeout_seconds, left),
        )
        headers = {**kwargs.get("headers", {}), **deadlines.header(left)}
        return {**kwargs, "timeout": timeout, "headers": headers}
