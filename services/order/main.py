"""Entry point: `uvicorn order.main:create_app --factory`."""

from fastapi import FastAPI

from order import api
from order.credentials import ServiceCredentials, keep_tokens_fresh
from order.rate_limit import CustomerRateLimit
from order.recovery import run_recovery
from order.settings import OrderSettings
from shopkit.app import create_service_app


def create_app(settings: OrderSettings | None = None) -> FastAPI:
    settings = settings or OrderSettings()
    app = create_service_app(
        name="order",
        description="Places orders through pricing and inventory, and serves them back.",
        settings=settings,
        routers=[api.router],
        # Finishes orders left unfinished by a process that died (docs/failure-model.md).
        background=[run_recovery, keep_tokens_fresh],
    )
    # Its own tokens for inventory and pricing, kept across requests until they expire.
    app.state.credentials = ServiceCredentials(settings)
    app.state.order_rate_limit = CustomerRateLimit(
        settings.customer_orders_per_second, settings.customer_order_burst
    )
    return app
