"""Typed calls to inventory and pricing; their answers mapped to this service's errors."""

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import httpx

from shopkit.http import ServiceClient
from shopkit.types import LineItem


class OutOfStock(Exception):
    def __init__(self, shortages: list[dict[str, Any]]) -> None:
        super().__init__(", ".join(s["sku"] for s in shortages))
        self.shortages = shortages


class ReservationConflict(Exception):
    pass


class UnknownSkus(Exception):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(e["field"] for e in errors))
        self.errors = errors


class UnexpectedAnswer(Exception):
    """A 4xx we never provoke on purpose: a contract mismatch, so a bug (500)."""

    def __init__(self, name: str, response: httpx.Response) -> None:
        super().__init__(f"{name} answered {response.status_code}: {response.text[:500]}")


def _items(items: Sequence[LineItem]) -> list[dict[str, Any]]:
    return [item.model_dump() for item in items]


class InventoryClient(ServiceClient):
    async def reserve(self, order_id: uuid.UUID, items: Sequence[LineItem]) -> None:
        # Reservations are idempotent per order id, so a timed-out attempt may be retried.
        response = await self.request(
            "POST",
            "/reservations",
            idempotent=True,
            json={"order_id": str(order_id), "items": _items(items)},
        )
        if response.status_code in (200, 201):
            return
        if response.status_code == 409:
            problem = response.json()
            if problem.get("shortages"):
                raise OutOfStock(problem["shortages"])
            raise ReservationConflict(problem.get("detail", "reservation conflict"))
        raise UnexpectedAnswer(self.name, response)

    async def release(self, order_id: uuid.UUID) -> None:
        response = await self.request("DELETE", f"/reservations/{order_id}", idempotent=True)
        if response.status_code != 204:
            raise UnexpectedAnswer(self.name, response)

    async def stock_levels(self, skus: Sequence[str]) -> dict[str, int]:
        response = await self.request("GET", "/stock", idempotent=True, params={"sku": skus})
        if response.status_code != 200:
            raise UnexpectedAnswer(self.name, response)
        return {item["sku"]: item["available"] for item in response.json()["items"]}


class PricingClient(ServiceClient):
    async def quote(self, items: Sequence[LineItem]) -> dict[str, Any]:
        # A quote stores nothing, so retrying it is safe.
        response = await self.request(
            "POST", "/quotes", idempotent=True, json={"items": _items(items)}
        )
        if response.status_code == 200:
            return response.json()  # type: ignore[no-any-return]
        if response.status_code == 422 and response.json().get("errors"):
            raise UnknownSkus(response.json()["errors"])
        raise UnexpectedAnswer(self.name, response)

    async def unit_prices(self, skus: Sequence[str]) -> dict[str, Decimal]:
        response = await self.request("GET", "/prices", idempotent=True, params={"sku": skus})
        if response.status_code != 200:
            raise UnexpectedAnswer(self.name, response)
        return {item["sku"]: Decimal(item["unit_price"]) for item in response.json()["items"]}
