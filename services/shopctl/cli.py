"""`shopctl`: the services' database chores, run from the service image (the chart's Job)."""

import asyncio
from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import create_async_engine

from shopctl import migrations, settings

app = typer.Typer(help=__doc__, no_args_is_help=True)
db = typer.Typer(help="Database schema chores.", no_args_is_help=True)
app.add_typer(db, name="db")

DatabaseUrl = Annotated[
    str | None, typer.Option(help="SQLAlchemy async URL [default: DATABASE_URL]")
]


def database_url_of(given: str | None) -> str:
    """--database-url, else DATABASE_URL (shopctl's settings); a usage error without either."""
    try:
        return settings.load(given).database_url
    except ValidationError:
        raise typer.BadParameter(
            "give --database-url or set DATABASE_URL", param_hint="--database-url"
        ) from None


@db.command("upgrade")
def db_upgrade(
    database_url: DatabaseUrl = None,
    service: Annotated[
        list[str] | None, typer.Option(help="Only this service (repeatable); default: all")
    ] = None,
) -> None:
    """Apply each service's Alembic migrations to its own schema."""
    url = database_url_of(database_url)
    for name in service or migrations.SERVICES:
        if name not in migrations.SERVICES:
            raise typer.BadParameter(f"unknown service {name!r}", param_hint="--service")
        migrations.upgrade(name, url)
        typer.echo(f"{name}: schema up to date")


@app.command()
def seed(
    database_url: DatabaseUrl = None,
    products: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    stock: Annotated[int, typer.Option(min=0)] = 1_000,
) -> None:
    """Create the deterministic catalog SKU-00001.. with prices, promotions and stock.

    Only into empty tables: existing prices and stock are never overwritten, so running it
    again (every `make run`, every chart upgrade) is safe.
    """
    url = database_url_of(database_url)
    catalog_seeded, stock_seeded = asyncio.run(seed_all(url, products, stock))
    typer.echo(
        f"pricing: seeded {products} products"
        if catalog_seeded
        else "pricing: catalog not empty, left as it is"
    )
    typer.echo(
        f"inventory: seeded {stock} in stock for each of {products} products"
        if stock_seeded
        else "inventory: stock not empty, left as it is"
    )


async def seed_all(database_url: str, products: int, stock: int) -> tuple[bool, bool]:
    """Seed the catalog, then the stock, each only if empty; returns which of them it seeded."""
    # Each service seeds its own tables through its own code, as if through its own API.
    from inventory.stock import seed_stock
    from pricing.catalog import seed_catalog
    from shopkit.db import create_sessionmaker

    engine = create_async_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            return (
                await seed_catalog(session, products),
                await seed_stock(session, products, stock),
            )
    finally:
        await engine.dispose()


if __name__ == "__main__":
    app()
