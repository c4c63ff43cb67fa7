"""ServiceClient against a real local socket: whether a failed call may have reached the peer.

The order service frees an Idempotency-Key, without compensating, only when no attempt could
have arrived; so "not reached" must be said for exactly the failures that prove it.
"""

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar

import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, StatusCode

from shopkit import deadlines, http_telemetry
from shopkit.http import RetryBudget, ServiceClient, create_http_client
from shopkit.problems import DependencyUnavailable
from shopkit.settings import ClientSettings
from tests.support.metrics import collected

T = TypeVar("T")


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


async def test_a_connect_that_times_out_never_reached_the_peer() -> None:
    # A listener that never accepts, with its backlog full: the kernel drops further SYNs,
    # so the next connect neither succeeds nor is refused.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):  # more than the backlog admits; the extra ones just stay pending
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    client, http = _client(f"http://127.0.0.1:{port}", http_connect_timeout_seconds=0.2)
    try:
        async with http:
            with pytest.raises(DependencyUnavailable) as failure:
                await client.request("POST", "/reservations", idempotent=False)
    finally:
        for s in (*fillers, listener):
            s.close()
    assert failure.value.reached is False
    assert "ConnectTimeout" in failure.value.detail


async def _garble(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read the request, then answer something that is not HTTP."""
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
    await writer.drain()
    writer.close()


async def test_a_garbled_answer_may_have_reached_the_peer() -> None:
    async for url in _serve(_garble):
        client, http = _client(url)
        async with http:
            with pytest.raises(DependencyUnavailable) as failure:
                await client.request("POST", "/reservations", idempotent=False)
        assert failure.value.reached is True
        assert "RemoteProtocolError" in failure.value.detail


async def test_an_answer_that_comes_too_late_may_have_reached_the_peer(holding_peer: str) -> None:
    client, http = _client(holding_peer, http_timeout_seconds=0.2)
    async with http:
        with pytest.raises(DependencyUnavailable) as failure:
            await client.request("POST", "/reservations", idempotent=False)
    assert failure.value.reached is True
    assert "ReadTimeout" in failure.value.detail


async def _echo_traceparent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer every request on the connection with the traceparent header it carried."""
    while head := await reader.readuntil(b"\r\n\r\n"):
        headers = dict(
            line.split(": ", 1) for line in head.decode().split("\r\n")[1:] if ": " in line
        )
        body = headers.get("traceparent", "").encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()


def _durations(reader: InMemoryMetricReader) -> list[tuple[dict[str, object], int]]:
    return [
        (dict(point.attributes or {}), point.count)
        for _, _, point in collected(reader, "http.client.request.duration")
        if isinstance(point, HistogramDataPoint)
    ]


async def test_calls_make_client_spans_and_carry_the_trace_context() -> None:
    exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    async for url in _serve(_echo_traceparent):
        client, http = _client(url)
        http_telemetry.instrument(http, provider, MeterProvider(metric_readers=[reader]))
        async with http:
            with provider.get_tracer(__name__).start_as_current_span("caller"):
                response = await client.request("GET", "/stock?skus=SKU-00001", idempotent=True)
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert set(spans) == {"GET", "caller"}
    call = spans["GET"]
    assert call.kind is SpanKind.CLIENT
    port = int(url.rsplit(":", 1)[1])
    assert dict(call.attributes or {}) == {
        "http.request.method": "GET",
        "url.full": f"{url}/stock?skus=SKU-00001",
        "server.address": "127.0.0.1",
        "server.port": port,
        "network.peer.address": "127.0.0.1",
        "network.peer.port": port,
        "http.response.status_code": 200,
        "network.protocol.version": "1.1",
    }
    assert call.parent is not None and call.parent.span_id == spans["caller"].context.span_id
    trace_id, span_id = response.text.split("-")[1:3]
    assert (int(trace_id, 16), int(span_id, 16)) == (call.context.trace_id, call.context.span_id)
    assert _durations(reader) == [
        (
            {
                "http.request.method": "GET",
                "server.address": "127.0.0.1",
                "server.port": port,
                "http.response.status_code": 200,
                "network.protocol.version": "1.1",
            },
            1,
        )
    ]


async def test_unsampled_calls_carry_an_unsampled_context_and_are_timed() -> None:
    exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    async for url in _serve(_echo_traceparent):
        client, http = _client(url)
        http_telemetry.instrument(http, provider, MeterProvider(metric_readers=[reader]))
        async with http:
            responses = [await client.request("GET", "/a", idempotent=True) for _ in range(3)]
    assert exporter.get_finished_spans() == ()
    # The peer learns the trace was not sampled (flag 01 clear), so it does not sample it.
    assert [int(r.text.split("-")[3], 16) & 1 for r in responses] == [0, 0, 0]
    [(attributes, count)] = _durations(reader)
    assert (attributes["http.response.status_code"], count) == (200, 3)


async def test_a_call_without_an_answer_is_an_error_span_and_a_timed_error(
    hanging_up_peer: str,
) -> None:
    exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    client, http = _client(hanging_up_peer)
    http_telemetry.instrument(http, provider, MeterProvider(metric_readers=[reader]))
    async with http:
        with pytest.raises(DependencyUnavailable):
            await client.request("POST", "/reservations", idempotent=False)
    [call] = exporter.get_finished_spans()
    assert call.status.status_code is StatusCode.ERROR
    error_type = dict(call.attributes or {})["error.type"]
    assert error_type == "RemoteProtocolError"
    [(attributes, count)] = _durations(reader)
    assert (attributes["error.type"], attributes["http.request.method"], count) == (
        error_type,
        "POST",
        1,
    )


def _echo_budget(
    status: int, seen: list[str] | None = None
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]:
    """A peer answering every request with `status` and the budget header the request carried
    (which it also appends to `seen`)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while head := await reader.readuntil(b"\r\n\r\n"):
            lines = head.decode().lower().split("\r\n")[1:]
            headers = dict(line.split(": ", 1) for line in lines if ": " in line)
            body = headers.get(deadlines.HEADER.lower(), "none").encode()
            if seen is not None:
                seen.append(body.decode())
            writer.write(
                b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s" % (status, len(body), body)
            )
            await writer.drain()

    return answer


async def _within_budget(seconds: float, call: Coroutine[Any, Any, T]) -> T:
    """Run `call` as a request with `seconds` of budget (in a task: the deadline is its own)."""

    async def bounded() -> T:
        deadlines.start(seconds)
        return await call

    return await asyncio.create_task(bounded())


async def test_a_call_times_out_with_the_requests_budget_not_the_settings(
    holding_peer: str,
) -> None:
    client, http = _client(holding_peer, http_timeout_seconds=5)
    async with http:
        started = time.monotonic()
        with pytest.raises(DependencyUnavailable) as failure:
            await _within_budget(0.2, client.request("GET", "/stock", idempotent=True))
        took = time.monotonic() - started
    assert 0.15 < took < 1.0
    assert failure.value.reached is True


async def test_a_spent_budget_sends_nothing_and_retries_stay_inside_it() -> None:
    sent: list[str] = []
    async for url in _serve(_echo_budget(503, sent)):
        config = ClientSettings(http_attempts=5, http_backoff_seconds=0.2)
        http = create_http_client(config)
        client = ServiceClient("peer", url, http, config)
        async with http:
            with pytest.raises(DependencyUnavailable) as spent:
                await _within_budget(0, client.request("GET", "/stock", idempotent=True))
            assert spent.value.reached is False and sent == []
            # 503 every time, backoff 0.1-0.3 s then 0.2-0.6 s: at most one retry fits in
            # 0.35 s, not the four the settings allow.
            started = time.monotonic()
            with pytest.raises(DependencyUnavailable):
                await _within_budget(0.35, client.request("GET", "/stock", idempotent=True))
            # Give or take the scheduling of a busy machine; unbounded, the four retries would
            # wait 3 s between them.
            assert time.monotonic() - started < 0.6
    assert 1 <= len(sent) <= 2
    assert all(int(budget) <= 350 for budget in sent)


async def test_a_call_carries_what_is_left_of_the_budget() -> None:
    async for url in _serve(_echo_budget(200)):
        client, http = _client(url)
        async with http:
            unbounded = await client.request("GET", "/stock", idempotent=True)
            bounded = await _within_budget(2.0, client.request("GET", "/stock", idempotent=True))
    assert unbounded.text == "none"
    assert 1900 <= int(bounded.text) <= 2000


async def test_retries_stop_when_the_retry_budget_is_spent() -> None:
    sent: list[str] = []
    async for url in _serve(_echo_budget(503, sent)):
        config = ClientSettings(http_attempts=3, http_backoff_seconds=0)
        http = create_http_client(config)
        # Nothing accrues with time and calls deposit nothing: one retry saved up, no more.
        client = ServiceClient("peer", url, http, config, RetryBudget(ratio=0, per_second=0))
        async with http:
            for _ in range(3):
                with pytest.raises(DependencyUnavailable) as failure:
                    await client.request("GET", "/stock", idempotent=True)
    # Three calls of up to three attempts: the first retries once, then none do.
    assert len(sent) == 3 + 1
    assert "retry budget" in failure.value.detail


def test_the_retry_budget_allows_its_share_of_the_calls() -> None:
    budget = RetryBudget(ratio=0.25, per_second=0)
    assert budget.withdraw() is True  # the one saved up
    allowed = []
    for _ in range(20):  # twenty calls, each failing: a retry for every fourth
        budget.deposit()
        allowed.append(budget.withdraw())
    assert allowed == [False, False, False, True] * 5
