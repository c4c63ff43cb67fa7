"""Products, prices and promotions in the database; quotes built from them."""

from collections.abc import Sequence
from decimal import Decimal

from opentelemetry import trace
from sqlalchemy import String, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from pricing.contract import MixedCurrencies, Price, PriceUpdate, Quote, UnknownSkus
from pricing.models import Product, Promotion
from pricing.quotes import build_quote, price_line
from shopkit.db import Database
from shopkit.types import LineItem

SEED_CURRENCY = "EUR"

tracer = trace.get_tracer(__name__)


# Columns, not entities: the reads only read them, so the ORM's identity map and instance
# bookkeeping would be pure cost. The SKUs travel as one array (`= ANY`), not as `IN (...)`:
# an IN list is rendered into the SQL anew for every call. Both statements are built once.
_product, _promotion = Product.__table__.c, Promotion.__table__.c
_SKUS = bindparam("skus", type_=ARRAY(String))
PRICES = (
    select(_product.sku, _product.name, _product.unit_price, _product.currency)
    .where(_product.sku == any_(_SKUS))
    .order_by(_product.sku)
)
# Products joined with their promotions: a basket priced in one query.
QUOTE_ROWS = (
    select(
        _product.sku,
        _product.unit_price,
        _product.currency,
        _promotion.percent_off,
        _promotion.min_quantity,
    )
    .outerjoin_from(Product.__table__, Promotion.__table__, _promotion.sku == _product.sku)
    .where(_product.sku == any_(_SKUS))
)


async def get_prices(database: Database, skus: Sequence[str]) -> list[Price]:
    async with database.statement() as connection:
        rows = await connection.execute(PRICES, {"skus": list(skus)})
        return [
            Price(sku=sku, name=name, unit_price=unit_price, currency=currency)
            for sku, name, unit_price, currency in rows
        ]


async def set_price(session: AsyncSession, sku: str, update: PriceUpdate) -> Price:
    values = {"name": update.name, "unit_price": update.unit_price, "currency": update.currency}
    async with session.begin():
        await session.execute(
            insert(Product)
            .values(sku=sku, **values)
            .on_conflict_do_update(
                index_elements=[Product.sku], set_={**values, "updated_at": func.now()}
            )
        )
    return Price(sku=sku, **values)


async def quote(database: Database, items: Sequence[LineItem]) -> Quote:
    """Price a basket in one query (products joined with their promotions)."""
    with tracer.start_as_current_span(
        "calculate-quote", attributes={"order.item_count": len(items)}
    ) as span:
        result = await _quote(database, items)
        span.set_attributes({"order.total": str(result.total), "order.currency": result.currency})
        return result


async def _quote(database: Database, items: Sequence[LineItem]) -> Quote:
    async with database.statement() as connection:
        rows = await connection.execute(QUOTE_ROWS, {"skus": [i.sku for i in items]})
        found = {row.sku: row for row in rows}
    unknown = [(n, i.sku) for n, i in enumerate(items) if i.sku not in found]
    if unknown:
        raise UnknownSkus.at(unknown)
    currencies = {row.currency for row in found.values()}
    if len(currencies) > 1:
        raise MixedCurrencies(f"items are priced in several currencies: {sorted(currencies)}")

    lines = []
    for item in items:
        row = found[item.sku]
        promoted = row.percent_off is not None
        lines.append(
            price_line(
                item.sku,
                item.quantity,
                row.unit_price,
                row.percent_off if promoted else None,
                row.min_quantity if promoted else 1,
            )
        )
    return build_quote(lines, currencies.pop())


def seed_price(n: int) -> Decimal:
    """A deterministic spread of prices from 5.00 to 99.99."""
    return Decimal(500 + (n * 7919) % 9500) / 100


async def seed_catalog(session: AsyncSession, products: int) -> bool:
    """SKU-00001 .. SKU-<products>, every tenth SKU 10% off from three pieces up, if the
    catalogue is empty.

    Seeding runs on every start of the local stack and every chart upgrade, so a catalogue that
    exists (seeded or priced since) is the shop's data and is left alone. Returns whether it seeded.
    """
    numbers = range(1, products + 1)
    async with session.begin():
        if await session.scalar(select(Product.sku).limit(1)) is not None:
            return False
        # Two seeds racing on an empty catalogue insert the same rows: the later ones are skipped.
        await session.execute(
            insert(Product).on_conflict_do_nothing(index_elements=[Product.sku]),
            [
                {
                    "sku": f"SKU-{n:05d}",
                    "name": f"Product {n:05d}",
                    "unit_price": seed_price(n),
                    "currency": SEED_CURRENCY,
                }
                for n in numbers
            ],
        )
        promoted = [n for n in numbers if n % 10 == 0]
        if promoted:
            await session.execute(
                insert(Promotion).on_conflict_do_nothing(index_elements=[Promotion.sku]),
                [
                    {"sku": f"SKU-{n:05d}", "percent_off": Decimal(10), "min_quantity": 3}
                    for n in promoted
                ],
            )
    return True
