"""One request's telemetry through the real pipeline, checked where people look for it:
SDK -> Collector -> Jaeger (its query API) and Collector -> Prometheus (PromQL), with the
metric and label names that alerts.yml and the Grafana dashboards query."""

import json
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, format_trace_id

from devtools.stack.processes import wait_for
from devtools.stack.telemetry import Telemetry

# Span metrics wait for the connector's 10 s flush and then Prometheus' 5 s scrape; the
# deadline leaves room for a loaded machine, the assertion on latency is in test_traces.py.
METRICS_DEADLINE = 90.0


@dataclass(frozen=True)
class SentRequest:
    service: str
    trace_id: str
    telemetry: Telemetry


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def promql(telemetry: Telemetry, query: str) -> list[dict[str, Any]]:
    url = f"{telemetry.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    result: list[dict[str, Any]] = get_json(url)["data"]["result"]
    return result


@pytest.fixture(scope="module")
def sent(backends: Telemetry) -> Iterator[SentRequest]:
    """What order-service would emit for one `POST /orders` that runs one SQL query."""
    # A fresh service name per run: nothing older in Jaeger or Prometheus can match it.
    service = f"telemetry-check-{uuid.uuid4().hex[:8]}"
    resource = Resource.create({"service.name": service})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=backends.collector_otlp, insecure=True))
    )
    meter_provider = MeterProvider(
        resource=resource,
        metric_readers=[
            PeriodicExportingMetricReader(
                OTLPMetricExporter(endpoint=backends.collector_otlp, insecure=True),
                export_interval_millis=3_600_000,  # exported by force_flush below, once
            )
        ],
    )
    tracer = tracer_provider.get_tracer("telemetry-check")
    meter = meter_provider.get_meter("telemetry-check")
    # The instruments opentelemetry-instrumentation-{asgi,sqlalchemy} 0.66b1 create.
    request_duration = meter.create_histogram("http.server.request.duration", unit="s")
    pool_usage = meter.create_up_down_counter("db.client.connections.usage", unit="connections")

    http_attributes = {"http.route": "/orders", "http.request.method": "POST"}
    with tracer.start_as_current_span("POST /orders", kind=SpanKind.SERVER) as server:
        server.set_attributes({**http_attributes, "http.response.status_code": 201})
        with tracer.start_as_current_span("SELECT shop", kind=SpanKind.CLIENT) as query:
            query.set_attributes({"db.system.name": "postgresql", "db.name": "shop"})
        pool_usage.add(1, {"pool.name": "shop", "state": "used"})
        # Recorded inside the sampled server span, so the SDK attaches it as an exemplar.
        request_duration.record(0.042, {**http_attributes, "http.response.status_code": 201})
        trace_id = format_trace_id(server.get_span_context().trace_id)

    assert tracer_provider.force_flush(10_000), "spans not exported to the Collector"
    assert meter_provider.force_flush(10_000), "metrics not exported to the Collector"
    yield SentRequest(service, trace_id, backends)
    tracer_provider.shutdown()
    meter_provider.shutdown()


def test_trace_is_stored_in_jaeger(sent: SentRequest) -> None:
    url = f"{sent.telemetry.jaeger_url}/api/traces?" + urllib.parse.urlencode(
        {"service": sent.service}
    )

    def our_trace() -> dict[str, Any] | None:
        # Each span is exported as it ends, the query before its server span, and the
        # Collector may hand them to Jaeger in separate batches: wait for both.
        traces = get_json(url)["data"] or []
        trace = next((t for t in traces if t["traceID"] == sent.trace_id), None)
        return trace if trace is not None and len(trace["spans"]) >= 2 else None

    trace = wait_for(f"both spans of trace {sent.trace_id} in Jaeger", our_trace)
    spans = {span["operationName"]: span for span in trace["spans"]}
    assert set(spans) == {"POST /orders", "SELECT shop"}
    server_tags = {tag["key"]: tag["value"] for tag in spans["POST /orders"]["tags"]}
    assert server_tags["http.route"] == "/orders"
    assert server_tags["span.kind"] == "server"


def test_span_metrics_carry_red_dimensions(sent: SentRequest) -> None:
    query = f'traces_span_metrics_calls_total{{service_name="{sent.service}"}}'

    def one_call_per_span() -> list[dict[str, Any]] | None:
        found = promql(sent.telemetry, query)
        # A new series is first exposed at 0, so that rate() sees its first increment.
        return found if [s["value"][1] for s in found] == ["1", "1"] else None

    calls = wait_for(
        "one call of each span in Prometheus", one_call_per_span, timeout=METRICS_DEADLINE
    )
    by_kind = {series["metric"]["span_kind"]: series for series in calls}
    server = by_kind["SPAN_KIND_SERVER"]["metric"]
    assert server["http_route"] == "/orders"
    assert server["http_request_method"] == "POST"
    assert server["http_response_status_code"] == "201"
    assert server["status_code"] == "STATUS_CODE_UNSET"
    # honor_labels keeps the exporter's job (the service) over the scrape job's name.
    assert server["job"] == sent.service
    assert by_kind["SPAN_KIND_CLIENT"]["metric"]["db_system_name"] == "postgresql"


def test_latency_buckets_link_to_the_trace(sent: SentRequest) -> None:
    """Exemplars survive Collector -> OpenMetrics -> Prometheus: what Grafana links to Jaeger."""
    query = f'traces_span_metrics_duration_seconds_bucket{{service_name="{sent.service}"}}'
    url = f"{sent.telemetry.prometheus_url}/api/v1/query_exemplars?" + urllib.parse.urlencode(
        {"query": query, "start": "0", "end": "9999999999"}
    )

    def exemplar_trace_ids() -> set[str]:
        return {
            exemplar["labels"].get("trace_id", "")
            for series in get_json(url)["data"]
            for exemplar in series["exemplars"]
        }

    trace_ids = wait_for(
        "exemplars of the span metrics", exemplar_trace_ids, timeout=METRICS_DEADLINE
    )
    assert trace_ids == {sent.trace_id}


def test_application_metrics_keep_the_names_alerts_query(sent: SentRequest) -> None:
    selector = f'service_name="{sent.service}"'
    requests = wait_for(
        "http_server_request_duration_seconds_count in Prometheus",
        lambda: promql(sent.telemetry, f"http_server_request_duration_seconds_count{{{selector}}}"),
        timeout=METRICS_DEADLINE,
    )
    assert [series["metric"]["http_route"] for series in requests] == ["/orders"]
    assert requests[0]["metric"]["http_response_status_code"] == "201"
    assert requests[0]["value"][1] == "1"

    pool = promql(sent.telemetry, f"db_client_connections_usage{{{selector}}}")
    assert [(s["metric"]["state"], s["value"][1]) for s in pool] == [("used", "1")]


def test_collector_reports_its_own_health(sent: SentRequest) -> None:
    accepted = wait_for(
        "otelcol_receiver_accepted_spans of the Collector",
        lambda: promql(
            sent.telemetry, 'sum(otelcol_receiver_accepted_spans{job="otel-collector"}) >= 2'
        ),
        timeout=METRICS_DEADLINE,
    )
    assert float(accepted[0]["value"][1]) >= 2
    up = {s["metric"]["job"]: s["value"][1] for s in promql(sent.telemetry, "up")}
    assert up == {"otel-collector": "1", "shop-services": "1", "jaeger": "1", "prometheus": "1"}
