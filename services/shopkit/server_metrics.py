"""`http.server.active_requests` counted in a dict and read at collection, instead of two
measurements through the SDK per request.

An up-down counter of requests in flight, `{http.request.method, url.scheme}`, takes +1 and -1
around every request. In this SDK (1.45) each add is a measurement: its attribute dict is
copied and validated (`Measurement.__post_init__`), copied again and hashed sorted
(`_ViewInstrumentMatch`), offered to the exemplar filter and aggregated under a lock. The two
adds cost about as much as the request's `http.server.request.duration`: about 15 µs of
CPU per server request, three per `GET /orders/{id}` (docs/benchmarks.md, "Telemetry that
costs what it should"), for a series that no dashboard or alert reads.

Here the server telemetry (shopkit/server_telemetry.py) adds to a dict on the event loop's
thread, and the meter reports the dict at each collection as an observable up-down counter:
the same name, unit, description and attributes, the same cumulative non-monotonic sum as
the SDK's counter. What it loses: exemplars on this series (nothing reads them). The metric
reader's thread copies the dict in one step under the GIL while the event loop's thread
writes it, so each count it reports is exact at that instant.
"""

from collections.abc import Iterable

from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, Meter, Observation, UpDownCounter
from opentelemetry.util.types import Attributes, AttributeValue

ACTIVE_REQUESTS = "http.server.active_requests"


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
