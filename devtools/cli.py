"""`python -m devtools`: the whole stack on this machine, and what its traces say."""

import functools
import json
import signal
import time
from dataclasses import astuple
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console

from devtools import traces
from devtools.stack import hydra, processes, telemetry
from devtools.stack.postgres import LocalPostgres, PostgresMissing, find_bindir
from devtools.stack.processes import Supervised
from devtools.stack.services import PORTS, Services
from devtools.traces import htmlreport, jaeger, waterfall
from shopctl.cli import db_upgrade, seed

app = typer.Typer(help=__doc__, no_args_is_help=True)
traces_cli = typer.Typer(help="Read the services' traces back from Jaeger.", no_args_is_help=True)
app.add_typer(traces_cli, name="traces")


@app.command()
def run(
    products: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    pg_port: Annotated[int, typer.Option(envvar="PGPORT", help="Local PostgreSQL port")] = 54320,
    tail_sampling: Annotated[
        bool, typer.Option(help="Collector keeps errors, slow traces and a share of the rest")
    ] = False,
    database_url: Annotated[
        str | None,
        typer.Option(envvar="DATABASE_URL", help="An existing database, in place of a local one"),
    ] = None,
) -> None:
    """Run PostgreSQL, the telemetry backends and the three services until Ctrl-C.

    Starts the whole stack or nothing: anything missing or any port
    taken stops it before the first process starts, naming what to do (`make run` builds all).
    """
    root = Path.cwd()
    run_dir = root / ".run"
    problem = preflight(root, pg_port if database_url is None else None)
    if problem:
        typer.echo(f"run: not starting: {problem}", err=True)
        raise typer.Exit(1)
    postgres = None
    backends = telemetry.Telemetry(root, run_dir / "telemetry", tail_sampling=tail_sampling)
    provider = hydra.Hydra(root, run_dir / "hydra")
    if database_url is None:
        postgres = LocalPostgres(run_dir / "postgres", pg_port)
        typer.echo(f"starting PostgreSQL {postgres.bindir.parent.name} on 127.0.0.1:{pg_port}")
        postgres.start()
        database_url = postgres.url
    services = Services(database_url, provider, run_dir)
    supervised: list[Supervised] = []
    try:
        db_upgrade(database_url, None)
        seed(database_url, products, 1_000)
        typer.echo("starting Jaeger, the Collector and Prometheus")
        backends.start()
        typer.echo(f"starting ORY Hydra (OpenID Connect provider) on {provider.issuer}")
        provider.start()
        services.env = backends.service_env()
        for name in PORTS:
            start = functools.partial(services.launch, name)
            supervised.append(Supervised(name, start, log=_log_to_stderr))
        for name, port in PORTS.items():
            services.wait_healthy(name)
            typer.echo(f"{name:<10} http://127.0.0.1:{port}  (API docs at /docs)")
        typer.echo(
            f"{'jaeger':<10} {backends.jaeger_url}  (query API; python -m devtools traces show)"
        )
        typer.echo(f"{'prometheus':<10} {backends.prometheus_url}  (HTTP API; /api/v1/query)")
        typer.echo(f"{'hydra':<10} {provider.issuer}  (OpenID Connect issuer; admin API :4445)")
        typer.echo(
            "a customer's token:  TOKEN=$(.venv/bin/python -m devtools token alice)\n"
            "an admin's token:    ADMIN=$(.venv/bin/python -m devtools token --admin inventory)\n"
            '  then: curl -H "Authorization: Bearer $TOKEN" localhost:8000/orders'
        )
        typer.echo(f"logs in {run_dir}/. Ctrl-C stops everything.")
        # Ctrl-C, and a plain kill, both stop everything (even when started in the background,
        # where the shell would have us ignore SIGINT).
        for stop in (signal.SIGINT, signal.SIGTERM):
            signal.signal(stop, signal.default_int_handler)
        # A service that exits is restarted, as Kubernetes restarts a pod; what it was doing
        # is finished by the order service's recovery (docs/failure-model.md).
        while True:
            for service in supervised:
                service.poll()
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        typer.echo("stopping...")
        for service in supervised:
            service.stop()
        provider.stop()
        backends.stop()
        if postgres is not None:
            postgres.stop()


def _log_to_stderr(message: str) -> None:
    typer.echo(f"{time.strftime('%H:%M:%S')} {message}; see its log in .run/", err=True)


def preflight(root: Path, pg_port: int | None) -> str | None:
    """Why the whole stack cannot start, in one line; None when it can. pg_port: the local
    PostgreSQL's, None with DATABASE_URL."""
    if not (root / "versions.env").exists():
        return f"{root} is not the repository's root (run `make run` there)"
    problems = []
    absent = [f".tools/bin/{binary}" for binary in telemetry.missing(root)]
    if absent:
        problems.append(f"{', '.join(absent)} not built (make telemetry-tools)")
    if hydra.missing(root):
        problems.append(f".tools/bin/{hydra.BINARY} not built (make hydra)")
    if pg_port is not None:
        try:
            find_bindir(root)
        except PostgresMissing as exc:
            problems.append(str(exc))
    if problems:
        return "; ".join(problems)
    taken = telemetry.Ports().busy()
    taken += [f"hydra :{port}" for port in astuple(hydra.Ports()) if processes.port_taken(port)]
    taken += [f"{name} :{port}" for name, port in PORTS.items() if processes.port_taken(port)]
    if pg_port is not None and processes.port_taken(pg_port):
        taken.append(f"PostgreSQL :{pg_port} (PGPORT)")
    if taken:
        return f"ports taken: {', '.join(taken)} (is `make run` already up?)"
    return None


@app.command()
def token(
    customer: Annotated[str | None, typer.Argument(help="Whose token: the customer id")] = None,
    admin: Annotated[
        str | None, typer.Option(help="An admin token for this service instead")
    ] = None,
    issuer: Annotated[str, typer.Option(help="Hydra's public URL")] = (
        f"http://127.0.0.1:{hydra.Ports().public}"
    ),
    admin_api: Annotated[str, typer.Option(help="Hydra's admin API")] = (
        f"http://127.0.0.1:{hydra.Ports().admin}"
    ),
) -> None:
    """Print an access token from the running stack's ORY Hydra (`make run`).

    A customer's (for the order API, subject CUSTOMER) by the authorization code flow, whose
    login and consent this tool answers through Hydra's admin API; or, with --admin SERVICE,
    the admin client's (scope admin, for that service) by client credentials.
    """
    try:
        if admin is not None:
            clients = hydra.Clients.load(Path.cwd() / ".run" / "hydra" / "clients.json")
            typer.echo(hydra.admin_token(issuer, clients, admin))
        elif customer is not None:
            typer.echo(hydra.customer_token(issuer, admin_api, customer))
        else:
            raise typer.BadParameter("name a customer, or --admin SERVICE")
    except (hydra.TokenError, httpx.TransportError, FileNotFoundError) as exc:
        typer.echo(f"token: {exc} (is `make run` up?)", err=True)
        raise typer.Exit(1) from exc


JaegerUrl = Annotated[str, typer.Option(envvar="JAEGER_URL", help="Jaeger query URL")]
Service = Annotated[str, typer.Option(help="Whose traces to fetch")]
Since = Annotated[str, typer.Option(help="How far back: 30s, 15m, 2h, 1d")]
Limit = Annotated[int, typer.Option(min=1, help="Traces to fetch")]
MinRepeats = Annotated[
    int, typer.Option(min=2, help="Same query under one span this often is an N+1")
]


def fetch_window(jaeger_url: str, service: str, since: str, limit: int) -> list[traces.Trace]:
    """The service's traces of the last `since`; exits 1 with one line when there are none."""
    try:
        window = traces.parse_since(since)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from exc
    try:
        raw = jaeger.fetch_traces(jaeger_url, service, window, limit)
    except jaeger.JaegerError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if not raw:
        typer.echo(
            f"error: Jaeger at {jaeger_url} has no traces of {service} in the last {since}",
            err=True,
        )
        raise typer.Exit(1)
    return [traces.parse_trace(t) for t in raw]


def failed_traces(found: list[traces.Trace]) -> list[traces.Trace]:
    """The traces with a failed span, most recent first."""
    failing = [t for t in found if any(s.failed for s in t.spans)]
    return sorted(failing, key=lambda t: -t.root.start_us)


@traces_cli.command("analyze")
def traces_analyze(
    jaeger_url: JaegerUrl = telemetry.JAEGER_URL,
    service: Service = "order-service",
    since: Since = "15m",
    limit: Limit = 200,
    top: Annotated[int, typer.Option(min=0, help="Slowest traces to show")] = 5,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON document on stdout, for CI")
    ] = False,
    min_repeats: MinRepeats = 5,
) -> None:
    """Find what makes requests slow or fail in the traces Jaeger holds.

    Shows the slowest traces with their critical path, N+1 queries, calls to different
    services made one after the other, and the spans where failures start. Exits 0 whatever
    it finds; 1 when Jaeger cannot be read or holds no traces of the service.
    """
    found = fetch_window(jaeger_url, service, since, limit)
    report = traces.analyze(found, top=top, min_repeats=min_repeats)
    if as_json:
        query: dict[str, str | int] = {
            "jaeger_url": jaeger_url,
            "service": service,
            "since": since,
            "limit": limit,
            "top": top,
            "min_repeats": min_repeats,
        }
        typer.echo(json.dumps(traces.report_json(report, query), indent=2))
    else:
        traces.render(report, Console(), min_repeats=min_repeats)


@traces_cli.command("show")
def traces_show(
    trace_id: Annotated[str | None, typer.Argument(help="The trace to draw")] = None,
    slowest: Annotated[bool, typer.Option("--slowest", help="The slowest recent trace")] = False,
    failed: Annotated[bool, typer.Option("--failed", help="The latest failed trace")] = False,
    jaeger_url: JaegerUrl = telemetry.JAEGER_URL,
    service: Service = "order-service",
    since: Since = "15m",
    limit: Limit = 200,
) -> None:
    """Draw one trace as a waterfall: spans as bars on a time axis, indented under their
    parent, coloured by service, the critical path marked `*`, failures `✗`, SQL shown.

    Give a trace id, or --slowest / --failed to pick one from the service's recent traces.
    """
    if sum((trace_id is not None, slowest, failed)) != 1:
        raise typer.BadParameter("give a trace id, --slowest or --failed (one of them)")
    if trace_id is not None:
        try:
            trace = traces.parse_trace(jaeger.fetch_trace(jaeger_url, trace_id))
        except jaeger.JaegerError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
    else:
        found = fetch_window(jaeger_url, service, since, limit)
        if slowest:
            trace = max(found, key=lambda t: (t.root.duration_us, t.trace_id))
        else:
            failing = failed_traces(found)
            if not failing:
                typer.echo(f"error: none of {len(found)} traces of {service} failed", err=True)
                raise typer.Exit(1)
            trace = failing[0]
    waterfall.render(trace, Console())


@traces_cli.command("report")
def traces_report(
    html: Annotated[Path, typer.Option(help="Write the page here", dir_okay=False)],
    jaeger_url: JaegerUrl = telemetry.JAEGER_URL,
    service: Service = "order-service",
    since: Since = "15m",
    limit: Limit = 200,
    top: Annotated[int, typer.Option(min=0, help="Slowest (and failed) traces to draw")] = 3,
    min_repeats: MinRepeats = 5,
) -> None:
    """One self-contained HTML page: the findings of `traces analyze`, and the waterfalls of
    the slowest and of the latest failed traces (for a CI artifact, or a browser)."""
    found = fetch_window(jaeger_url, service, since, limit)
    report = traces.analyze(found, top=top, min_repeats=min_repeats)
    by_id = {t.trace_id: t for t in found}
    query: dict[str, str | int] = {
        "jaeger_url": jaeger_url,
        "service": service,
        "since": since,
        "limit": limit,
    }
    slow = [by_id[t.trace_id] for t in report.slowest]
    page = htmlreport.page(report, slow, failed_traces(found)[:top], query, min_repeats=min_repeats)
    html.write_text(page, encoding="utf-8")
    typer.echo(f"wrote {html} ({report.traces} traces, {report.failed_traces} failed)")
