"""The standard exporter variables decide where telemetry goes: OTEL_TRACES_EXPORTER and
OTEL_METRICS_EXPORTER (`otlp` or `none`) and the OTLP protocol (gRPC only). A value the service
cannot honour stops it at start-up, naming the variable, instead of exporting anyway.

The OTLP endpoint here is a plain TCP listener on loopback: whether the exporter connects to it
is what says whether anything was sent.
"""

import socket
from collections.abc import Iterator

import pytest

from shopkit.telemetry import Telemetry, setup_telemetry


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A listening socket as the OTLP endpoint, short export timeouts."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(3)
    monkeypatch.setenv(
        "OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{listener.getsockname()[1]}"
    )
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        monkeypatch.delenv(name, raising=False)
    yield listener
    listener.close()


def connected(listener: socket.socket) -> bool:
    try:
        listener.accept()[0].close()
    except TimeoutError:
        return False
    return True


def record_one_span_and_one_metric() -> Telemetry:
    telemetry = setup_telemetry("test", "0")
    assert telemetry.tracer_provider is not None and telemetry.meter_provider is not None
    with telemetry.tracer_provider.get_tracer("test").start_as_current_span("work") as span:
        # Sampled and recording whatever the exporter: only the export may be off.
        assert span.is_recording()
    telemetry.meter_provider.get_meter("test").create_counter("work").add(1)
    telemetry.tracer_provider.force_flush(timeout_millis=2000)
    telemetry.meter_provider.force_flush(timeout_millis=2000)
    return telemetry


def test_by_default_spans_and_metrics_go_to_the_otlp_endpoint(collector: socket.socket) -> None:
    telemetry = record_one_span_and_one_metric()
    try:
        assert connected(collector)
    finally:
        telemetry.shutdown(timeout_seconds=2)


def test_exporters_set_to_none_send_nothing(
    collector: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    record_one_span_and_one_metric().shutdown(timeout_seconds=2)
    assert not connected(collector)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OTEL_TRACES_EXPORTER", "zipkin"),
        ("OTEL_METRICS_EXPORTER", "prometheus"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
    ],
)
def test_a_value_the_service_cannot_honour_stops_it_naming_the_variable(
    collector: socket.socket, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=variable):
        setup_telemetry("test", "0")
