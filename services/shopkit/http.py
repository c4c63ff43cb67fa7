"""Calls to other services: one shared client per app, explicit timeouts, bounded retries."""

import asyncio
import logging
import random
from typing import Any

import httpx

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


class ServiceClient:
    """Talks to one dependency; any failure to get an answer becomes DependencyUnavailable."""

    def __init__(
        self, name: str, base_url: str, client: httpx.AsyncClient, settings: ClientSettings
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._client = client
        self._settings = settings

    async def request(
        self, method: str, path: str, *, idempotent: bool, **kwargs: Any
    ) -> httpx.Response:
        """Send a request; retry with jittered exponential backoff only when `idempotent`.

        Returns any response below 500 (the caller maps 4xx to its own errors).
        """
        attempts = self._settings.http_attempts if idempotent else 1
        reached = False
        for attempt in range(1, attempts + 1):
            try:
                response = await self._client.request(method, self.base_url + path, **kwargs)
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
                log.info("retrying %s %s%s after %s", method, self.name, path, reason)
                await asyncio.sleep(delay * random.uniform(0.5, 1.5))
        raise DependencyUnavailable(self.name, reason, reached)
