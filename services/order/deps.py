"""What the order routes and recovery are built from: settings, clients, the scenarios' choice
of behaviour, and the use case that holds them.

Dependencies are `async def` although they never await: FastAPI runs a plain `def`
dependency in its thread pool, a thread hop on every request for an attribute lookup.
"""

import re
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from order.clients import InventoryClient, PricingClient
from order.fanout import FanOut, concurrently, one_after_another
from order.listing import BATCHED_LINES, LINES_PER_ORDER, LineLoading
from order.placement import OrderPlacement
from order.schemas import CUSTOMER_ID_PATTERN
from order.settings import OrderSettings
from shopkit.identity import CallerDep, forbidden
from shopkit.scenarios import N_PLUS_ONE, SEQUENTIAL_FANOUT, ScenariosDep

_CUSTOMER_ID = re.compile(CUSTOMER_ID_PATTERN)


def inventory_client(app: FastAPI) -> InventoryClient:
    settings: OrderSettings = app.state.settings
    url, http, credentials = settings.inventory_url, app.state.http, app.state.credentials
    return InventoryClient("inventory", url, http, settings, app.state.retries, credentials)


def pricing_client(app: FastAPI) -> PricingClient:
    settings: OrderSettings = app.state.settings
    url, http, credentials = settings.pricing_url, app.state.http, app.state.credentials
    return PricingClient("pricing", url, http, settings, app.state.retries, credentials)


def order_placement(app: FastAPI, fan_out: FanOut = concurrently) -> OrderPlacement:
    """Placing orders with this app's database, clients and claim lease."""
    settings: OrderSettings = app.state.settings
    return OrderPlacement(
        database=app.state.database,
        inventory=inventory_client(app),
        pricing=pricing_client(app),
        claim_ttl_seconds=settings.idempotency_claim_ttl_seconds,
        pseudonym_key=settings.customer_pseudonym_key.get_secret_value().encode(),
        fan_out=fan_out,
    )


async def get_inventory(request: Request) -> InventoryClient:
    return inventory_client(request.app)


async def get_pricing(request: Request) -> PricingClient:
    return pricing_client(request.app)


async def get_fan_out(scenarios: ScenariosDep) -> FanOut:
    return one_after_another if scenarios.get(SEQUENTIAL_FANOUT).hits() else concurrently


async def get_line_loading(scenarios: ScenariosDep) -> LineLoading:
    return LINES_PER_ORDER if scenarios.get(N_PLUS_ONE).hits() else BATCHED_LINES


InventoryDep = Annotated[InventoryClient, Depends(get_inventory)]
PricingDep = Annotated[PricingClient, Depends(get_pricing)]
FanOutDep = Annotated[FanOut, Depends(get_fan_out)]
LineLoadingDep = Annotated[LineLoading, Depends(get_line_loading)]


async def get_placement(request: Request, fan_out: FanOutDep) -> OrderPlacement:
    return order_placement(request.app, fan_out)


PlacementDep = Annotated[OrderPlacement, Depends(get_placement)]


async def get_customer(request: Request, caller: CallerDep) -> str:
    """The customer a request acts for: the access token's subject, with the customer scope."""
    scope = request.app.state.settings.oidc_customer_scope
    if scope not in caller.scopes:
        raise forbidden(f"this route needs the {scope} scope", scope)
    if not _CUSTOMER_ID.fullmatch(caller.subject):
        raise forbidden("the token's subject is not a customer id this shop can store")
    return caller.subject


async def get_reader(request: Request, caller: CallerDep) -> str | None:
    """Whose orders a request may read: the customer's own, or everyone's (None) for a caller
    with the admin scope."""
    if request.app.state.settings.oidc_admin_scope in caller.scopes:
        return None
    return await get_customer(request, caller)


CustomerDep = Annotated[str, Depends(get_customer)]
ReaderDep = Annotated[str | None, Depends(get_reader)]
