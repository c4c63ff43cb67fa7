"""`shopctl`: database migrations, seed data and the local stack."""

import asyncio
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import create_async_engine

from shopctl import backends, migrations, stack
from shopctl.postgres import LocalPostgres

app = typer.Typer(help=__doc__, no_args_is_help=True)
db = typer.Typer(help="Database schema chores.", no_args_is_help=True)
app.add_typer(db, name="db")

DatabaseUrl = Annotated[str, typer.Option(envvar="DATABASE_URL", help="SQLAlchemy async URL")]


@db.command("upgrade")
def db_upgrade(
    database_url: DatabaseUrl,
    service: Annotated[
        list[str] | None, typer.Option(help="Only this service (repeatable); default: all")
    ] = None,
) -> None:
    """Apply each service's Alembic migrations to its own schema."""
    for name in service or migrations.SERVICES:
        if name not in migrations.SERVICES:
            raise typer.BadParameter(f"unknown service {name!r}", param_hint="--service")
        migrations.upgrade(name, database_url)
        typer.echo(f"{name}: schema up to date")


@app.command()
def seed(
    database_url: DatabaseUrl,
    products: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    stock: Annotated[int, typer.Option(min=0)] = 1_000,
) -> None:
    """Create the deterministic catalog SKU-00001.. with prices, promotions and stock."""
    asyncio.run(seed_all(database_url, products, stock))
    typer.echo(f"seeded {products} products with {stock} in stock each")


async def seed_all(database_url: str, products: int, stock: int) -> None:
    # Each service seeds its own tables through its own code, as if through its own API.
    from inventory.stock import seed_stock
    from pricing.catalog import seed_catalog
    from shopkit.db import create_sessionmaker

    engine = create_async_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            await seed_catalog(session, products)
            await seed_stock(session, products, stock)
    finally:
        await engine.dispose()


@app.command()
def run(
    products: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    pg_port: Annotated[int, typer.Option(envvar="PGPORT", help="Local PostgreSQL port")] = 54320,
) -> None:
    """Run PostgreSQL, the telemetry backends and the three services until Ctrl-C.

    Uses DATABASE_URL when set. Without the backends (make telemetry-tools, Debian's
    prometheus) the services still run, with telemetry off.
    """
    root = Path.cwd()
    run_dir = root / ".run"
    postgres = None
    telemetry: dict[str, backends.Backend] = {}
    database_url = os.environ.get("DATABASE_URL")
    if database_url is None:
        postgres = LocalPostgres(run_dir / "postgres", pg_port)
        typer.echo(f"starting PostgreSQL {postgres.bindir} on 127.0.0.1:{pg_port}")
        postgres.start()
        database_url = postgres.url
    admin_token = os.environ.get("ADMIN_TOKEN") or secrets.token_urlsafe(24)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        db_upgrade(database_url, None)
        seed(database_url, products, 1_000)
        telemetry_env = {"OTEL_SDK_DISABLED": "true"}
        absent = backends.missing(root)
        if absent:
            typer.echo(f"telemetry off; missing: {', '.join(absent)}", err=True)
        else:
            typer.echo("starting Jaeger, the Collector and Prometheus")
            telemetry = backends.start_all(root, run_dir / "prometheus", run_dir)
            telemetry_env = {"OTEL_EXPORTER_OTLP_ENDPOINT": backends.COLLECTOR_OTLP}
        for name, port in stack.PORTS.items():
            env = stack.service_env(name, database_url, stack.PORTS, admin_token, **telemetry_env)
            processes.append(stack.start_service(name, port, env, run_dir / f"{name}.log"))
        for (name, port), process in zip(stack.PORTS.items(), processes, strict=True):
            stack.wait_until_up(f"http://127.0.0.1:{port}", process)
            typer.echo(f"{name:<10} http://127.0.0.1:{port}  (API docs at /docs)")
        if telemetry:
            typer.echo(f"{'jaeger':<10} {backends.JAEGER_URL}  (query API; /api/traces)")
            typer.echo(f"{'prometheus':<10} {backends.PROMETHEUS_URL}")
        typer.echo(f"admin token: {admin_token}\nlogs in {run_dir}/. Ctrl-C stops everything.")
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
        typer.echo("a service exited; see its log", err=True)
        raise typer.Exit(1)
    except KeyboardInterrupt:
        pass
    finally:
        typer.echo("stopping...")
        for process in processes:
            stack.stop_service(process)
        backends.stop_all(telemetry)
        if postgres is not None:
            postgres.stop()


if __name__ == "__main__":
    app()
