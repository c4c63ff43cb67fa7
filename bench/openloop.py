"""An open-loop load generator cheap enough to overload a service running on the same machine.

httpx costs a few milliseconds of CPU per request on a busy machine: at a few hundred requests
per second the generator, not the service, was the bottleneck, and its own lag showed up as the
service's latency. This sends HTTP/1.1 over plain asyncio streams (keep-alive connections reused,
a new one opened whenever none is idle), for loopback only, about ten times cheaper per request.

Requests are sent on schedule whatever the answers (open loop), and each latency counts from
when its request was due, not from when it could be sent (no coordinated omission). A client that
gives up closes its connection, as a browser or a proxy does: the server sees it go.
"""

import argparse
import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devtools.stack.processes import HOST


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None


@dataclass(frozen=True)
class Answer:
    """Status and body of an answer, or the reason there was none (`timeout`, `error`), and
    the seconds from when the request was due. `lag`: how late the generator itself began to
    send it (its own event loop busy), part of `latency` that the server never saw."""

    request: Request
    status: int | None
    body: bytes
    latency: float
    failure: str | None = None
    lag: float = 0.0

    @property
    def outcome(self) -> str:
        return str(self.status) if self.status is not None else str(self.failure)


class Connections:
    """Keep-alive connections to one server, each carrying one request at a time."""

    def __init__(self, port: int, host: str = HOST) -> None:
        self.host, self.port = host, port
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def send(self, request: Request, patience: float) -> tuple[int, bytes]:
        """The status and body, within `patience` seconds; raises TimeoutError (then hangs
        up), OSError or IncompleteReadError."""
        body = b"" if request.body is None else json.dumps(request.body).encode()
        head = [f"{request.method} {request.path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        head += [f"{name}: {value}" for name, value in request.headers.items()]
        if request.body is not None:
            head.append("Content-Type: application/json")
        head.append(f"Content-Length: {len(body)}")
        connection = self._idle.pop() if self._idle else None
        try:
            async with asyncio.timeout(patience):
                if connection is None:
                    connection = await asyncio.open_connection(self.host, self.port)
                reader, writer = connection
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
                status_line = await reader.readline()
                if not status_line:
                    raise ConnectionResetError("closed by the server")
                length, close = 0, False
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                    elif name.lower() == "connection" and value.strip().lower() == "close":
                        close = True
                content = await reader.readexactly(length)
        except BaseException:
            if connection is not None:
                connection[1].close()  # a client that gives up hangs up
            raise
        if close:
            writer.close()
        else:
            self._idle.append(connection)
        return int(status_line.split()[1]), content

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


async def open_loop(
    port: int,
    rate: float,
    seconds: float,
    next_request: Callable[[int], Request],
    patience: float,
) -> list[Answer]:
    """Send `next_request(i)` at `rate` per second for `seconds`, each client waiting up to
    `patience` seconds; every answer, in order."""
    connections = Connections(port)
    answers: list[Answer | None] = [None] * round(rate * seconds)

    async def one(i: int, due: float) -> None:
        lag = time.perf_counter() - due
        request = next_request(i)
        try:
            status, body = await connections.send(request, patience)
            answers[i] = Answer(request, status, body, time.perf_counter() - due, lag=lag)
        except TimeoutError:
            answers[i] = Answer(request, None, b"", time.perf_counter() - due, "timeout", lag)
        except (OSError, asyncio.IncompleteReadError) as exc:
            latency = time.perf_counter() - due
            answers[i] = Answer(request, None, b"", latency, type(exc).__name__, lag)

    tasks = []
    start = time.perf_counter()
    for i in range(len(answers)):
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    connections.close()
    return [answer for answer in answers if answer is not None]


def main() -> int:
    """`python -m bench.openloop PORT PATH --rate R --seconds S`: a spike against a running stack
    (`make run`: the order service is on 8000), to watch admission control in Grafana and Jaeger;
    prints the answers by status and their p50 and p99."""
    parser = argparse.ArgumentParser(prog="python -m bench.openloop", description=main.__doc__)
    parser.add_argument("port", type=int)
    parser.add_argument("path", help="e.g. /orders/<id of an order>")
    parser.add_argument("--rate", type=float, default=300.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--patience", type=float, default=10.0, help="client timeout, seconds")
    parser.add_argument("--token", help="an access token: `python -m devtools token <customer>`")
    args = parser.parse_args()
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    answers = asyncio.run(
        open_loop(
            args.port,
            args.rate,
            args.seconds,
            lambda _: Request("GET", args.path, headers),
            args.patience,
        )
    )
    for outcome, count in sorted(Counter(a.outcome for a in answers).items()):
        latencies = sorted(a.latency for a in answers if a.outcome == outcome)
        p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
        print(f"{outcome}: {count} answers, p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
