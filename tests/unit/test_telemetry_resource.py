"""The process's resource is hashed once (shopkit.telemetry.HashedOnce): the OTLP encoders
still group every span under it, and hashing it again serializes nothing."""

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk import resources
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shopkit.telemetry import setup_telemetry


def test_spans_are_grouped_under_one_resource_hashed_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spans = InMemorySpanExporter()
    telemetry = setup_telemetry("test", "0", span_exporter=InMemorySpanExporter())
    provider = telemetry.tracer_provider
    assert provider is not None
    provider.add_span_processor(SimpleSpanProcessor(spans))
    resource = provider.resource
    # Equal to, and hashed like, the SDK's own Resource of the same attributes.
    plain = Resource(resource.attributes, resource.schema_url)
    assert resource == plain and hash(resource) == hash(plain)

    def no_serializing(*args: object, **kwargs: object) -> str:
        raise AssertionError("the resource was serialized to be hashed again")

    monkeypatch.setattr(resources, "dumps", no_serializing)
    tracer = provider.get_tracer("test")
    for name in ("a", "b", "c"):
        tracer.start_span(name).end()
    request = encode_spans(spans.get_finished_spans())
    assert len(request.resource_spans) == 1
    attributes = {
        a.key: a.value.string_value for a in request.resource_spans[0].resource.attributes
    }
    assert attributes["service.name"] == "test-service"
    assert sum(len(s.spans) for s in request.resource_spans[0].scope_spans) == 3
    telemetry.shutdown()
