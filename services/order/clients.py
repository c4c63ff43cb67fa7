"""Calls to inventory and pricing, in the types each of them publishes (their `contract`
modules): the bodies sent and read back, and the errors their refusals map to."""

import uuid
from collections.abc import Sequence
from decimal import Decimal

import httpx

from inventory.contract import (
    OutOfStock,
    ReservationConflict,
    ReservationRefused,
    ReservationRequest,
    StockList,
)
from pricing.contract import PriceList, Quote, QuoteRefused, QuoteRequest, UnknownSkus
from shopkit.http import ServiceClient
from shopkit.types import LineItem

JSON = {"Content-Type": "application/json"}


class UnexpectedAnswer(Exception):
    """A 4xx we never provoke on purpose: a contract mismatch, so a bug (500)."""

    def __init__(self, name: str, response: httpx.Response) -> None:
        super().__init__(f"{name} answered {response.status_code}: {response.text[:500]}")


class InventoryClient(ServiceClient):
    async def reserve(self, order_id: uuid.UUID, items: Sequence[LineItem]) -> None:
        # Built, not validated: the items were validated with the order's own request.
        body = ReservationRequest.model_construct(order_id=order_id, items=list(items))
        # Reservations are idempotent per order id, so a timed-out attempt may be retried.
        response = await self.request(
            "POST",
            "/reservations",
            idempotent=True,
            content=body.model_dump_json(),
            headers=JSON,
        )
        if response.status_code in (200, 201):
            return
        if response.status_code == 409:
            refused = ReservationRefused.model_validate_json(response.content)
            if refused.shortages:
                raise OutOfStock(refused.shortages)
            raise ReservationConflict(refused.detail)
        raise UnexpectedAnswer(self.name, response)

    async def confirm(self, order_id: uuid.UUID) -> None:
        # Confirming twice changes nothing, so a timed-out attempt may be retried.
        response = await self.request("POST", f"/reservations/{order_id}/confirm", idempotent=True)
        if response.status_code == 204:
            return
        if response.status_code == 409:  # released before it could be confirmed
            raise ReservationConflict(
                ReservationRefused.model_validate_json(response.content).detail
            )
        raise UnexpectedAnswer(self.name, response)

    async def release(self, order_id: uuid.UUID) -> None:
        response = await self.request("DELETE", f"/reservations/{order_id}", idempotent=True)
        if response.status_code != 204:
            raise UnexpectedAnswer(self.name, response)

    async def stock_levels(self, skus: Sequence[str]) -> dict[str, int]:
        response = await self.request("GET", "/stock", idempotent=True, params={"sku": skus})
        if response.status_code != 200:
            raise UnexpectedAnswer(self.name, response)
        levels = StockList.model_validate_json(response.content)
        return {level.sku: level.available for level in levels.items}


class PricingClient(ServiceClient):
    async def quote(self, items: Sequence[LineItem]) -> Quote:
        body = QuoteRequest.model_construct(items=list(items))  # validated with the order
        # A quote stores nothing, so retrying it is safe.
        response = await self.request(
            "POST", "/quotes", idempotent=True, content=body.model_dump_json(), headers=JSON
        )
        if response.status_code == 200:
            return Quote.model_validate_json(response.content)
        if response.status_code == 422:
            refused = QuoteRefused.model_validate_json(response.content)
            if refused.errors:
                raise UnknownSkus(refused.errors)
        raise UnexpectedAnswer(self.name, response)

    async def unit_prices(self, skus: Sequence[str]) -> dict[str, Decimal]:
        response = await self.request("GET", "/prices", idempotent=True, params={"sku": skus})
        if response.status_code != 200:
            raise UnexpectedAnswer(self.name, response)
        prices = PriceList.model_validate_json(response.content)
        return {price.sku: price.unit_price for price in prices.items}
