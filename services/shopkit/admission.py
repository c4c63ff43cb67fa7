"""Admission control: a bounded number of business requests in flight, a short bounded queue,
and a fast, cheap 503 for the rest.

Past its capacity a service cannot serve more by taking more in: every request it accepts
beyond it only waits, for CPU, for the database pool or for the services it calls, until its
caller has given up and the work is wasted ("Handling Overload", Google SRE book). So each
process lets at most `ADMISSION_MAX_IN_FLIGHT` business requests run at once; up to
`ADMISSION_MAX_QUEUED` more wait for a turn, first come first served, for at most
`ADMISSION_QUEUE_TIMEOUT_SECONDS` and never past their deadline (shopkit/deadlines.py). The rest
are answered at once: 503 problem+json with Retry-After, before any routing, database or
downstream work. A queued request whose client disconnects is dropped. The health routes
never wait here. How the defaults were chosen: docs/overload.md.

Two layers share one `Admission`. `AdmissionGate` runs first, before the server telemetry and
middleware, and refuses what neither a slot nor the queue can take: past a few times the
capacity that is most requests, so their refusal must cost next to nothing. `AdmissionControl`,
inside the server span, admits or queues the rest, so an admitted request's wait is in its trace.

Telemetry: `shop.requests.shed{reason}` counts refusals, `shop.admission.limit` is the limit in
force, `shop.admission.wait` the time admitted requests queued; on the server span,
`shop.admission.wait_s`, and a child span `await-admission` when the request queued.
"""

import asyncio
import json
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopkit import deadlines
from shopkit.problems import Problem, problem_response

tracer = trace.get_tracer(__name__)
meter = metrics.get_meter(__name__)
waited = meter.create_histogram(
    "shop.admission.wait",
    unit="s",
    description="Time admitted requests waited in the admission queue",
    explicit_bucket_boundaries_advisory=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)


class Shed(StrEnum):
    """Why a request was refused (the `reason` of shop.requests.shed)."""

    QUEUE_FULL = "queue_full"  # as many requests wait already as may
    QUEUE_TIMEOUT = "queue_timeout"  # no turn within the queue timeout
    DEADLINE = "deadline"  # its budget was spent before it could start
    CLIENT_GONE = "client_gone"  # its client disconnected while it waited


@dataclass
class Admission:
    """The business requests one process serves at once, and those waiting for a turn.

    A turn passes from a leaving request straight to the first waiter, so the queue is served
    in order and a request arriving meanwhile cannot overtake it.
    """

    max_in_flight: int
    max_queued: int
    queue_timeout_seconds: float
    in_flight: int = 0
    # Requests refused, by reason: the SDK reads them when it exports (shop.requests.shed), so
    # a refusal costs an addition, not a measurement with attributes to hash.
    refused: Counter[Shed] = field(default_factory=Counter)
    _queue: deque[asyncio.Future[None]] = field(default_factory=deque)

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def full(self) -> bool:
        """No free slot and no place in the queue: a request arriving now is refused."""
        return self.in_flight >= self.max_in_flight and len(self._queue) >= self.max_queued

    def try_enter(self) -> bool:
        """Take a free slot, if there is one and nobody waits for it."""
        if self.in_flight < self.max_in_flight and not self._queue:
            self.in_flight += 1
            return True
        return False

    def join_queue(self) -> asyncio.Future[None] | None:
        """A place in the queue, resolved when a slot passes to it; None when the queue is full."""
        if len(self._queue) >= self.max_queued:
            return None
        turn = asyncio.get_running_loop().create_future()
        self._queue.append(turn)
        return turn

    def leave_queue(self, turn: asyncio.Future[None]) -> None:
        """Give up a place in the queue (timed out, client gone): pass on a slot it was given."""
        if turn.done():
            self.leave()  # the slot passed to it just as it gave up
        else:
            turn.cancel()
            self._queue.remove(turn)

    def leave(self) -> None:
        """Free a slot: the first waiter takes it over, else it is free."""
        if self._queue:
            self._queue.popleft().set_result(None)
        else:
            self.in_flight -= 1


# The processes' admissions, for the limit gauge (one per app; tests may build several).
_admissions: list[Admission] = []


def _observe_limit(_: CallbackOptions) -> Iterable[Observation]:
    for admission in _admissions:
        yield Observation(admission.max_in_flight)


def _observe_shed(_: CallbackOptions) -> Iterable[Observation]:
    refused = sum((admission.refused for admission in _admissions), Counter[Shed]())
    for reason, count in refused.items():
        yield Observation(count, {"reason": reason.value})


meter.create_observable_counter(
    "shop.requests.shed",
    callbacks=[_observe_shed],
    unit="{request}",
    description="Business requests refused before any work, by reason",
)


meter.create_observable_gauge(
    "shop.admission.limit",
    callbacks=[_observe_limit],
    unit="{request}",
    description="Business requests one process admits at once (the limit in force)",
)


class AdmissionGate:
    """ASGI, in front of the whole app (shopkit.app.ServiceApp): refuses at once a business
    request that neither a free slot nor the queue can take, before the server telemetry
    (shopkit.server_telemetry), middleware and routing see it.

    At four times its capacity a service refuses five requests of every six. Refused inside
    the server telemetry, each cost a server span (started, ended, exported), two HTTP metric
    recordings and a JSON response built anew: about 30% of the order service's samples under
    py-spy went to refusing, and goodput fell to 0.6 of capacity (docs/overload.md). Here a
    refusal is counted in `shop.requests.shed{reason="queue_full"}` and nothing else: no span,
    not in `http.server.*` (the dashboards add the two for the offered load). The few requests
    that queue and then fail (queue timeout, deadline) are refused by `AdmissionControl`, with
    a span.
    """

    def __init__(self, app: ASGIApp, admission: Admission, exempt: frozenset[str]) -> None:
        self.app = app
        self.admission = admission
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.admission.full and scope["path"] not in self.exempt:
            self.admission.refused[Shed.QUEUE_FULL] += 1
            await send_overloaded(scope["path"], send)
            return
        await self.app(scope, receive, send)


class AdmissionControl:
    """ASGI middleware: the deadline of every business request, and its admission.

    It runs inside the server span (the server telemetry wraps the whole middleware stack), so
    an admitted request's wait is in its trace, and a request it refuses has its span and its
    HTTP metrics, with status 503 (or 504). Most refusals never get here: `AdmissionGate`
    refuses them first; what is left is a request that queued and then was not admitted, or
    one that found the queue full in the moment since the gate let it through.
    """

    def __init__(
        self,
        app: ASGIApp,
        admission: Admission | None,
        request_timeout_seconds: float,
        exempt: frozenset[str],
    ) -> None:
        self.app = app
        self.admission = admission
        self.request_timeout_seconds = request_timeout_seconds
        self.exempt = exempt
        if admission is not None:
            _admissions.append(admission)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        arrived = time.monotonic()
        budget = deadlines.budget_seconds(scope["headers"], self.request_timeout_seconds)
        deadlines.start(budget, arrived)
        admission = self.admission
        if admission is None:  # admission control switched off: the deadline still holds
            await self.app(scope, receive, send)
            return

        queued = None if admission.try_enter() else _Queued(receive)
        try:
            refused = None if queued is None else await queued.wait(admission, budget)
            span = trace.get_current_span()
            wait = time.monotonic() - arrived
            span.set_attribute("shop.admission.wait_s", round(wait, 6))
            if refused is None and wait >= budget:
                admission.leave()
                refused = Shed.DEADLINE
            if refused is not None:
                admission.refused[refused] += 1
                span.set_attribute("shop.admission.shed", refused.value)
                await _refuse(refused, scope, receive, send)
                return
            waited.record(wait)
            try:
                await self.app(scope, receive if queued is None else queued.replay, send)
            finally:
                admission.leave()
        finally:
            if queued is not None:
                queued.stop_reading()


class _Queued:
    """A request waiting for its turn, and what was read from its client meanwhile.

    The only way to hear of a disconnect is to read: the body (if any) comes first and is kept
    for the app; the read after its last part returns only when the client goes away (or the
    response is complete).
    """

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._read: deque[Message] = deque()
        self._reading: asyncio.Future[Message] | None = None

    async def wait(self, admission: Admission, budget: float) -> Shed | None:
        """Wait for a turn: None once admitted, else why not."""
        turn = admission.join_queue()
        if turn is None:
            return Shed.QUEUE_FULL
        started, started_ns = time.monotonic(), time.time_ns()
        timeout = min(admission.queue_timeout_seconds, budget)
        self._reading = asyncio.ensure_future(self._receive())
        try:
            while not turn.done():
                left = timeout - (time.monotonic() - started)
                if left <= 0:
                    admission.leave_queue(turn)
                    return Shed.QUEUE_TIMEOUT if timeout < budget else Shed.DEADLINE
                await asyncio.wait(
                    (turn, self._reading), timeout=left, return_when=asyncio.FIRST_COMPLETED
                )
                if self._reading.done():
                    message = self._reading.result()
                    if message["type"] == "http.disconnect":
                        admission.leave_queue(turn)
                        return Shed.CLIENT_GONE
                    self._read.append(message)
                    self._reading = asyncio.ensure_future(self._receive())
        except BaseException:
            admission.leave_queue(turn)
            raise
        # The queueing, as a span of its own under the server span, so a waterfall shows it.
        tracer.start_span("await-admission", start_time=started_ns).end()
        return None

    async def replay(self) -> Message:
        """The app's receive: what was read while queued, then the read under way, then on."""
        if self._read:
            return self._read.popleft()
        if self._reading is not None:
            reading, self._reading = self._reading, None
            return await reading
        return await self._receive()

    def stop_reading(self) -> None:
        if self._reading is not None:
            self._reading.cancel()


def _overloaded(reason: Shed) -> Problem:
    return Problem(
        503,
        "overloaded",
        "Service overloaded",
        "too many requests in progress; retry after the delay Retry-After gives",
        headers={"Retry-After": "1"},
        reason=reason.value,
    )


async def _refuse(reason: Shed, scope: Scope, receive: Receive, send: Send) -> None:
    """The refusal: cheap, and before any routing, database or downstream work."""
    if reason is Shed.CLIENT_GONE:
        return  # nobody to answer
    if reason is Shed.DEADLINE:
        problem = Problem(
            504,
            "deadline-exceeded",
            "Deadline exceeded",
            "the request's time budget was spent before it could start",
        )
    else:
        problem = _overloaded(reason)
    await problem_response(problem, scope["path"])(scope, receive, send)


# The gate's answer, encoded once: the problem document without its closing brace (the
# request's path, its `instance`, goes last), and the headers but its length.
_OVERLOADED = problem_response(_overloaded(Shed.QUEUE_FULL))
_OVERLOADED_BODY = bytes(_OVERLOADED.body).removesuffix(b"}") + b',"instance":'
_OVERLOADED_HEADERS = [(k, v) for k, v in _OVERLOADED.raw_headers if k != b"content-length"]


async def send_overloaded(path: str, send: Send) -> None:
    """The gate's 503 (`queue_full`) for a request to `path`; also what bench/floorshop's
    refuser answers, to measure what uvicorn alone costs per refusal."""
    body = _OVERLOADED_BODY + json.dumps(path).encode() + b"}"
    headers = [*_OVERLOADED_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})
