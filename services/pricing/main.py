"""Entry point: `uvicorn pricing.main:create_app --factory`."""

from fastapi import FastAPI

from pricing import api
from pricing.settings import PricingSettings
from shopkit.app import create_service_app


def create_app(settings: PricingSettings | None = None) -> FastAPI:
    return create_service_app(
        name="pricing",
        description="Products, prices and promotions, and quotes for a basket.",
        settings=settings or PricingSettings(),
        routers=[api.router],
    )
