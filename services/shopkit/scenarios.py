"""Switchable faults that reproduce classic bottlenecks, all off by default.

Set at start-up from the SCENARIOS environment variable (JSON: {"slow-dependency":
{"enabled": true, "latency_ms": 100}}) and at run time through the admin routes
GET /admin/scenarios and PUT /admin/scenarios/{name}. Each service declares which
scenarios it supports; the service's own code decides what a scenario does.
"""

import asyncio
import random
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import Field
from starlette.types import ASGIApp, Receive, Scope, Send

from shopkit.auth import AdminDep
from shopkit.problems import Problem, problem_response
from shopkit.types import StrictModel

N_PLUS_ONE = "n-plus-one"
SLOW_DEPENDENCY = "slow-dependency"
SEQUENTIAL_FANOUT = "sequential-fanout"
ERRORS = "errors"
LOCK_CONTENTION = "lock-contention"


class Scenario(StrictModel):
    enabled: bool = False
    latency_ms: Annotated[
        int, Field(ge=0, le=60_000, description="Added latency, or lock hold")
    ] = 0
    fraction: Annotated[float, Field(ge=0, le=1, description="Share of requests affected")] = 1.0

    def hits(self) -> bool:
        """Whether this request is affected (enabled, and drawn within `fraction`)."""
        return self.enabled and random.random() < self.fraction


OFF = Scenario()


class Scenarios:
    """The scenarios one service supports, each off until switched on."""

    def __init__(self, supported: tuple[str, ...], initial: dict[str, Scenario]) -> None:
        unknown = set(initial) - set(supported)
        if unknown:
            raise ValueError(f"SCENARIOS names unsupported scenarios: {sorted(unknown)}")
        self.current = {name: initial.get(name, Scenario()) for name in supported}

    def get(self, name: str) -> Scenario:
        # Not `.get(name, Scenario())`: that validates a new model on every call, and the
        # middleware asks on every request.
        scenario = self.current.get(name)
        return scenario if scenario is not None else OFF


async def get_scenarios(request: Request) -> Scenarios:
    """`async def`, or FastAPI would run it in its thread pool: a thread hop per request."""
    scenarios: Scenarios = request.app.state.scenarios
    return scenarios


ScenariosDep = Annotated[Scenarios, Depends(get_scenarios)]

router = APIRouter(prefix="/admin/scenarios", tags=["scenarios"], dependencies=[AdminDep])


@router.get("", summary="The fault scenarios this service supports, and their state (admin)")
async def list_scenarios(scenarios: ScenariosDep) -> dict[str, Scenario]:
    return scenarios.current


@router.put(
    "/{name}",
    summary="Switch a fault scenario on or off (admin)",
    responses={404: {"description": "This service does not support that scenario"}},
)
async def put_scenario(
    scenarios: ScenariosDep, name: Annotated[str, Path(max_length=40)], body: Scenario
) -> Scenario:
    if name not in scenarios.current:
        raise Problem(
            404,
            "unknown-scenario",
            "Unknown scenario",
            f"this service supports {sorted(scenarios.current)}",
        )
    scenarios.current[name] = body
    return body


class InjectedFaults:
    """`slow-dependency` and `errors` for every business route of a service: a delay, or a
    500, on a share of requests. Inside the server span, so traces show where time went."""

    def __init__(self, app: ASGIApp, scenarios: Scenarios) -> None:
        self.app = app
        self.scenarios = scenarios

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or path in ("/healthz", "/readyz")
            or path.startswith(("/admin/", "/docs", "/openapi"))
        ):
            await self.app(scope, receive, send)
            return
        slow = self.scenarios.get(SLOW_DEPENDENCY)
        if slow.hits():
            await asyncio.sleep(slow.latency_ms / 1000)
        if self.scenarios.get(ERRORS).hits():
            problem = Problem(
                500, "injected-failure", "Injected failure", "scenario `errors` is on"
            )
            await problem_response(problem, path)(scope, receive, send)
            return
        await self.app(scope, receive, send)
