"""Client telemetry for calls between services: a client span, `http.client.request.duration`
and the W3C trace context, per request, around the client's transport.

This replaces opentelemetry-instrumentation-httpx (0.66b1) in the services. Under load it was
the largest single telemetry cost of the order service, about 0.18 ms of CPU per call whether
or not the trace was sampled (docs/benchmarks.md, issue 20): for every request it parses the
URL into a new httpx.URL, redacts credentials and query parameters from its text, normalizes
the headers for header capture, and builds the span's and the metric's attribute dicts with
the semantic-convention helpers, before it knows whether the span is recorded. The services
call two peers on fixed URLs: what depends only on the method and the peer is computed once, the
URL's text only for a recorded span.

The span, its attributes (`http.request.method`, `url.full`, `server.address`,
`server.port`, `network.peer.address`, `network.peer.port`, `http.response.status_code`,
`network.protocol.version`, `error.type`; status ERROR from 400 on) and the metric's
(`http.request.method`, `server.address`, `server.port`, `http.response.status_code`,
`network.protocol.version`, `error.type`, in the conventions' buckets) are the ones the
instrumentation makes with the stable HTTP conventions. One difference: a call that fails
without an answer (a timeout, a refused connection) is timed too, with its `error.type`; the
instrumentation records no duration for it.
"""

from time import perf_counter
from typing import Any

import httpx
from opentelemetry import metrics, propagate, trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider
from opentelemetry.util.types import AttributeValue

# The stable HTTP conventions' buckets for http.client.request.duration, in seconds.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
# Peers and answers are few (two services, a handful of statuses); the bound only guards
# against a client that calls arbitrary hosts.
CACHED = 256

Attributes = dict[str, AttributeValue]
# The methods the conventions know; others are `_OTHER` (their span is named `HTTP`).
_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
Peer = tuple[str, str, bytes, int | None]


class TracedTransport(httpx.AsyncBaseTransport):
    """Wraps the transport a client sends with; see the module's docstring."""

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport,
        tracer_provider: TracerProvider | None,
        meter_provider: MeterProvider | None,
    ) -> None:
        self._transport = transport
        self._tracer = trace.get_tracer("shopkit.http", tracer_provider=tracer_provider)
        self._duration = metrics.get_meter(
            "shopkit.http", meter_provider=meter_provider
        ).create_histogram(
            "http.client.request.duration",
            unit="s",
            description="Duration of HTTP client requests.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        # (method, scheme, host, port) -> (span attributes, metric attributes)
        self._peers: dict[Peer, tuple[Attributes, Attributes]] = {}
        # (the peer, status, protocol version) -> metric attributes
        self._answers: dict[tuple[Peer, int, str], Attributes] = {}

    def _peer(self, request: httpx.Request) -> tuple[Peer, Attributes, Attributes]:
        url = request.url
        key = (request.method, url.scheme, url.raw_host, url.port)
        found = self._peers.get(key)
        if found is not None:
            return key, *found
        method = request.method if request.method in _METHODS else "_OTHER"
        port = url.port or (443 if url.scheme == "https" else 80)
        metric: Attributes = {
            "http.request.method": method,
            "server.address": url.host,
            "server.port": port,
        }
        span: Attributes = {
            **metric,
            "network.peer.address": url.host,
            "network.peer.port": port,
        }
        if method != request.method:
            span["http.request.method_original"] = request.method
        if len(self._peers) < CACHED:
            self._peers[key] = (span, metric)
        return key, span, metric

    def _answered(self, key: Peer, peer: Attributes, status: int, version: str) -> Attributes:
        found = self._answers.get((key, status, version))
        if found is None:
            found = {
                **peer,
                "http.response.status_code": status,
                "network.protocol.version": version,
            }
            if status >= 400:
                found["error.type"] = str(status)
            if len(self._answers) < CACHED:
                self._answers[key, status, version] = found
        return found

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key, span_attributes, peer = self._peer(request)
        span = self._tracer.start_span(
            request.method if request.method in _METHODS else "HTTP",
            kind=SpanKind.CLIENT,
            attributes=span_attributes,
        )
        context = trace.set_span_in_context(span)
        recording = span.is_recording()
        if recording:
            span.set_attribute("url.full", _without_credentials(request.url))
        propagate.inject(request.headers, context=context)
        started = perf_counter()
        try:
            response = await self._transport.handle_async_request(request)
        except Exception as exc:
            error = type(exc).__qualname__
            self._duration.record(
                perf_counter() - started, {**peer, "error.type": error}, context=context
            )
            if recording:
                span.set_attribute("error.type", error)
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, str(exc)))
            span.end()
            raise
        version = response.extensions.get("http_version", b"HTTP/1.1").decode()
        status = response.status_code
        attributes = self._answered(key, peer, status, version.removeprefix("HTTP/"))
        self._duration.record(perf_counter() - started, attributes, context=context)
        if recording:
            span.set_attribute("http.response.status_code", status)
            span.set_attribute("network.protocol.version", attributes["network.protocol.version"])
            if status >= 400:
                span.set_attribute("error.type", str(status))
                span.set_status(StatusCode.ERROR)
        span.end()
        return response

    async def aclose(self) -> None:
        await self._transport.aclose()


def _without_credentials(url: httpx.URL) -> str:
    return str(url.copy_with(username=None, password=None) if url.userinfo else url)


def instrument(
    client: httpx.AsyncClient,
    tracer_provider: TracerProvider | None,
    meter_provider: MeterProvider | None,
) -> None:
    """Trace every request `client` sends. httpx has no public way to wrap a client's
    transport after it is built; like the httpx instrumentation, this replaces the private
    attribute (httpx 0.28-0.29; tests/unit/test_service_client.py fails if that changes)."""
    transport: Any = client._transport
    client._transport = TracedTransport(transport, tracer_provider, meter_provider)
