"""Entry point: `uvicorn order.main:create_app --factory`."""

from fastapi import FastAPI

from order import api
from order.recovery import run_recovery
from order.settings import OrderSettings
from shopkit.app import create_service_app


def create_app(settings: OrderSettings | None = None) -> FastAPI:
    return create_service_app(
        name="order",
        description="Places orders through pricing and inventory, and serves them back.",
        settings=settings or OrderSettings(),
        routers=[api.router],
        # Finishes orders left unfinished by a process that died (docs/failure-model.md).
        background=[run_recovery],
    )
