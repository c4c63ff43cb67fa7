"""The trust boundary for trace context (shopkit/trace_boundary.py), in process, on the real SDK.

A server app with the services' server telemetry (shopkit.app.ServiceApp) calls a downstream
app through an httpx client instrumented as the services' clients are; the downstream app
answers with the headers it received. Head sampling comes from OTEL_TRACES_SAMPLER(_ARG), as in
the services. tests/telemetry/test_trace_boundary.py checks the same through real processes and
Jaeger.
"""

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI, Request
from opentelemetry import propagate
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from shopkit.app import ServiceApp
from shopkit.telemetry import setup_telemetry

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"
FORGED = {
    "baggage": "user.role=admin,tenant=victim",
    "tracestate": "vendor=forged",
}


def traceparent(sampled: bool) -> str:
    return f"00-{CALLER_TRACE}-{CALLER_SPAN}-{'01' if sampled else '00'}"


@pytest.fixture(autouse=True)
def global_propagator() -> Iterator[None]:
    """The boundary replaces the process's propagator: give the next test the one it found."""
    found = propagate.get_global_textmap()
    yield
    propagate.set_global_textmap(found)


async def call_through(
    monkeypatch: pytest.MonkeyPatch,
    *,
    trusted: bool,
    ratio: str,
    headers: dict[str, str],
    path: str = "/call",
) -> tuple[list[ReadableSpan], httpx.Headers]:
    """One request with `headers` to a service that calls a downstream one: the spans it
    recorded and the headers the downstream service received."""
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", ratio)
    spans = InMemorySpanExporter()
    telemetry = setup_telemetry(
        "test", "0", span_exporter=spans, metric_reader=InMemoryMetricReader()
    )
    assert telemetry.tracer_provider is not None

    downstream = FastAPI(telemetry={"tracing": False, "metrics": False})

    @downstream.get("/headers")
    async def received(request: Request) -> dict[str, str]:
        return dict(request.headers)

    service = ServiceApp(admission=None, telemetry=telemetry, trusted_callers=trusted)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=downstream))
    telemetry.instrument_client(client)

    @service.get("/call")
    async def call() -> dict[str, str]:
        response = await client.get("http://downstream/headers")
        answer: dict[str, str] = response.json()
        return answer

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=service), base_url="http://service"
    ) as caller:
        response = await caller.get(path, headers=headers)
    assert response.status_code == 200
    await client.aclose()
    telemetry.tracer_provider.force_flush()
    telemetry.shutdown()
    return list(spans.get_finished_spans()), httpx.Headers(response.json())


def parse(header: str) -> tuple[str, str, bool]:
    """A traceparent's trace id, parent id and sampled flag (bit 0; the SDK also sets bit 1,
    "random trace id", of W3C Trace Context level 2)."""
    _, trace_id, parent_id, flags = header.split("-")
    return trace_id, parent_id, bool(int(flags, 16) & 0x01)


def server_span(spans: list[ReadableSpan]) -> ReadableSpan:
    [server] = [s for s in spans if s.kind is SpanKind.SERVER]
    return server


async def test_an_untrusted_callers_unsampled_request_is_traced_in_a_new_trace_linked_to_theirs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spans, downstream = await call_through(
        monkeypatch,
        trusted=False,
        ratio="1.0",
        headers={"traceparent": traceparent(False), **FORGED},
    )

    server = server_span(spans)
    ours = format(server.context.trace_id, "032x")
    assert ours != CALLER_TRACE
    assert server.parent is None
    [link] = server.links
    assert link.context.trace_state == {}  # the caller's tracestate goes nowhere, not even here
    assert (format(link.context.trace_id, "032x"), format(link.context.span_id, "016x")) == (
        CALLER_TRACE,
        CALLER_SPAN,
    )
    # The client span is a child of our server span, in our trace; so is the downstream call.
    [client] = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert client.parent is not None and client.parent.span_id == server.context.span_id
    assert parse(downstream["traceparent"]) == (ours, format(client.context.span_id, "016x"), True)
    assert "baggage" not in downstream
    assert "tracestate" not in downstream


async def test_an_untrusted_callers_sampled_flag_does_not_force_sampling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spans, downstream = await call_through(
        monkeypatch, trusted=False, ratio="0", headers={"traceparent": traceparent(True), **FORGED}
    )

    assert spans == []
    # Our decision (not sampled) travels on, in a trace of ours.
    trace_id, _, sampled = parse(downstream["traceparent"])
    assert trace_id != CALLER_TRACE
    assert not sampled
    assert "baggage" not in downstream
    assert "tracestate" not in downstream


async def test_a_request_without_trace_context_starts_an_unlinked_trace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spans, downstream = await call_through(monkeypatch, trusted=False, ratio="1.0", headers={})

    server = server_span(spans)
    assert (server.parent, list(server.links)) == (None, [])
    assert format(server.context.trace_id, "032x") in downstream["traceparent"]


@pytest.mark.parametrize("sampled", [True, False])
async def test_a_trusted_caller_continues_its_trace_and_its_sampling_decision(
    monkeypatch: pytest.MonkeyPatch, sampled: bool
) -> None:
    spans, downstream = await call_through(
        monkeypatch,
        trusted=True,
        ratio="1.0",
        headers={"traceparent": traceparent(sampled), **FORGED},
    )

    assert parse(downstream["traceparent"])[::2] == (CALLER_TRACE, sampled)
    assert downstream["baggage"] == FORGED["baggage"]
    assert downstream["tracestate"] == FORGED["tracestate"]
    if not sampled:
        assert spans == []
        return
    server = server_span(spans)
    assert server.parent is not None
    assert format(server.parent.span_id, "016x") == CALLER_SPAN
    assert list(server.links) == []


@pytest.mark.parametrize("trusted", [True, False])
async def test_server_spans_carry_no_query_string(
    monkeypatch: pytest.MonkeyPatch, trusted: bool
) -> None:
    spans, _ = await call_through(
        monkeypatch, trusted=trusted, ratio="1.0", headers={}, path="/call?customer_id=alice-42"
    )

    server = server_span(spans)
    assert server.attributes is not None
    assert server.attributes["url.path"] == "/call"
    assert "url.query" not in server.attributes
    assert not any("alice-42" in str(s.attributes) for s in spans)
