"""Deadlines: the time budget of a request, carried from caller to callee.

A caller says how long it will wait in the `Request-Timeout-Ms` header: milliseconds from when
it sent the request, relative (as gRPC's `grpc-timeout`) so that no two clocks need agree. A
service serves a request within the smaller of that and its own `REQUEST_TIMEOUT_SECONDS`
(shopkit/settings.py); admission (shopkit/admission.py) starts the clock when the request
arrives, so its wait in the queue counts. Calls to other services (shopkit/http.py) send what
is left and time out with it, and a request whose budget is spent is not started: its caller
has given up, and the work would only delay requests someone still waits for.

The deadline lives in a context variable, so it follows the request into the tasks it spawns
(asyncio copies the context) and is absent from background work such as recovery, which runs on
the settings' timeouts alone.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

HEADER = "Request-Timeout-Ms"
_HEADER_KEY = HEADER.lower().encode()

# The monotonic time by which the current request must be answered; None outside a request.
_deadline: ContextVar[float | None] = ContextVar("deadline", default=None)


def budget_seconds(headers: list[tuple[bytes, bytes]], default_seconds: float) -> float:
    """The request's budget: the caller's (if it sent a valid one) capped by our own default."""
    for name, value in headers:
        if name == _HEADER_KEY:
            try:
                return min(max(int(value), 0) / 1000, default_seconds)
            except ValueError:
                break  # a malformed budget is no budget: ours applies
    return default_seconds


def start(budget: float, now: float | None = None) -> None:
    """Set the current request's deadline: `budget` seconds after `now` (its arrival)."""
    _deadline.set((time.monotonic() if now is None else now) + budget)


def remaining() -> float | None:
    """Seconds left of the current request's budget (negative once spent); None without one."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def header(seconds: float) -> dict[str, str]:
    """The header that passes `seconds` of budget on to the next service."""
    return {HEADER: str(max(int(seconds * 1000), 0))}


@contextmanager
def unbounded() -> Iterator[None]:
    """Run without the request's deadline: for work that must finish even though the caller
    has gone, such as giving back the stock of an order that failed."""
    token = _deadline.set(None)
    try:
        yield
    finally:
        _deadline.reset(token)
