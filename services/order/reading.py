"""Reading one order: as stored, with live stock and prices from inventory and pricing."""

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, Select, bindparam, select

from order.clients import InventoryClient, PricingClient
from order.fanout import FanOut, concurrently
from order.models import Order, OrderLine
from order.schemas import LiveLine, OrderDetail
from shopkit.db import Database


async def get_order_detail(
    database: Database,
    inventory: InventoryClient,
    pricing: PricingClient,
    order_id: uuid.UUID,
    fan_out: FanOut = concurrently,
    *,
    customer_id: str | None,
) -> OrderDetail | None:
    """The order with live stock and prices, fetched from both services as `fan_out` says;
    None when there is no such order, or (`customer_id` given) it is another customer's."""
    rows = await _read_order(database, order_id, customer_id)
    if not rows:
        return None
    skus = [row.sku for row in rows]
    available, unit_prices = await fan_out(inventory.stock_levels(skus), pricing.unit_prices(skus))
    for outcome in (available, unit_prices):
        if isinstance(outcome, BaseException):
            raise outcome
    assert isinstance(available, dict) and isinstance(unit_prices, dict)
    return order_detail(rows, available, unit_prices)


def order_detail(
    rows: Sequence[Row[Any]], available: dict[str, int], unit_prices: dict[str, Decimal]
) -> OrderDetail:
    """The response: the order as stored (rows of ORDER_WITH_LINES) with live stock and prices."""
    order = rows[0]
    return OrderDetail(
        id=order.id,
        status=order.status,
        customer_id=order.customer_id,
        subtotal=order.subtotal,
        discount=order.discount,
        total=order.total,
        currency=order.currency,
        created_at=order.created_at,
        lines=[
            LiveLine(
                sku=row.sku,
                quantity=row.quantity,
                unit_price=row.unit_price,
                discount=row.line_discount,
                line_total=row.line_total,
                available_now=available.get(row.sku),
                unit_price_now=unit_prices.get(row.sku),
            )
            for row in rows
        ],
    )


def _order_with_lines(of_one_customer: bool) -> Select[Any]:
    order, line = Order.__table__.c, OrderLine.__table__.c
    query = (
        select(
            order.id,
            order.status,
            order.customer_id,
            order.subtotal,
            order.discount,
            order.total,
            order.currency,
            order.created_at,
            line.sku,
            line.quantity,
            line.unit_price,
            line.discount.label("line_discount"),
            line.line_total,
        )
        .join_from(Order.__table__, OrderLine.__table__, line.order_id == order.id)
        .where(order.id == bindparam("order_id"))
        .order_by(line.position)
    )
    if of_one_customer:
        query = query.where(order.customer_id == bindparam("customer_id"))
    return query


# Built once: the statements are the same for every order.
ORDER_WITH_LINES = _order_with_lines(of_one_customer=False)
CUSTOMER_ORDER_WITH_LINES = _order_with_lines(of_one_customer=True)


async def _read_order(
    database: Database, order_id: uuid.UUID, customer_id: str | None
) -> list[Row[Any]]:
    """An order and its lines in one statement, one row per line (every order has one).

    Core, not the ORM: the rows go straight into the response model, so loading entities
    into the session (identity map, a second query for the lines) would be pure cost.
    """
    async with database.statement() as connection:
        if customer_id is None:
            return list(await connection.execute(ORDER_WITH_LINES, {"order_id": order_id}))
        parameters = {"order_id": order_id, "customer_id": customer_id}
        return list(await connection.execute(CUSTOMER_ORDER_WITH_LINES, parameters))
