"""skaffold.yaml as each pipeline sees it: `make dev` (the default) and CI (the ci profile), and
the CI workflow that builds the deploy tools."""

import copy
from typing import Any

import pytest
import yaml

from devtools.stack.versions import REPO
from tests.deploy.test_chart import render


def skaffold_config(profile: str | None = None) -> dict[str, Any]:
    """skaffold.yaml with one profile applied as skaffold applies it: JSON patches (only `add`
    is used here), then the profile's own sections replacing the top-level ones."""
    config: dict[str, Any] = yaml.safe_load((REPO / "skaffold.yaml").read_text())
    if profile is None:
        return config
    [chosen] = [p for p in config["profiles"] if p["name"] == profile]
    effective = copy.deepcopy(config)
    for patch in chosen.get("patches", []):
        assert patch["op"] == "add", f"this reader applies only `add` patches, not {patch}"
        *parents, last = patch["path"].strip("/").split("/")
        target: Any = effective
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if isinstance(target, list):
            target.append(patch["value"]) if last == "-" else target.insert(
                int(last), patch["value"]
            )
        else:
            target[last] = patch["value"]
    effective.update(
        {k: v for k, v in chosen.items() if k not in ("name", "patches", "activation")}
    )
    return effective


def images(config: dict[str, Any]) -> list[str]:
    return [artifact["image"] for artifact in config["build"]["artifacts"]]


def test_dev_builds_only_the_deployed_image_and_verifies_nothing() -> None:
    # `skaffold dev` never runs verify: a smoke image there is built and loaded into kind on
    # every change, and a change under tests/ redeploys the release, for nothing.
    dev = skaffold_config()
    assert images(dev) == ["shop"]
    assert "verify" not in dev


def test_ci_builds_the_smoke_image_its_verify_stage_runs() -> None:
    ci = skaffold_config("ci")
    assert images(ci) == ["shop", "shop-smoke"]
    assert [check["container"]["image"] for check in ci["verify"]] == ["shop-smoke"]
    assert ci["deploy"]["helm"]["releases"][0]["valuesFiles"] == [
        "deploy/helm/shop/ci/ci-values.yaml"
    ]


def test_every_url_make_smoke_reads_is_forwarded() -> None:
    forwarded = {
        (f["resourceName"], f["port"], f["localPort"]) for f in skaffold_config()["portForward"]
    }
    # make smoke's defaults (Makefile): the order API, Jaeger's query API and Prometheus.
    assert {("shop-order", 8000, 8000), ("shop-jaeger", 16686, 16686)} <= forwarded
    assert ("shop-prometheus", 9090, 9090) in forwarded


def test_every_forward_names_a_port_of_a_service_of_the_chart() -> None:
    services = {
        m["metadata"]["name"]: {port["port"] for port in m["spec"]["ports"]}
        for m in render()
        if m["kind"] == "Service"
    }
    for forward in skaffold_config()["portForward"]:
        assert forward["port"] in services.get(forward["resourceName"], set()), forward


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yml").read_text())
    return loaded


def test_each_ci_job_caches_its_tools_under_its_own_key(workflow: dict[str, Any]) -> None:
    # actions/cache never saves again on an exact hit: two jobs sharing a key keep whatever the
    # first one saved, so the kind job would rebuild skaffold (not built by lint-test) every run.
    keys = {
        name: step["with"]["key"]
        for name, job in workflow["jobs"].items()
        for step in job["steps"]
        if step.get("uses", "").startswith("actions/cache@")
    }
    assert set(keys) == {"lint-test", "kind"}
    assert keys["lint-test"] != keys["kind"]
