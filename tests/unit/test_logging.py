"""The services' JSON logs: one object per line, and no line per outgoing HTTP call."""

import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from shopkit.telemetry import configure_logging


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    yield
    root.handlers, root.level = handlers, level
    for name, was in quiet.items():
        logging.getLogger(name).setLevel(was)


async def calls(count: int) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    async with httpx.AsyncClient(transport=transport) as client:
        for _ in range(count):
            await client.get("http://inventory.test/stock/SKU-00001")


def lines(captured: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in captured.splitlines()]


async def test_outgoing_calls_are_not_logged_at_info(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")
    await calls(3)
    logging.getLogger("shopkit.http").info("retrying GET inventory/stock after 503")
    logging.getLogger("httpx").warning("a warning still gets through")

    logged = lines(capsys.readouterr().err)
    assert [(entry["logger"], entry["level"]) for entry in logged] == [
        ("shopkit.http", "INFO"),
        ("httpx", "WARNING"),
    ]


async def test_at_debug_every_call_is_logged(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("DEBUG")
    await calls(3)

    requests = [
        e for e in lines(capsys.readouterr().err) if e["message"].startswith("HTTP Request")
    ]
    assert len(requests) == 3
