"""HTTP routes of the order service: parse, call the use case (placement, reading, listing),
map the result."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status

from inventory.contract import OutOfStock, ReservationConflict
from order import listing, rate_limit, reading
from order.claims import IdempotencyKeyInProgress, IdempotencyKeyReused
from order.deps import (
    CustomerDep,
    FanOutDep,
    InventoryDep,
    LineLoadingDep,
    PlacementDep,
    PricingDep,
    ReaderDep,
)
from order.rate_limit import OrderRateLimitDep
from order.schemas import CustomerId, NewOrder, OrderDetail, OrderOut, OrderPage, OrderRequest
from pricing.contract import UnknownSkus
from shopkit.db import DatabaseDep, SessionDep
from shopkit.identity import forbidden
from shopkit.problems import Problem

router = APIRouter(tags=["orders"])

# Every route needs an access token (shopkit/identity.py): 401 without one.
UNAUTHORIZED: dict[int | str, dict[str, str]] = {
    401: {"description": "No access token, or one this service does not accept"},
    403: {"description": "The token lacks the scope the route needs"},
}

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description=(
            "Unique per order attempt, among the caller's own keys: a retry with the same key"
            " and body within 24 hours (IDEMPOTENCY_KEY_RETENTION_SECONDS) replays the order"
        ),
    ),
]


@router.post(
    "/orders",
    status_code=status.HTTP_201_CREATED,
    responses={
        **UNAUTHORIZED,
        409: {"description": "Stock is short, or a request with this key is in progress"},
        422: {"description": "Invalid body, unknown SKU, or the key was used for another body"},
        429: {"description": "The customer placed too many orders: retry after Retry-After"},
        503: {"description": "Inventory, pricing or the database is unavailable"},
    },
)
async def place_order(
    body: NewOrder,
    customer: CustomerDep,
    key: IdempotencyKey,
    response: Response,
    placement: PlacementDep,
    order_rate: OrderRateLimitDep,
) -> OrderOut:
    """Place an order for the caller: the customer is the access token's subject."""
    # Here, once the request is valid: a malformed one costs the customer no order.
    rate_limit.admit(order_rate, customer)
    # Both parts are validated already: the items with the body, the customer id with the token.
    request = OrderRequest.model_construct(customer_id=customer, items=body.items)
    try:
        order, replayed = await placement.place(key, request)
    except OutOfStock as exc:
        raise Problem(
            409,
            "out-of-stock",
            "Out of stock",
            f"not enough stock for {exc}",
            shortages=[shortage.model_dump() for shortage in exc.shortages],
        ) from exc
    except ReservationConflict as exc:
        raise Problem(409, "reservation-conflict", "Reservation conflict", str(exc)) from exc
    except UnknownSkus as exc:
        raise Problem(
            422,
            "unknown-sku",
            "Unknown SKU",
            str(exc),
            errors=[error.model_dump(by_alias=True) for error in exc.errors],
        ) from exc
    except IdempotencyKeyReused as exc:
        raise Problem(
            422,
            "idempotency-key-reused",
            "Idempotency-Key reused",
            "this Idempotency-Key was used for a different request body",
        ) from exc
    except IdempotencyKeyInProgress as exc:
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
    responses={
        **UNAUTHORIZED,
        404: {"description": "No such order of the caller's"},
        503: {"description": "A dependency is down"},
    },
    summary="An order with live stock and prices from inventory and pricing",
)
async def get_order(
    order_id: uuid.UUID,
    reader: ReaderDep,
    database: DatabaseDep,
    inventory: InventoryDep,
    pricing: PricingDep,
    fan_out: FanOutDep,
) -> OrderDetail:
    detail = await reading.get_order_detail(
        database, inventory, pricing, order_id, fan_out, customer_id=reader
    )
    # Another customer's order is as absent as one that does not exist: a 403 would confirm it.
    if detail is None:
        raise Problem(404, "unknown-order", "Unknown order", f"no order {order_id}")
    return detail


@router.get(
    "/orders",
    responses=UNAUTHORIZED,
    summary="The caller's orders, newest first; with the admin scope, everyone's or one customer's",
)
async def list_orders(
    reader: ReaderDep,
    session: SessionDep,
    lines: LineLoadingDep,
    customer_id: Annotated[CustomerId | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> OrderPage:
    if reader is not None:
        if customer_id not in (None, reader):
            raise forbidden("a customer lists their own orders only")
        customer_id = reader
    try:
        page, next_cursor = await listing.list_orders(session, customer_id, limit, cursor, lines)
    except listing.InvalidCursor as exc:
        raise Problem(
            422,
            "invalid-cursor",
            "Invalid cursor",
            "cursor: pass back a next_cursor unchanged",
            errors=[{"field": "cursor", "message": "not a cursor from this API", "in": "query"}],
        ) from exc
    return OrderPage(items=[OrderOut.model_validate(o) for o in page], next_cursor=next_cursor)
