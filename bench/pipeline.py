"""Where spans go missing: the SDKs' and the Collector's own counters, and Jaeger's API."""

import re
from datetime import timedelta
from typing import Any

import httpx

from bench.results import SpanCounts
from devtools.stack.processes import wait_for
from devtools.traces import jaeger

# One Prometheus text-format sample: name, optional {labels}, value.
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def scrape(url: str) -> list[tuple[str, str, float]]:
    """(name, labels, value) of every sample at a /metrics URL."""
    text = httpx.get(url, timeout=10).text
    samples = []
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match and not line.startswith("#"):
            samples.append((match[1], match[2] or "", float(match[3])))
    return samples


def total(samples: list[tuple[str, str, float]], prefix: str, *label_parts: str) -> float:
    """Sum of the samples whose name starts with `prefix` and whose labels hold all parts."""
    return sum(
        value
        for name, labels, value in samples
        if name.startswith(prefix) and all(part in labels for part in label_parts)
    )


def _collector_passed(own: list[tuple[str, str, float]]) -> tuple[float, float]:
    """Spans the Collector accepted, and spans it sent on to Jaeger."""
    return (
        total(own, "otelcol_receiver_accepted_spans"),
        total(own, "otelcol_exporter_sent_spans", 'exporter="otlp_grpc/jaeger"'),
    )


def counters(
    collector_telemetry: str, collector_exporter: str, jaeger_telemetry: str, jaeger_query: str
) -> SpanCounts:
    """The counters that say whether spans were lost, each cumulative since process start, and
    the spans Jaeger returns: subtract two of these (`SpanCounts.since`) for one run's."""
    own = scrape(collector_telemetry)
    store = scrape(jaeger_telemetry)
    app = scrape(collector_exporter)
    # The SDK's otel.sdk.processor.span.processed: error_type="queue_full" marks spans the
    # BatchSpanProcessor dropped because its queue was full; without error_type, spans handed
    # to the exporter. Its exporter's otel.sdk.exporter.span.exported counts failed exports.
    processed = [s for s in app if s[0].startswith("otel_sdk_processor_span_processed")]
    exported = [s for s in app if s[0].startswith("otel_sdk_exporter_span_exported")]
    accepted, sent = _collector_passed(own)
    return SpanCounts(
        sdk_spans_processed=sum(v for _, labels, v in processed if "error_type" not in labels),
        sdk_spans_dropped=sum(v for _, labels, v in processed if "error_type" in labels),
        sdk_spans_export_failed=sum(v for _, labels, v in exported if "error_type" in labels),
        collector_accepted_spans=accepted,
        collector_refused_spans=total(own, "otelcol_receiver_refused_spans"),
        collector_sent_spans_to_jaeger=sent,
        collector_send_failed_spans=total(own, "otelcol_exporter_send_failed_spans"),
        collector_enqueue_failed_spans=total(own, "otelcol_exporter_enqueue_failed_spans"),
        # Jaeger is a Collector build too; its metric names carry a _total suffix.
        jaeger_received_spans=total(store, "otelcol_receiver_accepted_spans"),
        jaeger_refused_spans=total(store, "otelcol_receiver_refused_spans"),
        jaeger_spans=spans_in_jaeger(jaeger_query),
    )


def wait_settled(collector_telemetry: str, timeout: float = 60.0) -> None:
    """Until the Collector has received and forwarded everything the SDKs still buffered
    (their batch processors export every 5 s): two equal readings 3 s apart."""
    readings: list[tuple[float, float]] = []

    def settled() -> bool:
        readings.append(_collector_passed(scrape(collector_telemetry)))
        return len(readings) > 1 and readings[-1] == readings[-2] and readings[-1][0] > 0

    wait_for("the Collector's span counters to stop moving", settled, timeout, interval=3)


def spans_in_jaeger(query_url: str) -> int:
    """Every span of every trace that passed the order service in the last hour, read back
    through Jaeger's query API. Searches select traces by their start time, and a trace may
    start before a run and end inside it, so runs are told apart by subtracting two of these
    totals, not by a search window (Jaeger keeps up to 500 000 traces here, so none is evicted)."""
    traces: list[dict[str, Any]] = jaeger.fetch_traces(
        query_url, "order-service", timedelta(hours=1), limit=100_000
    )
    return sum(len(t.get("spans", [])) for t in traces)
