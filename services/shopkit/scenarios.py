"""Switchable faults that reproduce classic bottlenecks, all off by default.

Each scenario is declared once, in SCENARIOS below: its name, the services that support it,
its parameters (with their defaults and bounds) and what it does. The services, the admin
routes, the chart's values schema and the README's table follow from that declaration
(tests/unit/test_scenario_registry.py checks the chart and the README against it).

A service's scenarios are set at start-up from the SCENARIOS environment variable (JSON:
{"slow-dependency": {"enabled": true, "latency_ms": 100}}) and at run time through
GET /admin/scenarios and PUT /admin/scenarios/{name}. The API layer of each service turns
a scenario that hits into behaviour (a delay, a fan-out, a lock-hold hook); the domain
functions never see the scenario itself.
"""

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar, cast

from fastapi import APIRouter, Depends, Path, Request
from pydantic import Field, create_model

from shopkit.identity import AdminDep
from shopkit.problems import Problem
from shopkit.types import StrictModel


class Switch(StrictModel):
    """A scenario's state: whether it is on, and on what share of requests."""

    enabled: bool = False
    fraction: Annotated[float, Field(ge=0, le=1, description="Share of requests affected")] = 1.0

    def hits(self) -> bool:
        """Whether this request is affected (enabled, and drawn within `fraction`)."""
        return self.enabled and random.random() < self.fraction


class Delay(Switch):
    latency_ms: Annotated[
        int, Field(ge=0, le=60_000, description="Added to each affected request, in ms")
    ] = 0


class LockHold(Switch):
    latency_ms: Annotated[
        int, Field(ge=0, le=60_000, description="How long the stock rows stay locked, in ms")
    ] = 0


P = TypeVar("P", bound=Switch)


@dataclass(frozen=True)
class Scenario(Generic[P]):
    """One fault: its name, the services that support it, its parameters and what it does."""

    name: str
    services: tuple[str, ...]
    parameters: type[P]
    description: str
    # The state while nothing switched it on; shared, so asking costs no model validation.
    off: P = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "off", self.parameters())


N_PLUS_ONE = Scenario(
    "n-plus-one",
    ("order",),
    Switch,
    "the order listing loads each order's lines with its own query",
)
SLOW_DEPENDENCY = Scenario(
    "slow-dependency",
    ("inventory", "pricing"),
    Delay,
    "adds `latency_ms` to `fraction` of the requests",
)
SEQUENTIAL_FANOUT = Scenario(
    "sequential-fanout",
    ("order",),
    Switch,
    "calls pricing, then inventory, instead of both at once",
)
ERRORS = Scenario(
    "errors",
    ("inventory", "pricing"),
    Switch,
    "fails `fraction` of the requests with a 500",
)
LOCK_CONTENTION = Scenario(
    "lock-contention",
    ("inventory",),
    LockHold,
    "holds the stock rows' lock `latency_ms` longer",
)

SCENARIOS: tuple[Scenario[Any], ...] = (
    N_PLUS_ONE,
    SLOW_DEPENDENCY,
    SEQUENTIAL_FANOUT,
    ERRORS,
    LOCK_CONTENTION,
)
BY_NAME: Mapping[str, Scenario[Any]] = {scenario.name: scenario for scenario in SCENARIOS}


def supported_by(service: str) -> tuple[Scenario[Any], ...]:
    return tuple(scenario for scenario in SCENARIOS if service in scenario.services)


def parse_states(raw: Any) -> Any:
    """SCENARIOS as configured ({name: parameters}): each validated by its scenario's model."""
    if not isinstance(raw, Mapping):
        return raw  # not a mapping: the settings' own validation says so
    unknown = sorted(set(raw) - set(BY_NAME))
    if unknown:
        raise ValueError(f"unknown scenarios {unknown}; known: {sorted(BY_NAME)}")
    return {
        name: value
        if isinstance(value, BY_NAME[name].parameters)
        else BY_NAME[name].parameters.model_validate(value)
        for name, value in raw.items()
    }


class Scenarios:
    """The scenarios one service supports, each off until switched on."""

    def __init__(self, service: str, initial: Mapping[str, Switch]) -> None:
        self.supported = {scenario.name: scenario for scenario in supported_by(service)}
        unsupported = sorted(set(initial) - set(self.supported))
        if unsupported:
            raise ValueError(f"SCENARIOS names scenarios {service} does not support: {unsupported}")
        self.current: dict[str, Switch] = {
            name: initial.get(name, scenario.off) for name, scenario in self.supported.items()
        }

    def get(self, scenario: Scenario[P]) -> P:
        """The scenario's state; asked on every request, so a dict lookup and nothing more.
        Its type is the scenario's parameters: only they are ever stored under its name."""
        return cast(P, self.current.get(scenario.name, scenario.off))

    def includes(self, *scenarios: Scenario[Any]) -> bool:
        return any(scenario.name in self.supported for scenario in scenarios)


async def get_scenarios(request: Request) -> Scenarios:
    """`async def`, or FastAPI would run it in its thread pool: a thread hop per request."""
    scenarios: Scenarios = request.app.state.scenarios
    return scenarios


ScenariosDep = Annotated[Scenarios, Depends(get_scenarios)]


def admin_router(supported: Sequence[Scenario[Any]]) -> APIRouter:
    """GET /admin/scenarios, and a PUT per supported scenario whose body is its parameters."""
    router = APIRouter(prefix="/admin/scenarios", tags=["scenarios"], dependencies=[AdminDep])
    # The GET's body, one member per supported scenario, so the OpenAPI shows each one's state.
    members: dict[str, Any] = {
        s.name.replace("-", "_"): (s.parameters, Field(alias=s.name)) for s in supported
    }
    states = create_model("ScenarioStates", **members)

    @router.get(
        "",
        response_model=states,
        summary="The fault scenarios this service supports, and their state (admin)",
    )
    async def list_scenarios(scenarios: ScenariosDep) -> dict[str, Switch]:
        return scenarios.current

    for scenario in supported:
        router.add_api_route(
            f"/{scenario.name}",
            _switch(scenario),
            methods=["PUT"],
            response_model=scenario.parameters,
            summary=f"Switch {scenario.name} on or off (admin): {scenario.description}",
            name=f"put_{scenario.name.replace('-', '_')}",
        )

    @router.put(
        "/{name}",
        summary="Any other name: this service does not support it (admin)",
        responses={404: {"description": "This service does not support that scenario"}},
    )
    async def put_unknown(
        scenarios: ScenariosDep, name: Annotated[str, Path(max_length=40)]
    ) -> None:
        raise Problem(
            404,
            "unknown-scenario",
            "Unknown scenario",
            f"this service supports {sorted(scenarios.current)}",
        )

    return router


def _switch(scenario: Scenario[P]) -> Callable[..., Awaitable[P]]:
    """The PUT handler of one scenario: FastAPI reads the annotations, so the body is
    validated with, and documented as, the scenario's own parameters."""
    parameters = scenario.parameters

    # A type held in a variable, which mypy does not take as an annotation; FastAPI does.
    async def put(scenarios: ScenariosDep, body: parameters) -> P:  # type: ignore[valid-type]
        scenarios.current[scenario.name] = body
        return body

    return put


def injected_faults(scenarios: Scenarios) -> Callable[[], Awaitable[None]]:
    """`slow-dependency` and `errors` for every business route of a service: a delay, or a
    500, on a share of requests. A dependency of the business routers, so it runs once the
    request is routed: inside the server span, which then names the route that failed."""

    async def inject() -> None:
        slow = scenarios.get(SLOW_DEPENDENCY)
        if slow.hits():
            await asyncio.sleep(slow.latency_ms / 1000)
        if scenarios.get(ERRORS).hits():
            raise Problem(500, "injected-failure", "Injected failure", "scenario `errors` is on")

    return inject
