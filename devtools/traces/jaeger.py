"""Reading traces from Jaeger's HTTP query API (the one its UI uses, served on :16686)."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx


class JaegerError(Exception):
    """Jaeger could not be asked, or did not answer like Jaeger: the message says which."""


def parse_since(text: str) -> timedelta:
    """`30s`, `15m`, `2h`, `1d` as a timedelta."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text)
    if match is None or int(match[1]) == 0:
        raise ValueError(f"{text!r} is not a duration like 30s, 15m, 2h or 1d")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match[2]]
    return timedelta(**{unit: int(match[1])})


def fetch_traces(
    jaeger_url: str,
    service: str,
    since: timedelta,
    limit: int,
    *,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Up to `limit` whole traces of `service` that started in the last `since`.

    The search answers with complete traces (every span of every service), so one request
    is enough. start and end are unix microseconds; `lookback` is only the UI's.
    """
    end = now or datetime.now(UTC)
    params = {
        "service": service,
        "start": str(_unix_us(end - since)),
        "end": str(_unix_us(end)),
        "limit": str(limit),
    }
    return _get(jaeger_url, "/api/traces", params)


def fetch_trace(jaeger_url: str, trace_id: str) -> dict[str, Any]:
    """One whole trace by id; JaegerError naming the id when Jaeger does not hold it."""
    found = _get(jaeger_url, f"/api/traces/{trace_id}", {})
    if not found:
        raise JaegerError(f"Jaeger at {jaeger_url} has no trace {trace_id}")
    return found[0]


def _get(jaeger_url: str, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
    try:
        with httpx.Client(base_url=jaeger_url, timeout=30.0) as client:
            response = client.get(path, params=params)
    except httpx.HTTPError as exc:
        raise JaegerError(f"cannot reach Jaeger at {jaeger_url}: {exc}") from exc
    if response.status_code == 404:
        return []
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict):
        raise JaegerError(
            f"Jaeger at {jaeger_url} answered {response.status_code} to {response.request.url}: "
            f"{_error_message(body, response.text)}"
        )
    if body.get("errors"):
        raise JaegerError(f"Jaeger at {jaeger_url}: {_error_message(body, response.text)}")
    traces: list[dict[str, Any]] = body.get("data") or []
    return traces


def _unix_us(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _error_message(body: Any, text: str) -> str:
    # Jaeger's errors look like {"data": null, "errors": [{"code": 400, "msg": "..."}]}.
    if isinstance(body, dict) and body.get("errors"):
        return "; ".join(str(e.get("msg", e)) for e in body["errors"])
    return text[:200] or "(empty body)"
