"""The scenario registry (shopkit/scenarios.py) is the one declaration of the fault scenarios:
the chart's values and schema and the README's table must say what it says.

On a failure, the message shows what the registry implies: paste it where it belongs.
"""

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from shopkit.scenarios import SCENARIOS, Scenario, Switch, supported_by

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy/helm/shop"


def chart_schema() -> dict[str, Any]:
    """The chart's `definitions.scenarios`, as the registry implies it."""
    return {
        "type": "object",
        "description": "SCENARIOS: fault scenarios switched on at start-up",
        "additionalProperties": False,
        "properties": {scenario.name: _parameters_schema(scenario) for scenario in SCENARIOS},
    }


def chart_schema_by_service() -> dict[str, Any]:
    """The chart's `definitions.scenariosByService`: each service's own scenarios, no other.
    (Not `propertyNames`: helm's validator reports its errors at a wrong location.)"""
    services = sorted({service for scenario in SCENARIOS for service in scenario.services})
    return {
        "description": "Each service takes only the scenarios it supports",
        "properties": {
            service: {
                "properties": {
                    "scenarios": {
                        "properties": {scenario.name: True for scenario in supported_by(service)},
                        "additionalProperties": False,
                    }
                }
            }
            for service in services
        },
    }


def _parameters_schema(scenario: Scenario[Any]) -> dict[str, Any]:
    properties = scenario.parameters.model_json_schema()["properties"]
    return {
        "type": "object",
        "description": f"{scenario.description} ({', '.join(scenario.services)})",
        "additionalProperties": False,
        "properties": {
            name: {key: value for key, value in schema.items() if key != "title"}
            for name, schema in properties.items()
        },
    }


def readme_table() -> list[str]:
    """The README's scenario table, as the registry implies it."""
    rows = ["| scenario | services | parameters | what it does |", "| --- | --- | --- | --- |"]
    for scenario in SCENARIOS:
        rows.append(
            f"| `{scenario.name}` | {', '.join(scenario.services)} | "
            f"{_parameters(scenario.parameters)} | {scenario.description} |"
        )
    return rows


def _parameters(model: type[Switch]) -> str:
    """`enabled` is every scenario's; the others with their bounds and default."""
    described = []
    for name, schema in model.model_json_schema()["properties"].items():
        if name != "enabled":
            bounds = f"{schema['minimum']}-{schema['maximum']}"
            described.append(f"`{name}` {bounds} (default {schema['default']})")
    return ", ".join(described)


def test_the_chart_schema_allows_exactly_the_registered_scenarios() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    expected = chart_schema()
    assert schema["definitions"]["scenarios"] == expected, json.dumps(expected, indent=2)


def test_the_chart_schema_gives_each_service_only_its_own_scenarios() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    expected = chart_schema_by_service()
    assert schema["definitions"]["scenariosByService"] == expected, json.dumps(expected, indent=2)
    reference = {"$ref": "#/definitions/scenariosByService"}
    assert schema["properties"]["services"]["allOf"] == [reference]


def test_the_chart_values_name_each_service_s_scenarios_all_off() -> None:
    text = (CHART / "values.yaml").read_text()
    services = yaml.safe_load(text)["services"]
    assert {name for s in SCENARIOS for name in s.services} <= set(services)
    for service, values in services.items():
        assert values["scenarios"] == {}, f"{service}: scenarios are off by default"
        block = re.search(rf"^  {service}:\n(.*?)^    scenarios:", text, re.MULTILINE | re.DOTALL)
        assert block is not None, service
        named = re.search(r"# (?:-- )?Supported: (.*)\.\n", block.group(1))
        supported = ", ".join(s.name for s in supported_by(service)) or "none"
        assert named is not None and named.group(1) == supported, (
            f"values.yaml, services.{service}: the comment above `scenarios` should end "
            f"'Supported: {supported}.'"
        )


def test_the_readme_table_lists_the_registered_scenarios() -> None:
    lines = (REPO / "README.md").read_text().splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("| scenario |"))
    end = next(n for n in range(start, len(lines)) if not lines[n].startswith("|"))
    expected = readme_table()
    assert lines[start:end] == expected, "\n".join(expected)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_every_scenario_is_off_until_switched_on(scenario: Scenario[Any]) -> None:
    assert scenario.off == scenario.parameters()
    assert not scenario.off.hits()
