"""Where a service's traces begin, and what its server spans keep of the request.

A caller's `traceparent` chooses the trace id (splicing its requests into other traces) and,
through the sampled flag, whether our head sampler keeps the request: `00` hides it from Jaeger
and from span metrics at any ratio, `01` forces it at ratio 0. Its `baggage` and `tracestate`
would reach every downstream call verbatim (`user.role=admin`, say). So, unless the caller is
trusted (our own order service, or a gateway that already draws this line), the server span
starts a new trace, sampled by our sampler alone, with the caller's span context as a span link
(W3C Trace Context's and OpenTelemetry's advice for public endpoints); the caller's baggage and
tracestate are dropped. Calls out of the service propagate our context unchanged.

Server spans (shopkit/server_telemetry.py) take their parent from the global propagator
(`TrustBoundary` decides what it extracts) and are started from `ServerSpans`, which adds the
link where the sampler sees it. They never record `url.query`: query strings carry customer ids.
"""

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import baggage, propagate, trace
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)
from opentelemetry.util.types import AttributeValue

# Where an untrusted caller's span context waits for the server span it would have parented.
_CALLER = otel_context.create_key("shopkit.untrusted-caller")


class TrustBoundary(TextMapPropagator):
    """Extracts only from a trusted caller; from anyone else, only a span context to link to.

    `inner` is the propagator configured for the process (OTEL_PROPAGATORS: W3C trace context
    and baggage by default); injection is its own.
    """

    def __init__(self, inner: TextMapPropagator, *, trusted: bool) -> None:
        self.inner = inner
        self.trusted = trusted

    def extract(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        getter: Getter[CarrierT] = default_getter,
    ) -> Context:
        if self.trusted:
            return self.inner.extract(carrier, context, getter)
        caller = trace.get_current_span(self.inner.extract(carrier, Context(), getter))
        span_context = caller.get_span_context()
        # Whatever the caller sent, the request starts with no span and no baggage of theirs.
        base = trace.set_span_in_context(trace.INVALID_SPAN, context)
        base = baggage.clear(base)
        if span_context.is_valid:
            # The ids alone: the link must not carry the caller's tracestate on to our backends.
            linked = trace.SpanContext(span_context.trace_id, span_context.span_id, is_remote=True)
            base = otel_context.set_value(_CALLER, linked, base)
        return base

    def inject(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        setter: Setter[CarrierT] = default_setter,
    ) -> None:
        self.inner.inject(carrier, context, setter)

    @property
    def fields(self) -> set[str]:
        return self.inner.fields


class ServerSpans(trace.TracerProvider):
    """The tracer provider of server spans: the SDK's, with the boundary's link."""

    def __init__(self, provider: trace.TracerProvider) -> None:
        self.provider = provider

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return _ServerTracer(self.provider.get_tracer(*args, **kwargs))


class _ServerTracer(trace.Tracer):
    def __init__(self, tracer: trace.Tracer) -> None:
        self.tracer = tracer

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: trace.SpanKind = trace.SpanKind.INTERNAL,
        attributes: Mapping[str, AttributeValue] | None = None,
        links: Sequence[trace.Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        caller = otel_context.get_value(_CALLER, context)
        if isinstance(caller, trace.SpanContext):
            links = [*(links or ()), trace.Link(caller)]
        return self.tracer.start_span(
            name,
            context,
            kind,
            attributes,
            links,
            start_time,
            record_exception,
            set_status_on_exception,
        )

    # The API types it with a private context-manager class; contextmanager's is its twin.
    @contextmanager
    def start_as_current_span(  # type: ignore[override]
        self,
        name: str,
        context: Context | None = None,
        kind: trace.SpanKind = trace.SpanKind.INTERNAL,
        attributes: Mapping[str, AttributeValue] | None = None,
        links: Sequence[trace.Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[trace.Span]:
        span = self.start_span(
            name,
            context,
            kind,
            attributes,
            links,
            start_time,
            record_exception,
            set_status_on_exception,
        )
        with trace.use_span(
            span,
            end_on_exit=end_on_exit,
            record_exception=record_exception,
            set_status_on_exception=set_status_on_exception,
        ) as current:
            yield current


def draw_boundary(*, trusted: bool) -> None:
    """Where traces begin in this process, whose callers are `trusted` or not.

    The propagator is global: the last app built in a process decides, which is the only one
    outside tests.
    """
    inner = propagate.get_global_textmap()
    if isinstance(inner, TrustBoundary):
        inner = inner.inner
    propagate.set_global_textmap(TrustBoundary(inner, trusted=trusted))
