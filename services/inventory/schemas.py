"""Request and response bodies of the inventory API."""

import uuid
from typing import Annotated, Literal

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


class ReservationOut(BaseModel):
    order_id: uuid.UUID
    status: Literal["reserved", "released"]
    items: list[LineItem]


class Shortage(BaseModel):
    sku: str
    requested: int
    available: int
