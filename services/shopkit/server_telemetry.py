"""Server spans and HTTP server metrics, per request, around the whole app: the span of the
request, `http.server.request.duration` and `http.server.active_requests`.

This takes the place of FastAPI's own telemetry (`FastAPI(telemetry=...)`, 0.165), which makes
the same span and metrics for about twice the CPU: 58-82 µs per server request in the
services' profile against 33-38 here, 72 against 41 µs in process, three server requests per
`GET /orders/{id}` (docs/benchmarks.md, issue 20's third pass). On every request it walks the
middleware stack to look for a second instrumentation (`_legacy_otel`), builds starlette's
`Headers` twice, parses the Host header with `urlsplit` for `server.address`, runs the
propagator through a header getter that scans every header once per field, attaches three
contexts, and builds its attribute dicts anew. Here what depends only on the method, scheme
and protocol version, on the Host header, or on the route and status is computed once and
kept; the headers are read in one pass; one context is attached.

FastAPI's routing still names the span: it reports the route it matched (and an exception
that escapes the app) to the request record FastAPI's telemetry keeps in the scope,
`_RequestTelemetry` (`fastapi.telemetry._api`, private), which this middleware creates as
FastAPI's does. Matching the routes again, as FastAPIInstrumentor does, costs about 36 µs per
request; `tests/unit/test_server_telemetry.py` compares spans and metrics with FastAPI's own
telemetry, so a FastAPI that changes that record fails there, not in production.

The same as FastAPI's: the span's name (`GET /orders/{order_id}`, the method alone when no
route matched), kind, attributes (stable HTTP conventions: `http.request.method`,
`url.scheme`, `url.path`, `server.address`, `server.port`, `network.protocol.version`,
`http.route`, `http.response.status_code`, `error.type` with status ERROR from 500 on or for an
exception), the metrics' names, units, buckets and attributes, the exemplars (the duration is
recorded in the span's context). Different: the instrumentation scope (`shopkit.server`);
`url.query` is never recorded (query strings carry customer ids; see shopkit.trace_boundary);
WebSocket connections are not traced (the services have none); FastAPI's request data for log
processors (`get_telemetry_data`) is not kept (nothing reads it).
"""

from time import perf_counter
from urllib.parse import urlsplit

from fastapi.telemetry._api import _exception_type, _RequestTelemetry
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import SpanKind, StatusCode, TracerProvider
from opentelemetry.util.types import AttributeValue
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopkit.server_metrics import ACTIVE_REQUESTS, ActiveRequests

# The stable HTTP conventions' buckets for http.server.request.duration, in seconds.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
# Routes, statuses and Host values are few; the bound guards against a client that sends
# arbitrary Host headers or statuses a service never answers.
CACHED = 256
SCOPE = "shopkit.server"
# The methods the conventions know; others are `_OTHER` (their span is named `HTTP`).
_METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE"}
)
_DEFAULT_PORTS = {"http": 80, "https": 443}

Attributes = dict[str, AttributeValue]
# (method, scheme, HTTP version): what a request's telemetry depends on before routing.
Kind = tuple[str, str, str]


class ServerTelemetry:
    """ASGI, around the app with FastAPI's own telemetry off: see the module's docstring.
    Requests whose path is in `exempt` (the health probes) get no span and no metric."""

    def __init__(
        self,
        app: ASGIApp,
        tracer_provider: TracerProvider,
        meter_provider: MeterProvider,
        exempt: frozenset[str],
    ) -> None:
        self.app = app
        self.exempt = exempt
        self._tracer = tracer_provider.get_tracer(SCOPE)
        meter = meter_provider.get_meter(SCOPE)
        self._duration = meter.create_histogram(
            "http.server.request.duration",
            unit="s",
            description="Duration of HTTP server requests.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._active = ActiveRequests(
            meter,
            ACTIVE_REQUESTS,
            unit="{request}",
            description="Number of active HTTP server requests.",
        )
        # The header names the process's propagator reads (traceparent, tracestate, baggage).
        self._fields = frozenset(field.encode() for field in propagate.get_global_textmap().fields)
        # kind -> (span name, attributes of span and metric, of http.server.active_requests)
        self._kinds: dict[Kind, tuple[str, Attributes, Attributes]] = {}
        # (Host header, scheme) -> server.address and server.port
        self._hosts: dict[tuple[bytes | None, str], Attributes] = {}
        # (kind, route, status, error type) -> the duration's attributes
        self._outcomes: dict[tuple[Kind, str | None, int | None, str | None], Attributes] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        scheme = scope.get("scheme", "http")
        kind = (method, scheme, scope.get("http_version", ""))
        span_name, base, active_attributes = self._kinds.get(kind) or self._kind(kind)

        carrier: dict[str, list[str]] = {}
        host = None
        fields = self._fields
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name in fields:
                carrier.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))
        if "baggage" in carrier:  # several baggage headers are one list
            carrier["baggage"] = [",".join(carrier["baggage"])]
        parent = propagate.extract(carrier)
        server = self._hosts.get((host, scheme)) or self._host(host, scheme, scope)
        attributes = {**base, **server, "url.path": scope["path"]}
        if method not in _METHODS:
            attributes["http.request.method_original"] = method
        span = self._tracer.start_span(span_name, parent, SpanKind.SERVER, attributes)
        context = trace.set_span_in_context(span, parent)
        record = _RequestTelemetry(
            span=span,
            span_method=span_name,
            data=None,
            _mount_prefix=scope.get("app_root_path", scope.get("root_path", "")).rstrip("/"),
        )
        scope["fastapi.telemetry"] = record
        self._active.add(1, active_attributes)
        started = perf_counter()
        finished = trailers = disconnected = False

        def finish(error: BaseException | None) -> None:
            nonlocal finished
            if finished:
                return
            finished = True
            status = record.status_code
            error_type = None
            if error is not None or status is None or status >= 500:
                failure = error or (record._exceptions[-1] if record._exceptions else None)
                error_type = (
                    _exception_type(failure) if failure else str(status or "incomplete_response")
                )
            outcome = (kind, record.route, status, error_type)
            attributes = self._outcomes.get(outcome) or self._outcome(outcome, base)
            if span.is_recording():
                span.set_attributes(attributes)
                if error_type is not None:
                    span.set_status(StatusCode.ERROR)
            # In the span's context, so that the exemplar names the trace.
            self._duration.record(perf_counter() - started, attributes, context)
            self._active.add(-1, active_attributes)
            span.end()

        async def wrapped_send(message: Message) -> None:
            nonlocal trailers
            kind = message["type"]
            if kind == "http.response.start":
                record.status_code = message["status"]
                trailers = message.get("trailers", False)
            await send(message)
            if (
                (kind == "http.response.body" and not message.get("more_body") and not trailers)
                or (kind == "http.response.trailers" and not message.get("more_trailers"))
                or kind == "http.response.pathsend"
            ):
                finish(None)

        async def wrapped_receive() -> Message:
            nonlocal disconnected
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected = True
            return message

        token = otel_context.attach(context)
        try:
            await self.app(scope, wrapped_receive, wrapped_send)
        except BaseException as exc:
            finish(exc)
            raise
        finally:
            if not finished:
                finish(
                    ConnectionError("Client disconnected")
                    if disconnected
                    else RuntimeError("Incomplete ASGI response")
                )
            otel_context.detach(token)
            scope.pop("fastapi.telemetry", None)

    def _kind(self, kind: Kind) -> tuple[str, Attributes, Attributes]:
        method, scheme, version = kind
        known = method if method in _METHODS else "_OTHER"
        active: Attributes = {"url.scheme": scheme, "http.request.method": known}
        base = {**active, "network.protocol.version": version} if version else dict(active)
        found = ("HTTP" if known == "_OTHER" else known, base, active)
        if len(self._kinds) < CACHED:
            self._kinds[kind] = found
        return found

    def _host(self, host: bytes | None, scheme: str, scope: Scope) -> Attributes:
        """server.address and server.port, from the Host header (HTTP/2's authority too), as
        FastAPI's telemetry reads them; without one, the address the server listens on."""
        attributes: Attributes = {}
        if host is None:
            address, port = scope.get("server") or (None, None)
            if address is not None:
                attributes["server.address"] = address
                if port is not None:
                    attributes["server.port"] = port
            return attributes  # not kept: it depends on the listener, not on the key
        try:
            url = urlsplit("//" + host.decode("latin-1"))
            address, port = url.hostname, url.port
        except ValueError:  # a malformed Host header must not fail the request
            address = None
        else:
            if url.username is not None or url.path or url.query or url.fragment:
                address = None
        if address is not None:
            attributes["server.address"] = address
            port = port if port is not None else _DEFAULT_PORTS.get(scheme)
            if port is not None:
                attributes["server.port"] = port
        if len(self._hosts) < CACHED:
            self._hosts[host, scheme] = attributes
        return attributes

    def _outcome(
        self, outcome: tuple[Kind, str | None, int | None, str | None], base: Attributes
    ) -> Attributes:
        _, route, status, error_type = outcome
        attributes = dict(base)
        if route is not None:
            attributes["http.route"] = route
        if status is not None:
            attributes["http.response.status_code"] = status
        if error_type is not None:
            attributes["error.type"] = error_type
        if len(self._outcomes) < CACHED:
            self._outcomes[outcome] = attributes
        return attributes
