"""HTTP routes of the inventory service: parse, call stock.py, map the result."""

import asyncio
import logging
import uuid
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from inventory import stock
from inventory.contract import (
    OutOfStock,
    ReservationConflict,
    ReservationOut,
    ReservationRequest,
    ReservationStatus,
    StockLevel,
    StockList,
    StockUpdate,
)
from inventory.models import Reservation
from shopkit.db import DatabaseDep, SessionDep
from shopkit.identity import AdminDep, TrustedServiceDep, TrustedServiceOrAdminDep
from shopkit.problems import Problem
from shopkit.scenarios import LOCK_CONTENTION, ScenariosDep
from shopkit.types import MAX_ITEMS, LineItem, Sku

log = logging.getLogger(__name__)

router = APIRouter(tags=["inventory"])
# Business calls: the order service's only, proven by its token (shopkit/identity.py).
reservations = APIRouter(tags=["inventory"], dependencies=[TrustedServiceDep])


@router.get(
    "/stock",
    dependencies=[TrustedServiceOrAdminDep],
    summary="Stock levels of several SKUs (unknown SKUs are left out)",
)
async def list_stock(
    database: DatabaseDep,
    sku: Annotated[list[Sku], Query(min_length=1, max_length=MAX_ITEMS)],
) -> StockList:
    levels = await stock.get_levels(database, sku)
    return StockList(items=[StockLevel(sku=s, available=a) for s, a in levels.items()])


@router.get(
    "/stock/{sku}",
    dependencies=[TrustedServiceOrAdminDep],
    responses={404: {"description": "Unknown SKU"}},
)
async def get_stock(database: DatabaseDep, sku: Annotated[Sku, Path()]) -> StockLevel:
    levels = await stock.get_levels(database, [sku])
    if sku not in levels:
        raise Problem(404, "unknown-sku", "Unknown SKU", f"no stock record for {sku}", sku=sku)
    return StockLevel(sku=sku, available=levels[sku])


@router.put("/stock/{sku}", dependencies=[AdminDep], summary="Set a SKU's stock (admin)")
async def put_stock(
    session: SessionDep, sku: Annotated[Sku, Path()], body: StockUpdate
) -> StockLevel:
    await stock.set_level(session, sku, body.available)
    return StockLevel(sku=sku, available=body.available)


@reservations.post(
    "/reservations",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "The same reservation existed already", "model": ReservationOut},
        409: {"description": "Stock is short, or the order has another reservation"},
    },
)
async def create_reservation(
    database: DatabaseDep, body: ReservationRequest, response: Response, scenarios: ScenariosDep
) -> ReservationOut:
    contention = scenarios.get(LOCK_CONTENTION)
    # The lock-contention scenario: slow work while the stock rows stay locked.
    hold = partial(asyncio.sleep, contention.latency_ms / 1000) if contention.hits() else None
    try:
        created = await stock.reserve(database, body.order_id, body.items, hold)
    except OutOfStock as exc:
        raise Problem(
            409,
            "out-of-stock",
            "Out of stock",
            f"not enough stock for {exc}",
            shortages=[s.model_dump() for s in exc.shortages],
        ) from exc
    except ReservationConflict as exc:
        raise Problem(409, "reservation-conflict", "Reservation conflict", str(exc)) from exc
    if not created:
        response.status_code = status.HTTP_200_OK
    return ReservationOut(
        order_id=body.order_id, status=ReservationStatus.RESERVED, items=body.items
    )


@router.get(
    "/reservations/{order_id}",
    dependencies=[TrustedServiceOrAdminDep],
    responses={404: {"description": "No such reservation"}},
)
async def get_reservation(session: SessionDep, order_id: uuid.UUID) -> ReservationOut:
    reservation = await stock.get_reservation(session, order_id)
    if reservation is None:
        raise Problem(
            404, "unknown-reservation", "Unknown reservation", f"no reservation for {order_id}"
        )
    return _reservation_out(reservation)


@reservations.post(
    "/reservations/{order_id}/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Confirm an order's reservation once the order is stored (idempotent)",
    responses={
        404: {"description": "No such reservation"},
        409: {"description": "The reservation was released"},
    },
)
async def confirm_reservation(database: DatabaseDep, order_id: uuid.UUID) -> None:
    confirmed = await stock.confirm(database, order_id)
    if confirmed is None:
        raise Problem(
            404, "unknown-reservation", "Unknown reservation", f"no reservation for {order_id}"
        )
    if confirmed == ReservationStatus.RELEASED:
        raise Problem(
            409,
            "reservation-conflict",
            "Reservation conflict",
            f"the reservation of order {order_id} was released: its stock is for sale again",
            reservation_status=confirmed,
        )


@reservations.delete(
    "/reservations/{order_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Release an order's reservation (idempotent), unless it is confirmed",
    responses={409: {"description": "The reservation is confirmed: its order is placed"}},
)
async def delete_reservation(database: DatabaseDep, order_id: uuid.UUID) -> None:
    released = await stock.release(database, order_id)
    if released == ReservationStatus.CONFIRMED:
        # Only the order service may call this route, and it never releases a placed order: a
        # refusal here means a bug or a stolen credential, which an operator wants to see.
        log.warning("refused to release the confirmed reservation of order %s", order_id)
        raise Problem(
            409,
            "reservation-confirmed",
            "Reservation confirmed",
            f"the reservation of order {order_id} is confirmed: its order is placed, and its"
            " stock stays taken",
            reservation_status=released,
        )


def _reservation_out(reservation: Reservation) -> ReservationOut:
    return ReservationOut(
        order_id=reservation.order_id,
        status=reservation.status,
        items=[LineItem(sku=line.sku, quantity=line.quantity) for line in reservation.lines],
    )
