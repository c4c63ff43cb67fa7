"""Where a service's traces begin: trace context from an untrusted caller is evidence, not a parent.

A caller's `traceparent` chooses the trace id (splicing its requests into other traces) and,
through the sampled flag, whether our head sampler keeps the request: `00` hides it from Jaeger
and from span metrics at any ratio, `01` forces it at ratio 0. Its `baggage` and `tracestate`
would reach every downstream call verbatim (`user.role=admin`, say). So, unless the caller is
trusted (our own order service, or a gateway that already draws this line), the server span
starts a new trace, sampled by our sampler alone, and keeps the caller's span context as a
span link (W3C Trace Context's and OpenTelemetry's advice for public endpoints); the caller's
baggage and tracestate are dropped. Calls out of the service propagate our context unchanged.

FastAPI's server spans extract through the global propagator and start the span with the
context it returns; the link is added when that span starts (`CallerLink`).
"""

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
from opentelemetry.sdk.trace import Span, SpanProcessor, TracerProvider

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
        base = context if context is not None else otel_context.get_current()
        # Whatever the caller sent, the request starts with no span and no baggage of theirs.
        base = trace.set_span_in_context(trace.INVALID_SPAN, base)
        base = baggage.clear(base)
        return (
            otel_context.set_value(_CALLER, span_context, base) if span_context.is_valid else base
        )

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


class CallerLink(SpanProcessor):
    """Links a root span to the untrusted caller's span context that the boundary set aside."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if span.parent is not None:
            return  # a child span: its trace already began here
        caller = otel_context.get_value(_CALLER, parent_context)
        if isinstance(caller, trace.SpanContext):
            span.add_link(caller)


def install_trust_boundary(tracer_provider: TracerProvider, *, trusted: bool) -> None:
    """Draw the boundary for this process: the global propagator, and links on its root spans.

    Idempotent per process (tests build several apps in one), the last call deciding the trust.
    """
    inner = propagate.get_global_textmap()
    if isinstance(inner, TrustBoundary):
        inner = inner.inner
    propagate.set_global_textmap(TrustBoundary(inner, trusted=trusted))
    if not trusted:
        tracer_provider.add_span_processor(CallerLink())
