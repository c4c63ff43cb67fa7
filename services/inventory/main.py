"""Entry point: `uvicorn inventory.main:create_app --factory`."""

from fastapi import FastAPI

from inventory import api
from inventory.settings import InventorySettings
from shopkit.app import create_service_app


def create_app(settings: InventorySettings | None = None) -> FastAPI:
    return create_service_app(
        name="inventory",
        description="Stock per SKU and all-or-nothing reservations per order.",
        settings=settings or InventorySettings(),
        routers=[api.router, api.reservations],
    )
