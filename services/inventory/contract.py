"""The inventory API as its callers see it: request and response bodies, and the errors a
refused reservation maps to.

The order service imports this module and nothing else of inventory. It depends on pydantic
and shopkit.types only, so inventory's tables and logic stay private and each service still
deploys on its own. Change a body here and every caller that does not follow fails mypy.
"""

import enum
import uuid
from typing import Annotated

from pydantic import BaseModel, Field

from shopkit.types import LineItem, LineItems, StrictModel


class StockLevel(BaseModel):
    sku: str
    available: int


class StockList(BaseModel):
    items: list[StockLevel]


class StockUpdate(StrictModel):
    available: Annotated[int, Field(strict=True, ge=0, le=1_000_000_000)]


class ReservationRequest(StrictModel):
    order_id: uuid.UUID
    items: LineItems


class ReservationStatus(enum.StrEnum):
    """Where an order's reservation stands. `reserved` ends in exactly one of the other two."""

    RESERVED = "reserved"  # the stock is held while the order is placed
    CONFIRMED = "confirmed"  # the order is stored: its stock stays taken, no one can release it
    RELEASED = "released"  # the stock was given back; kept as a tombstone


class ReservationOut(BaseModel):
    order_id: uuid.UUID
    status: ReservationStatus
    items: list[LineItem]


class Shortage(BaseModel):
    sku: str
    requested: int
    available: int


class ReservationRefused(BaseModel):
    """The problem document of a 409 from POST /reservations: `shortages` lists what is
    short (out-of-stock); without it the order has another reservation (reservation-conflict)."""

    detail: str
    shortages: list[Shortage] = []


class OutOfStock(Exception):
    """Some items are short; nothing was reserved. 409 `out-of-stock`, with the shortages."""

    def __init__(self, shortages: list[Shortage]) -> None:
        super().__init__(", ".join(s.sku for s in shortages))
        self.shortages = shortages


class ReservationConflict(Exception):
    """The order already has a reservation that differs, or was released (or confirmed). 409
    `reservation-conflict`; also the answer to confirming a released reservation."""
