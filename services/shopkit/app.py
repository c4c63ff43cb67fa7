"""The app factory every service calls: lifespan resources, errors, limits, admission control
and health routes."""

import asyncio
import gc
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from shopkit import health
from shopkit.access_log import strip_query_strings
from shopkit.admission import Admission, AdmissionControl, AdmissionGate
from shopkit.db import Database, create_engine
from shopkit.http import RetryBudget, create_http_client
from shopkit.identity import TokenVerifier
from shopkit.limits import BodySizeLimit
from shopkit.problems import install_problem_handlers
from shopkit.scenarios import ERRORS, SLOW_DEPENDENCY, Scenarios, admin_router, injected_faults
from shopkit.settings import ClientSettings, ServiceSettings
from shopkit.telemetry import FASTAPI_TELEMETRY_OFF, Telemetry, configure_logging, setup_telemetry

# Written once, in pyproject.toml; the chart's appVersion follows it (tests/unit).
VERSION = version("tracing-shop")


class ServiceApp(FastAPI):
    """FastAPI, with the service's server telemetry around it and admission's gate in front of
    both: what the service cannot take is refused before any of it
    (shopkit.admission.AdmissionGate)."""

    def __init__(
        self,
        *,
        admission: Admission | None,
        telemetry: Telemetry,
        trusted_callers: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(telemetry=FASTAPI_TELEMETRY_OFF, **kwargs)
        self.admission = admission
        # FastAPI's own entry inside the server telemetry (server spans and HTTP metrics; where
        # traces begin, as `trusted_callers` says), behind the gate when admission is on.
        self._entry: ASGIApp = telemetry.instrument_server(
            super().__call__, trusted=trusted_callers
        )
        if admission is not None:
            self._entry = AdmissionGate(self._entry, admission, health.PATHS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._entry(scope, receive, send)


def create_service_app(
    *,
    name: str,
    description: str,
    settings: ServiceSettings,
    routers: Sequence[APIRouter],
    background: Sequence[Callable[[FastAPI], Coroutine[Any, Any, None]]] = (),
) -> FastAPI:
    """Build a service's FastAPI app.

    Resources that hold sockets (database pool, HTTP client) are created in the lifespan,
    inside the worker process that serves requests, and closed when it shuts down.
    `background` loops run as tasks alongside the requests and are cancelled before the
    resources they use are closed. The fault scenarios the service supports (and their admin
    routes) follow from its name (shopkit/scenarios.py).
    """
    configure_logging(settings.log_level)
    strip_query_strings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings, application_name=name)
        telemetry.instrument_engine(engine)
        app.state.database = Database(engine)
        http = None
        if isinstance(settings, ClientSettings):
            http = create_http_client(settings)
            telemetry.instrument_client(http)
            # One per process, shared by every client: the retries of all its calls count.
            app.state.retries = RetryBudget(
                settings.http_retry_ratio, settings.http_retries_per_second
            )
        app.state.http = http
        app.state.token_verifier = TokenVerifier(
            settings.oidc_issuer,
            settings.oidc_audience,
            settings.oidc_jwks_url,
            settings.oidc_leeway_seconds,
        )
        # Everything built so far (modules, the app, its models and resources) lives as long
        # as the process: out of the collector's sight, a full collection has little left to
        # walk. It walked about 130,000 objects in 40-55 ms, the event loop stalled meanwhile:
        # under load at 2-4x capacity, freezing halved the p99 of the refusals and the probes
        # (docs/overload.md, "What a refusal costs"). A young generation of 10,000 objects
        # rather than 700 is collected less often (most of a request's garbage is freed by
        # reference counting anyway). CPU per GET /orders/{id}, the three services, side by
        # side (bench.tune, docs/benchmarks.md, issue 20's second pass): no SDK 3.66 ms ->
        # 3.29 (freeze) -> 3.27 (and the threshold); SDK sampling nothing 4.45 -> 4.15 -> 4.02.
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, 10, 10)
        tasks = [asyncio.create_task(loop(app), name=loop.__name__) for loop in background]
        try:
            yield
        finally:
            gc.unfreeze()  # what the app held can go once it stops (tests build several)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if http is not None:
                await http.aclose()
            await app.state.token_verifier.aclose()
            await engine.dispose()
            telemetry.shutdown()

    telemetry = setup_telemetry(name, VERSION)
    app = ServiceApp(
        admission=admission(settings),
        title=f"{name} service",
        description=description,
        version=VERSION,
        lifespan=lifespan,
        telemetry=telemetry,
        trusted_callers=settings.trust_incoming_trace_context,
    )
    app.state.settings = settings
    scenarios = Scenarios(name, settings.scenarios)
    app.state.scenarios = scenarios
    install_problem_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Added last, so it runs first: a request it refuses costs no more than its refusal.
    app.add_middleware(
        AdmissionControl,
        admission=app.admission,
        request_timeout_seconds=settings.request_timeout_seconds,
        exempt=health.PATHS,
    )
    app.include_router(health.router)
    if scenarios.supported:
        app.include_router(admin_router(tuple(scenarios.supported.values())))
    faults = scenarios.includes(SLOW_DEPENDENCY, ERRORS)
    business = [Depends(injected_faults(scenarios))] if faults else []
    for router in routers:
        app.include_router(router, dependencies=business)
    return app


def admission(settings: ServiceSettings) -> Admission | None:
    if not settings.admission_enabled:
        return None
    return Admission(
        max_in_flight=settings.admission_max_in_flight,
        max_queued=settings.admission_max_queued,
        queue_timeout_seconds=settings.admission_queue_timeout_seconds,
    )
