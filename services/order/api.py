"""HTTP routes of the order service: parse, call orders.py, map the result."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status

from order import orders
from order.clients import (
    InventoryClient,
    OutOfStock,
    PricingClient,
    ReservationConflict,
    UnknownSkus,
)
from order.schemas import CustomerId, OrderDetail, OrderOut, OrderPage, OrderRequest
from order.settings import OrderSettings
from shopkit.db import DatabaseDep, SessionDep
from shopkit.problems import Problem
from shopkit.scenarios import N_PLUS_ONE, SEQUENTIAL_FANOUT, ScenariosDep

router = APIRouter(tags=["orders"])


# Dependencies are `async def` although they never await: FastAPI runs a plain `def`
# dependency in its thread pool, a thread hop on every request for an attribute lookup.
async def get_settings(request: Request) -> OrderSettings:
    settings: OrderSettings = request.app.state.settings
    return settings


async def get_inventory(request: Request) -> InventoryClient:
    settings: OrderSettings = request.app.state.settings
    return InventoryClient("inventory", settings.inventory_url, request.app.state.http, settings)


async def get_pricing(request: Request) -> PricingClient:
    settings: OrderSettings = request.app.state.settings
    return PricingClient("pricing", settings.pricing_url, request.app.state.http, settings)


SettingsDep = Annotated[OrderSettings, Depends(get_settings)]
InventoryDep = Annotated[InventoryClient, Depends(get_inventory)]
PricingDep = Annotated[PricingClient, Depends(get_pricing)]
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Unique per order attempt; a retry with the same key and body is a replay",
    ),
]


@router.post(
    "/orders",
    status_code=status.HTTP_201_CREATED,
    responses={
        409: {"description": "Stock is short, or a request with this key is in progress"},
        422: {"description": "Invalid body, unknown SKU, or the key was used for another body"},
        503: {"description": "Inventory, pricing or the database is unavailable"},
    },
)
async def place_order(
    body: OrderRequest,
    key: IdempotencyKey,
    response: Response,
    database: DatabaseDep,
    settings: SettingsDep,
    inventory: InventoryDep,
    pricing: PricingDep,
    scenarios: ScenariosDep,
) -> OrderOut:
    try:
        order, replayed = await orders.place_order(
            database,
            inventory,
            pricing,
            key,
            body,
            settings.idempotency_claim_ttl_seconds,
            sequential=scenarios.get(SEQUENTIAL_FANOUT).hits(),
        )
    except OutOfStock as exc:
        raise Problem(
            409,
            "out-of-stock",
            "Out of stock",
            f"not enough stock for {exc}",
            shortages=exc.shortages,
        ) from exc
    except ReservationConflict as exc:
        raise Problem(409, "reservation-conflict", "Reservation conflict", str(exc)) from exc
    except UnknownSkus as exc:
        raise Problem(
            422,
            "unknown-sku",
            "Unknown SKU",
            "; ".join(f"{e['field']}: {e['message']}" for e in exc.errors),
            errors=exc.errors,
        ) from exc
    except orders.IdempotencyKeyReused as exc:
        raise Problem(
            422,
            "idempotency-key-reused",
            "Idempotency-Key reused",
            "this Idempotency-Key was used for a different request body",
        ) from exc
    except orders.IdempotencyKeyInProgress as exc:
        raise Problem(
            409,
            "idempotency-key-in-progress",
            "Request in progress",
            "a request with this Idempotency-Key is being processed; retry shortly",
            headers={"Retry-After": "1"},
        ) from exc
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/orders/{order.id}"
    return OrderOut.model_validate(order)


@router.get(
    "/orders/{order_id}",
    responses={404: {"description": "No such order"}, 503: {"description": "A dependency is down"}},
    summary="An order with live stock and prices from inventory and pricing",
)
async def get_order(
    order_id: uuid.UUID,
    database: DatabaseDep,
    inventory: InventoryDep,
    pricing: PricingDep,
    scenarios: ScenariosDep,
) -> OrderDetail:
    sequential = scenarios.get(SEQUENTIAL_FANOUT).hits()
    detail = await orders.get_order_detail(database, inventory, pricing, order_id, sequential)
    if detail is None:
        raise Problem(404, "unknown-order", "Unknown order", f"no order {order_id}")
    return detail


@router.get("/orders", summary="Orders, newest first, optionally of one customer")
async def list_orders(
    session: SessionDep,
    scenarios: ScenariosDep,
    customer_id: Annotated[CustomerId | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> OrderPage:
    try:
        page, next_cursor = await orders.list_orders(
            session, customer_id, limit, cursor, scenarios.get(N_PLUS_ONE).hits()
        )
    except orders.InvalidCursor as exc:
        raise Problem(
            422,
            "invalid-cursor",
            "Invalid cursor",
            "cursor: pass back a next_cursor unchanged",
            errors=[{"field": "cursor", "message": "not a cursor from this API", "in": "query"}],
        ) from exc
    return OrderPage(items=[OrderOut.model_validate(o) for o in page], next_cursor=next_cursor)
