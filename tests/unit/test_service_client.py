"""ServiceClient against a real local socket: whether a failed call may have reached the peer.

The order service frees an Idempotency-Key, without compensating, only when no attempt could
have arrived; so "not reached" must be said for exactly the failures that prove it.
"""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from shopkit.http import ServiceClient, create_http_client
from shopkit.problems import DependencyUnavailable
from shopkit.settings import ClientSettings


async def _hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read the request, then never answer (until the test closes the server)."""
    await reader.readuntil(b"\r\n\r\n")
    await asyncio.sleep(3600)


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read the request, then close the connection without an answer."""
    await reader.readuntil(b"\r\n\r\n")
    writer.close()


async def _serve(handler: object) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)  # type: ignore[arg-type]
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}"
        server.close()


@pytest.fixture
async def holding_peer() -> AsyncIterator[str]:
    async for url in _serve(_hold):
        yield url


@pytest.fixture
async def hanging_up_peer() -> AsyncIterator[str]:
    async for url in _serve(_hang_up):
        yield url


def _client(url: str, **settings: float) -> tuple[ServiceClient, httpx.AsyncClient]:
    config = ClientSettings(http_attempts=1, **settings)  # type: ignore[arg-type]
    http = create_http_client(config)
    return ServiceClient("peer", url, http, config), http


async def test_waiting_for_a_free_connection_in_vain_never_reached_the_peer(
    holding_peer: str,
) -> None:
    # One connection, held by a call the peer answers late (it waits 1 s, the others 0.2 s):
    # the next call times out waiting in the pool, so it was never sent.
    client, http = _client(holding_peer, http_max_connections=1, http_timeout_seconds=0.2)
    async with http:
        first = asyncio.create_task(client.request("GET", "/a", idempotent=True, timeout=1.0))
        await asyncio.sleep(0.05)
        with pytest.raises(DependencyUnavailable) as second:
            await client.request("GET", "/b", idempotent=True)
        assert second.value.reached is False
        assert "PoolTimeout" in second.value.detail
        with pytest.raises(DependencyUnavailable) as held:
            await first
        assert held.value.reached is True  # sent, then no answer: it may have been applied


async def test_a_connection_dropped_after_sending_may_have_reached_the_peer(
    hanging_up_peer: str,
) -> None:
    client, http = _client(hanging_up_peer)
    async with http:
        with pytest.raises(DependencyUnavailable) as failure:
            await client.request("POST", "/reservations", idempotent=False)
    assert failure.value.reached is True


async def test_a_refused_connection_never_reached_the_peer() -> None:
    server = await asyncio.start_server(_hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    client, http = _client(f"http://127.0.0.1:{port}")
    async with http:
        with pytest.raises(DependencyUnavailable) as failure:
            await client.request("POST", "/reservations", idempotent=False)
    assert failure.value.reached is False
