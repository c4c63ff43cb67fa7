"""An httpx transport that sends over aiohttp: httpx's API, aiohttp's cheaper connection pool.

Measured under load, httpcore's pool bookkeeping grew with the calls in flight (about
1.2 ms of CPU per call at 16 in flight, against 0.1 ms for aiohttp itself; see
docs/benchmarks.md). Callers keep httpx: its client, its exceptions, and the OpenTelemetry
httpx instrumentation, which wraps whatever transport the client has.

What an error says about the peer must stay exact, because the order service frees an
Idempotency-Key without compensating only when a call cannot have arrived. So only
failures that happen before a connection exists map to httpx's "never sent" exceptions
(ConnectError, ConnectTimeout, PoolTimeout); everything after, a connection dropped
mid-request included, maps to one that says it may have arrived. (The `httpx-aiohttp`
package maps any aiohttp.ClientConnectionError, a dropped connection included, to
ConnectTimeout, which is why it is not used.)
"""

import asyncio

import aiohttp
import httpx
from yarl import URL

# Below the servers' keep-alive (uvicorn closes idle connections after 5 s), so that a
# connection is never reused just as the server closes it.
KEEPALIVE_SECONDS = 4.0


class AiohttpTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over one aiohttp session; at most `max_connections` requests in flight.

    Reads each response whole before returning it (the services' answers are small JSON
    documents), so the connection goes back to the pool at once.
    """

    def __init__(self, max_connections: int) -> None:
        # The limit lives here, not in aiohttp's connector, so that waiting for a free
        # connection times out as httpx.PoolTimeout: aiohttp reports that wait as a
        # connect timeout.
        self._slots = asyncio.Semaphore(max_connections)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        # Created on first use, inside the running event loop that will own its sockets.
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=KEEPALIVE_SECONDS)
        return aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,  # httpx decodes by Content-Encoding itself
            skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        try:
            async with asyncio.timeout(timeout.get("pool")):
                await self._slots.acquire()
        except TimeoutError as exc:
            raise httpx.PoolTimeout("no free connection in time", request=request) from exc
        try:
            session = self._session = self._session or self._open()
            body = await request.aread()
            async with session.request(
                request.method,
                URL(str(request.url), encoded=True),
                headers=request.headers.multi_items(),
                data=body or None,
                allow_redirects=False,
                # `connect` bounds name resolution and connecting together, as httpx's does;
                # there is no wait for a pooled connection in it (the semaphore is that wait).
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeout.get("connect"),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            ) as response:
                content = await response.read()
                status, headers = response.status, response.raw_headers
        except aiohttp.ClientError as exc:
            raise _mapped(exc, request) from exc
        finally:
            self._slots.release()
        return httpx.Response(
            status, headers=headers, content=content, extensions={"http_version": b"HTTP/1.1"}
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def _mapped(exc: aiohttp.ClientError, request: httpx.Request) -> httpx.TransportError:
    """The httpx exception that says the same about whether the request was sent."""
    message = str(exc) or type(exc).__name__
    # Before a connection existed: nothing was sent.
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message, request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(message, request=request)
    # On an open connection: the request may have arrived and been acted on.
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return httpx.ReadTimeout(message, request=request)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return httpx.RemoteProtocolError(message, request=request)
    if isinstance(exc, aiohttp.ClientResponseError):  # a malformed status line or headers
        return httpx.RemoteProtocolError(message, request=request)
    if isinstance(exc, aiohttp.ClientOSError):
        return httpx.ReadError(message, request=request)
    return httpx.TransportError(message, request=request)
