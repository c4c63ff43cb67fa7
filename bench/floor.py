"""`python -m bench.floor`: what the shop's work costs with nothing in the way, next to the shop.

Four measurements; the first two on one private PostgreSQL, tracing off (OTEL_SDK_DISABLED):

1. `GET /orders/{id}`, the shop against bench/floorshop (the same three statements and the same
   two calls, on FastAPI with raw asyncpg and aiohttp, no SQLAlchemy, httpx, middleware or
   response models), side by side at the same closed-loop load as `bench.tune`: CPU
   milliseconds per request, per service.
2. One statement (inventory's stock read of two SKUs) run N times in this process through each
   layer: an ORM session as the shop ran it before issue 10, a Core connection as it runs it
   now, and asyncpg alone. CPU microseconds per statement, from time.process_time().

3. The shop's own telemetry (shopkit.telemetry) around nothing, in this process: a route of
   the services' app called as ASGI (a server span and the HTTP server metrics), an httpx call
   over an in-process transport (a client span and its metric) and inventory's statement
   through an instrumented engine (a DB span and its metric), with no SDK, the SDK sampling
   nothing (0%) and everything (100%, spans encoded as OTLP and discarded: no network). CPU
   microseconds per request, and summed as one `GET /orders/{id}` makes them (three server
   requests, two calls, three statements) over no SDK: what telemetry's own code costs per
   `GET`. End to end the difference is larger; docs/benchmarks.md ("The floor and the end to
   end difference") says by how much and where the rest goes.

4. Server spans and HTTP metrics by their owner, around the same route among seven (as many as
   each service has), on the same providers, sampling nothing and everything:
   FastAPIInstrumentor, which the shop used first; FastAPI's own telemetry
   (`FastAPI(telemetry=...)`), which it used next; and the shop's own
   (shopkit.server_telemetry), which it uses now. The instrumentation matches the request
   against the routes again to name its span before the app runs; the other two name it once
   FastAPI's router has matched.

The difference between the two sides of (1) is the price of the shop's layers; (2) shows the
largest line of it; (3) is what telemetry's own code costs per request; (4) shows what the choice
of owner of server telemetry saves of (3).
"""

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.types import ASGIApp

from bench import environment, load, tune
from bench.floorshop import app as floorshop
from devtools.stack.processes import HOST
from devtools.stack.versions import REPO
from inventory.stock import LEVELS
from shopctl.migrations import SERVICES
from shopkit import health
from shopkit.app import ServiceApp
from shopkit.db import Database
from shopkit.telemetry import FASTAPI_TELEMETRY_OFF, setup_telemetry

NO_TELEMETRY = {"OTEL_SDK_DISABLED": "true"}
# What one GET /orders/{id} makes, over the three services.
PER_GET = {"server request": 3, "client call": 2, "statement": 3}
# A request as the services receive one from a caller whose trace continues (two of the three
# server requests of a GET): the server span parses its traceparent.
HEADERS = [
    (b"host", b"127.0.0.1:8001"),
    (b"traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
]


def start_floor(workdir: Path, private: environment.PrivateStack) -> environment.Services:
    """bench/floorshop's three roles on free ports, each as one uvicorn process."""
    logs = workdir / "logs"
    floor = environment.Services.on_free_ports(private.postgres.url, private.provider, logs)
    floor.env = dict(NO_TELEMETRY)
    try:
        for name in SERVICES:
            floor.service_env[name] = {"ROLE": name}
            command = [
                *(sys.executable, "-m", "uvicorn", "bench.floorshop.app:create_app", "--factory"),
                *("--app-dir", str(REPO), "--host", HOST, "--port", str(floor.ports[name])),
                "--no-access-log",
            ]
            floor.launch(name, command, log=logs / f"floor-{name}.log")
        for name in SERVICES:
            floor.wait_healthy(name)
    except BaseException:
        floor.stop()
        raise
    return floor


def same_answer(shop: environment.Services, floor: environment.Services, order_id: str) -> None:
    """The floor must do the shop's work: the same order, lines, live stock and prices."""
    # The shop's order is its bench customer's (bench.load); the floor checks no token.
    signed_in = load.Workload(shop, []).signed_in
    answers = [
        httpx.get(f"{side.order_url}/orders/{order_id}", headers=signed_in, timeout=10)
        .raise_for_status()
        .json()
        for side in (shop, floor)
    ]
    for answer in answers:  # the one field whose spelling differs: the same instant
        answer["created_at"] = datetime.fromisoformat(answer["created_at"].replace("Z", "+00:00"))
    if answers[0] != answers[1]:
        shop_answer, floor_answer = answers
        raise SystemExit(f"the floor answers differently:\n{shop_answer}\n{floor_answer}")


async def statement_costs(database_url: str, calls: int) -> dict[str, float]:
    """CPU microseconds per statement through each layer, measured in turns."""
    engine = create_async_engine(database_url, pool_size=2)
    database = Database(engine)
    pool = await asyncpg.create_pool(
        database_url.replace("postgresql+asyncpg://", "postgresql://"), min_size=1, max_size=2
    )
    skus = {"skus": ["SKU-00001", "SKU-00002"]}

    async def orm_session() -> Any:
        # As the shop ran one statement before: a session, autocommit on its connection.
        async with database.sessionmaker() as session, session.begin():
            await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            return dict((await session.execute(LEVELS, skus)).tuples().all())

    async def core_connection() -> Any:
        async with database.statement() as connection:
            return dict((await connection.execute(LEVELS, skus)).tuples().all())

    async def asyncpg_alone() -> Any:
        return {row[0]: row[1] for row in await pool.fetch(floorshop.STOCK, skus["skus"])}

    layers: dict[str, Callable[[], Awaitable[Any]]] = {
        "ORM session (before issue 10)": orm_session,
        "Core connection (now)": core_connection,
        "asyncpg alone (the floor)": asyncpg_alone,
    }
    answers = {name: await layer() for name, layer in layers.items()}
    assert len({repr(a) for a in answers.values()}) == 1, answers  # the same rows each way
    best: dict[str, float] = {}
    for _ in range(3):  # in turns, the lowest of three: the least disturbed
        for name, layer in layers.items():
            started = time.process_time()
            for _ in range(calls):
                await layer()
            cost = 1e6 * (time.process_time() - started) / calls
            best[name] = min(best.get(name, cost), cost)
    await pool.close()
    await engine.dispose()
    return best


class _Discard(SpanExporter):
    """Encodes spans as the OTLP exporter does, and sends them nowhere."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        encode_spans(spans).SerializeToString()
        return SpanExportResult.SUCCESS


async def span_costs(calls: int, database_url: str) -> dict[str, dict[str, float]]:
    """CPU microseconds per server request, per client call and per statement, for each
    telemetry variant."""
    costs: dict[str, dict[str, float]] = {}
    variants = {"no SDK": None, "0%": "always_off", "100%": "always_on"}
    skus = {"skus": ["SKU-00001", "SKU-00002"]}
    for name, sampler in variants.items():
        os.environ["OTEL_SDK_DISABLED"] = "true" if sampler is None else "false"
        os.environ["OTEL_TRACES_SAMPLER"] = sampler or "always_off"
        telemetry = setup_telemetry("floor", "0", _Discard(), InMemoryMetricReader())
        app = ServiceApp(admission=None, telemetry=telemetry, trusted_callers=True)
        engine = create_async_engine(database_url, pool_size=2)
        telemetry.instrument_engine(engine)
        database = Database(engine)

        async def statement(database: Database = database) -> Any:
            async with database.statement() as connection:
                return (await connection.execute(LEVELS, skus)).all()

        @app.get("/items/{item}")
        async def item(item: str) -> dict[str, str]:
            return {"item": item}

        client = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(200)))
        telemetry.instrument_client(client)
        costs[name] = {
            "server request": await _cpu_per_call(partial(_asgi_get, app, "/items/a"), calls),
            "client call": await _cpu_per_call(partial(client.get, "http://x/items/a"), calls),
            "statement": await _cpu_per_call(statement, calls),
        }
        await client.aclose()
        await engine.dispose()
        telemetry.shutdown()
    os.environ.update(NO_TELEMETRY)
    return costs


async def owner_costs(calls: int) -> dict[str, dict[str, float]]:
    """CPU microseconds per server request by the owner of server telemetry, per sampling, on
    the same providers: FastAPIInstrumentor, FastAPI's own and the shop's (its set-up)."""
    costs: dict[str, dict[str, float]] = {}
    for sampling, sampler in {"0%": "always_off", "100%": "always_on"}.items():
        os.environ.update(OTEL_SDK_DISABLED="false", OTEL_TRACES_SAMPLER=sampler)
        telemetry = setup_telemetry("floor", "0", _Discard(), InMemoryMetricReader())
        instrumented = _seven_routes(FASTAPI_TELEMETRY_OFF)
        FastAPIInstrumentor.instrument_app(
            instrumented,
            exclude_spans=["receive", "send"],  # one span per ASGI message otherwise
            tracer_provider=telemetry.tracer_provider,
            meter_provider=telemetry.meter_provider,
        )
        fastapis: TelemetryConfig = {
            "tracer_provider": telemetry.tracer_provider,
            "meter_provider": telemetry.meter_provider,
            "logs": False,
            "operation_spans": False,
            "exclude": lambda scope: scope["path"] in health.PATHS,
        }
        apps: dict[str, ASGIApp] = {
            "none": _seven_routes(FASTAPI_TELEMETRY_OFF),
            "FastAPIInstrumentor": instrumented,
            "FastAPI's own": _seven_routes(fastapis),
            "the shop's": telemetry.instrument_server(
                _seven_routes(FASTAPI_TELEMETRY_OFF), trusted=True
            ),
        }
        costs[sampling] = {
            owner: await _cpu_per_call(partial(_asgi_get, app, "/items/a"), calls)
            for owner, app in apps.items()
        }
        telemetry.shutdown()
    os.environ.update(NO_TELEMETRY)
    return costs


def _seven_routes(telemetry: TelemetryConfig) -> FastAPI:
    """An app with as many routes as each service; requests go to the fourth."""
    app = FastAPI(telemetry=telemetry)

    async def nothing() -> dict[str, str]:
        return {}

    for n in range(3):
        app.add_api_route(f"/before{n}/{{key}}", nothing)
    app.add_api_route("/items/{item}", nothing)
    for n in range(3):
        app.add_api_route(f"/after{n}", nothing, methods=["POST"])
    return app


async def _asgi_get(app: ASGIApp, path: str) -> None:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": HEADERS, "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
    }  # fmt: skip

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        pass

    await app(scope, receive, send)


async def _cpu_per_call(call: Callable[[], Awaitable[Any]], calls: int) -> float:
    for _ in range(calls // 10):  # warm-up: imports, caches
        await call()
    best = float("inf")
    for _ in range(3):
        started = time.process_time()  # the export thread's CPU counts too
        for _ in range(calls):
            await call()
        best = min(best, 1e6 * (time.process_time() - started) / calls)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__)
    parser.add_argument("--clients", type=int, default=32, help="closed-loop concurrency")
    parser.add_argument("--seconds", type=float, default=8.0, help="one round of one side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=2000, help="statements per layer and turn")
    args = parser.parse_args()

    with environment.private_stack("floor", with_telemetry=False) as private:
        workdir, database_url = private.workdir, private.postgres.url
        stacks: dict[str, environment.Services] = {}
        try:
            stacks["shop"] = environment.start_services(workdir / "shop", private, NO_TELEMETRY)
            stacks["floor"] = start_floor(workdir / "floor", private)
            orders = asyncio.run(load.create_orders(stacks["shop"], 200))
            same_answer(stacks["shop"], stacks["floor"], orders[0])
            workloads = {
                name: load.Workload(services, orders, get_share=1.0)
                for name, services in stacks.items()
            }
            tune.measure(stacks, workloads, args.clients, 2, 1)  # warm-up, not reported
            medians = tune.measure(stacks, workloads, args.clients, args.seconds, args.rounds)
            costs = asyncio.run(statement_costs(database_url, args.calls))
            spans = asyncio.run(span_costs(args.calls, database_url))
            owners = asyncio.run(owner_costs(args.calls))
        finally:
            for services in stacks.values():
                services.stop()
    print("GET /orders/{id}, no telemetry, side by side:")
    print(tune.table(medians))
    print("\nOne statement (two SKUs' stock), CPU per statement in this process:")
    for name, cost in costs.items():
        print(f"  {name:32} {cost:6.0f} µs")
    print("\nThe shop's telemetry around nothing, CPU per request in this process:")
    print("| telemetry | server request | client call | statement | one GET, over no SDK |")
    print("|---|---|---|---|---|")
    for variant, per_call in spans.items():
        over = sum(
            count * (per_call[part] - spans["no SDK"][part]) for part, count in PER_GET.items()
        )
        cells = " | ".join(f"{per_call[part]:.0f} µs" for part in PER_GET)
        print(f"| {variant} | {cells} | {over:.0f} µs |")
    print("\nServer spans and HTTP metrics by their owner, CPU per request (seven routes):")
    print(
        "| sampled | no telemetry | FastAPIInstrumentor | FastAPI's own | the shop's |"
        "\n|---|---|---|---|---|"
    )
    for sampling, by_owner in owners.items():
        cells = " | ".join(f"{cost:.0f} µs" for cost in by_owner.values())
        print(f"| {sampling} sampled | {cells} |")
    return 0


if __name__ == "__main__":
    os.environ.update(NO_TELEMETRY)
    sys.exit(main())
