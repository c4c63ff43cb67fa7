"""The floor of `GET /orders/{id}`: the shop's work with nothing in the way.

The same three services' parts of the request (order reads the order and asks inventory and
pricing, concurrently, for live stock and prices), the same three statements and the same
JSON out, on FastAPI and uvicorn as the shop; but raw asyncpg pools instead of SQLAlchemy,
one aiohttp session instead of httpx, and no middleware, response models or telemetry.
What the shop spends above this is the price of its layers: `python -m bench.floor`
measures both side by side (docs/benchmarks.md).

Run: ROLE=order|inventory|pricing uvicorn bench.floorshop.app:create_app --factory, with the
shop's DATABASE_URL (and INVENTORY_URL, PRICING_URL for order).
"""

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import aiohttp
import asyncpg  # type: ignore[import-untyped]
from fastapi import FastAPI, Query, Request, Response

ORDER_WITH_LINES = (
    "SELECT o.id, o.status, o.customer_id, o.subtotal, o.discount, o.total, o.currency,"
    " o.created_at, l.sku, l.quantity, l.unit_price, l.discount AS line_discount, l.line_total"
    " FROM orders.orders o JOIN orders.order_lines l ON l.order_id = o.id"
    " WHERE o.id = $1 ORDER BY l.position"
)
STOCK = "SELECT sku, available FROM inventory.stock WHERE sku = ANY($1::varchar[]) ORDER BY sku"
PRICES = (
    "SELECT sku, name, unit_price, currency FROM pricing.products"
    " WHERE sku = ANY($1::varchar[]) ORDER BY sku"
)


def _json(body: Any) -> Response:
    return Response(json.dumps(body, default=str), media_type="application/json")


def create_app() -> FastAPI:
    role = os.environ["ROLE"]
    dsn = os.environ["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(dsn, min_size=1, max_size=20)
        app.state.http = aiohttp.ClientSession(raise_for_status=True)
        yield
        await app.state.http.close()
        await app.state.pool.close()

    app = FastAPI(lifespan=lifespan, telemetry={"tracing": False, "metrics": False})

    @app.get("/healthz")
    async def healthz() -> Response:
        return _json({"status": "ok"})

    if role == "order":
        inventory, pricing = os.environ["INVENTORY_URL"], os.environ["PRICING_URL"]

        async def get_json(http: aiohttp.ClientSession, url: str, skus: list[str]) -> Any:
            async with http.get(url, params=[("sku", sku) for sku in skus]) as response:
                return await response.json()

        @app.get("/orders/{order_id}")
        async def get_order(order_id: uuid.UUID, request: Request) -> Response:
            rows = await request.app.state.pool.fetch(ORDER_WITH_LINES, order_id)
            if not rows:
                return Response(status_code=404)
            skus = [row["sku"] for row in rows]
            http = request.app.state.http
            stock, prices = await asyncio.gather(
                get_json(http, f"{inventory}/stock", skus),
                get_json(http, f"{pricing}/prices", skus),
            )
            available = {item["sku"]: item["available"] for item in stock["items"]}
            unit_prices = {item["sku"]: item["unit_price"] for item in prices["items"]}
            order = rows[0]
            return _json(
                {
                    **{k: order[k] for k in ("id", "status", "customer_id", "subtotal")},
                    **{k: order[k] for k in ("discount", "total", "currency", "created_at")},
                    "lines": [
                        {
                            "sku": row["sku"],
                            "quantity": row["quantity"],
                            "unit_price": row["unit_price"],
                            "discount": row["line_discount"],
                            "line_total": row["line_total"],
                            "available_now": available.get(row["sku"]),
                            "unit_price_now": unit_prices.get(row["sku"]),
                        }
                        for row in rows
                    ],
                }
            )

    else:
        statement = STOCK if role == "inventory" else PRICES
        path = "/stock" if role == "inventory" else "/prices"

        @app.get(path)
        async def read(request: Request, sku: Annotated[list[str], Query()]) -> Response:
            rows = await request.app.state.pool.fetch(statement, sku)
            return _json({"items": [dict(row) for row in rows]})

    return app
