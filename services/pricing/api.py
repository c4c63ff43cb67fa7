"""HTTP routes of the pricing service: parse, call catalog.py, map the result."""

from typing import Annotated

from fastapi import APIRouter, Path, Query

from pricing import catalog
from pricing.contract import (
    MixedCurrencies,
    Price,
    PriceList,
    PriceUpdate,
    Quote,
    QuoteRequest,
    UnknownSkus,
)
from shopkit.db import DatabaseDep, SessionDep
from shopkit.identity import AdminDep, TrustedServiceDep
from shopkit.problems import Problem
from shopkit.types import MAX_ITEMS, Sku

router = APIRouter(tags=["pricing"])


# The catalog is public, as a shop front shows it: prices need no token. Quotes are business
# calls of the order service's; writes need the admin scope.


@router.get(
    "/prices",
    summary="Prices of several SKUs (unknown SKUs are left out)",
)
async def list_prices(
    database: DatabaseDep,
    sku: Annotated[list[Sku], Query(min_length=1, max_length=MAX_ITEMS)],
) -> PriceList:
    return PriceList(items=await catalog.get_prices(database, sku))


@router.get(
    "/prices/{sku}",
    responses={404: {"description": "Unknown SKU"}},
)
async def get_price(database: DatabaseDep, sku: Annotated[Sku, Path()]) -> Price:
    prices = await catalog.get_prices(database, [sku])
    if not prices:
        raise Problem(404, "unknown-sku", "Unknown SKU", f"no price for {sku}", sku=sku)
    return prices[0]


@router.put("/prices/{sku}", dependencies=[AdminDep], summary="Set a SKU's price (admin)")
async def put_price(session: SessionDep, sku: Annotated[Sku, Path()], body: PriceUpdate) -> Price:
    return await catalog.set_price(session, sku, body)


@router.post(
    "/quotes",
    dependencies=[TrustedServiceDep],
    responses={422: {"description": "Unknown SKUs or mixed currencies"}},
    summary="Price a basket: lines, subtotal, discount and total (nothing is stored)",
)
async def create_quote(database: DatabaseDep, body: QuoteRequest) -> Quote:
    try:
        return await catalog.quote(database, body.items)
    except UnknownSkus as exc:
        raise Problem(
            422,
            "unknown-sku",
            "Unknown SKU",
            str(exc),
            errors=[error.model_dump(by_alias=True) for error in exc.errors],
        ) from exc
    except MixedCurrencies as exc:
        raise Problem(422, "mixed-currencies", "Mixed currencies", str(exc)) from exc
