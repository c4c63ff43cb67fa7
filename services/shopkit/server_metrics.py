"""The meters of FastAPI's server metrics: `http.server.active_requests` counted in a dict and
read at collection, instead of two measurements through the SDK per request.

FastAPI's own telemetry (0.165) adds +1 and -1 to the up-down counter
`http.server.active_requests{http.request.method, url.scheme}` around every request, with no
switch to leave it off. In this SDK (1.45) each add is a measurement: its attribute dict is
copied and validated (`Measurement.__post_init__`), copied again and hashed sorted
(`_ViewInstrumentMatch`), offered to the exemplar filter and aggregated under a lock. The two
adds cost about as much as the request's `http.server.request.duration`: about 15 µs of
CPU per server request, three per `GET /orders/{id}` (docs/benchmarks.md, "Telemetry that
costs what it should"), for a series that no dashboard or alert reads.

Here FastAPI gets, under that name, a counter that adds to a dict on the event loop's thread,
and the meter reports the dict at each collection as an observable up-down counter: the same
name, unit, description, attributes and instrumentation scope (`fastapi`), the same
cumulative non-monotonic sum. What it loses: exemplars on this series (nothing reads them).
The metric reader's thread copies the dict in one step under the GIL while the event loop's
thread writes it, so each count it reports is exact at that instant. Every other instrument
is the SDK's own.
"""

from collections.abc import Iterable, Sequence

from opentelemetry.context import Context
from opentelemetry.metrics import (
    CallbackOptions,
    CallbackT,
    Counter,
    Histogram,
    Meter,
    MeterProvider,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    Observation,
    UpDownCounter,
)
from opentelemetry.util.types import Attributes, AttributeValue

ACTIVE_REQUESTS = "http.server.active_requests"


class ServerMeters(MeterProvider):
    """The meter provider for `FastAPI(telemetry={"meter_provider": ...})`: the SDK's, with
    `http.server.active_requests` read at collection."""

    def __init__(self, provider: MeterProvider) -> None:
        self.provider = provider

    def get_meter(
        self,
        name: str,
        version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> Meter:
        meter = self.provider.get_meter(name, version, schema_url, attributes)
        return _ServerMeter(meter, name, version, schema_url)


class ActiveRequests(UpDownCounter):
    """An up-down counter kept in a dict, reported by an observable one of the same name."""

    def __init__(self, meter: Meter, name: str, unit: str, description: str) -> None:
        # frozenset of attribute items -> requests in flight. Written on the event loop's
        # thread, read whole by the metric reader's.
        self._active: dict[frozenset[tuple[str, AttributeValue]], int] = {}
        meter.create_observable_up_down_counter(
            name, callbacks=[self._observe], unit=unit, description=description
        )

    def add(
        self, amount: int | float, attributes: Attributes = None, context: Context | None = None
    ) -> None:
        key = frozenset(attributes.items()) if attributes else frozenset()
        self._active[key] = self._active.get(key, 0) + int(amount)

    def _observe(self, options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(value, dict(key)) for key, value in list(self._active.items())]


class _ServerMeter(Meter):
    """The SDK's meter, but for `http.server.active_requests`."""

    def __init__(
        self, meter: Meter, name: str, version: str | None, schema_url: str | None
    ) -> None:
        super().__init__(name, version, schema_url)
        self.meter = meter

    def create_up_down_counter(
        self, name: str, unit: str = "", description: str = ""
    ) -> UpDownCounter:
        if name == ACTIVE_REQUESTS:
            return ActiveRequests(self.meter, name, unit, description)
        return self.meter.create_up_down_counter(name, unit, description)

    def create_histogram(
        self,
        name: str,
        unit: str = "",
        description: str = "",
        *,
        explicit_bucket_boundaries_advisory: Sequence[float] | None = None,
    ) -> Histogram:
        return self.meter.create_histogram(
            name,
            unit,
            description,
            explicit_bucket_boundaries_advisory=explicit_bucket_boundaries_advisory,
        )

    def create_counter(self, name: str, unit: str = "", description: str = "") -> Counter:
        return self.meter.create_counter(name, unit, description)

    def create_observable_counter(
        self,
        name: str,
        callbacks: Sequence[CallbackT] | None = None,
        unit: str = "",
        description: str = "",
    ) -> ObservableCounter:
        return self.meter.create_observable_counter(name, callbacks, unit, description)

    def create_observable_gauge(
        self,
        name: str,
        callbacks: Sequence[CallbackT] | None = None,
        unit: str = "",
        description: str = "",
    ) -> ObservableGauge:
        return self.meter.create_observable_gauge(name, callbacks, unit, description)

    def create_observable_up_down_counter(
        self,
        name: str,
        callbacks: Sequence[CallbackT] | None = None,
        unit: str = "",
        description: str = "",
    ) -> ObservableUpDownCounter:
        return self.meter.create_observable_up_down_counter(name, callbacks, unit, description)
