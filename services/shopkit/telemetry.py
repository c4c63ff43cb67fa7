"""OpenTelemetry for a service, in one call: traces, metrics and trace-aware JSON logs.

Configuration comes from the standard OTEL_* variables (endpoint, sampler and its ratio,
resource attributes, batch sizes, the exporters, OTEL_SDK_DISABLED), so operators change it
without code.
Providers are created inside the worker process (the app factory), never before uvicorn
forks, or the export threads would be lost.
"""

import json
import logging
import os
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi.telemetry import TelemetryConfig
from opentelemetry import metrics, trace
from opentelemetry.environment_variables import OTEL_METRICS_EXPORTER, OTEL_TRACES_EXPORTER
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.environment_variables import (
    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL,
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp

from shopkit import db_telemetry, health, http_telemetry
from shopkit.server_telemetry import ServerTelemetry
from shopkit.trace_boundary import ServerSpans, draw_boundary

# The longest a stopping process waits for its last spans and metrics to leave. Each OTLP
# exporter retries an unreachable Collector for up to 10 s (OTEL_EXPORTER_OTLP_TIMEOUT), one for
# spans, then one for metrics: 11 s measured, 20 s in a container, most of a pod's 30 s grace
# period, on every stop while the Collector is down. What has not left by then is lost, as it
# would be in a crash; the services' state does not depend on it.
SHUTDOWN_FLUSH_SECONDS = 3.0

# `FastAPI(telemetry=...)`: FastAPI's own spans, metrics and logs off, shopkit.server_telemetry
# makes the first two (for about 30 µs less CPU per request), the JSON logs carry trace ids.
FASTAPI_TELEMETRY_OFF: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}


@dataclass
class Telemetry:
    tracer_provider: TracerProvider | None
    meter_provider: MeterProvider | None

    @property
    def enabled(self) -> bool:
        return self.tracer_provider is not None

    def instrument_server(self, app: ASGIApp, *, trusted: bool) -> ASGIApp:
        """Server spans and HTTP server metrics around `app`, a FastAPI app whose own telemetry
        is off (FASTAPI_TELEMETRY_OFF): shopkit/server_telemetry.py is their one owner. Traces
        begin where `trusted` says (shopkit/trace_boundary.py); health probes make neither."""
        if self.tracer_provider is None or self.meter_provider is None:
            return app
        draw_boundary(trusted=trusted)
        # Probes every few seconds would drown the real traffic in traces.
        spans = ServerSpans(self.tracer_provider)
        return ServerTelemetry(app, spans, self.meter_provider, health.PATHS)

    def instrument_engine(self, engine: AsyncEngine) -> None:
        """A span and a `db.client.operation.duration` per statement, and the pool's usage
        (shopkit/db_telemetry.py: the listeners work on the sync engine under the async one;
        asyncpg is not instrumented too, or every query would get two spans)."""
        if self.enabled:
            db_telemetry.instrument(engine.sync_engine, self.tracer_provider, self.meter_provider)

    def instrument_client(self, client: httpx.AsyncClient) -> None:
        """Client spans, duration metrics, and W3C traceparent on every outgoing request
        (shopkit/http_telemetry.py)."""
        if self.enabled:
            http_telemetry.instrument(client, self.tracer_provider, self.meter_provider)

    def shutdown(self, timeout_seconds: float = SHUTDOWN_FLUSH_SECONDS) -> None:
        """Flush what is buffered, for at most `timeout_seconds` whatever the Collector does.

        The providers flush on a thread of their own that the process does not wait for: the
        SDK's shutdown has no overall deadline, only the exporters' per-export retries."""
        providers = [p for p in (self.tracer_provider, self.meter_provider) if p is not None]
        flush = threading.Thread(
            target=lambda: [provider.shutdown() for provider in providers],
            name="telemetry-shutdown",
            daemon=True,
        )
        flush.start()
        flush.join(timeout_seconds)
        if flush.is_alive():
            logging.getLogger(__name__).warning(
                "telemetry not flushed within %.1f s (Collector unreachable?): the rest is dropped",
                timeout_seconds,
            )


def setup_telemetry(
    service: str,
    version: str,
    span_exporter: SpanExporter | None = None,
    metric_reader: MetricReader | None = None,
) -> Telemetry:
    """Create the providers for this process; the app is wrapped by `Telemetry.instrument_server`.

    By default spans and metrics go to the OTLP endpoint; tests pass in-memory ones.
    """
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return Telemetry(None, None)
    # The new, stable HTTP and database semantic conventions (names, attributes, units).
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http,database")

    resource = HashedOnce(
        Resource.create(
            {
                "service.name": f"{service}-service",
                "service.namespace": "shop",
                "service.version": version,
                "service.instance.id": str(uuid.uuid4()),
                "deployment.environment.name": "local",
            }
        ).merge(OTELResourceDetector().detect())  # OTEL_SERVICE_NAME and _RESOURCE_ATTRIBUTES win
    )

    # The exporters and the sampler read OTEL_EXPORTER_OTLP_* and OTEL_TRACES_SAMPLER(_ARG).
    # The batch processor exports from its own thread and drops spans when its queue is
    # full, so a slow or absent Collector never slows a request.
    # Telemetry.shutdown, from the app's lifespan, stops them within a bound: no second,
    # unbounded shutdown at interpreter exit.
    tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    if span_exporter is None and _exports(OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL):
        span_exporter = OTLPSpanExporter()
    if span_exporter is not None:
        tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
    if metric_reader is None and _exports(
        OTEL_METRICS_EXPORTER, OTEL_EXPORTER_OTLP_METRICS_PROTOCOL
    ):
        metric_reader = PeriodicExportingMetricReader(OTLPMetricExporter())
    meter_provider = MeterProvider(
        resource=resource,
        shutdown_on_exit=False,
        metric_readers=[metric_reader] if metric_reader is not None else [],
    )
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    return Telemetry(tracer_provider, meter_provider)


class HashedOnce(Resource):
    """The process's resource, hashed once. The OTLP encoders group every exported span and
    metric point by its resource, a dict lookup that hashes it; the SDK's `Resource.__hash__`
    (1.45) serializes all the attributes to sorted JSON on every call: 7-14% of the span export
    thread's CPU at 100% sampling here (docs/benchmarks.md). Upstream left it so when it fixed
    that hash for bytes values (open-telemetry/opentelemetry-python#5577). A resource's
    attributes are immutable, so its hash never changes; equality is the SDK's."""

    def __init__(self, resource: Resource) -> None:
        super().__init__(resource.attributes, resource.schema_url)
        self._hash = super().__hash__()

    def __hash__(self) -> int:
        return self._hash


def _exports(exporter_variable: str, protocol_variable: str) -> bool:
    """Whether a signal goes out, as OTEL_TRACES_EXPORTER or OTEL_METRICS_EXPORTER say: `otlp`
    (the default) over gRPC, or `none` (spans are still made and sampled, metrics still
    recorded: only the export is off). Anything else stops the start-up with the variable's name,
    rather than exporting where the operator did not ask."""
    exporter = os.environ.get(exporter_variable, "otlp").strip().lower()
    if exporter == "none":
        return False
    if exporter != "otlp":
        raise ValueError(f"{exporter_variable}={exporter!r}: this service exports otlp or none")
    protocol = os.environ.get(protocol_variable) or os.environ.get(
        OTEL_EXPORTER_OTLP_PROTOCOL, "grpc"
    )
    if protocol.strip().lower() != "grpc":
        raise ValueError(
            f"{protocol_variable} or {OTEL_EXPORTER_OTLP_PROTOCOL}={protocol!r}: this service "
            "sends OTLP over grpc only (the Collector's port 4317)"
        )
    return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the trace and span ids of the current span."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            entry["trace_id"] = format(context.trace_id, "032x")
            entry["span_id"] = format(context.span_id, "016x")
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


# httpx logs every request at INFO ("HTTP Request: GET ... 200 OK"): two lines per
# GET /orders/{id} in the order service, each a JSON record with trace ids, 150,000 an hour
# under load, saying what the client spans and http.client.request.duration already say.
# What an operator needs from a call that goes wrong is in its client span (status ERROR),
# in shopkit.http's line for each retry and in the 503 that names the dependency. At
# LOG_LEVEL=DEBUG they log everything again.
QUIET_LOGGERS = ("httpx", "httpcore")


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    quiet = logging.WARNING if logging.getLogger().level > logging.DEBUG else logging.NOTSET
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(quiet)
    # uvicorn set up its own handlers before it loaded the app; route them through ours.
    # --no-access-log left the access logger without handlers: it stays off then.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if name == "uvicorn.access" and not logger.handlers:
            continue
        logger.handlers = []
        logger.propagate = True
