"""The rendered Helm chart, checked for what the validators cannot see: the configs it ships
are the repository's own files, byte for byte, and every image is pinned."""

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

HELM = REPO / ".tools" / "bin" / "helm"
CHART = REPO / "deploy" / "helm" / "shop"


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    if not HELM.exists():
        pytest.skip("helm not built: make k8s-tools")
    rendered = subprocess.run(
        [str(HELM), "template", "shop", str(CHART), "--namespace", "shop"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def config_map(manifests: list[dict[str, Any]], name: str) -> dict[str, str]:
    [found] = [m for m in manifests if m["kind"] == "ConfigMap" and m["metadata"]["name"] == name]
    data: dict[str, str] = found["data"]
    return data


def source(path: str) -> str:
    return (REPO / path).read_text()


@pytest.mark.parametrize(
    ("config_map_name", "key", "path"),
    [
        ("shop-collector", "config.yaml", "collector/config.yaml"),
        ("shop-jaeger", "config.yaml", "observability/jaeger/config.yaml"),
        ("shop-prometheus", "prometheus.yml", "observability/prometheus/prometheus.yml"),
        ("shop-prometheus", "alerts.yml", "observability/prometheus/alerts.yml"),
        ("shop-grafana", "datasources.yaml", "observability/grafana/datasources.yaml"),
    ],
)
def test_the_chart_ships_the_repositorys_configs_unchanged(
    manifests: list[dict[str, Any]], config_map_name: str, key: str, path: str
) -> None:
    assert config_map(manifests, config_map_name)[key].strip() == source(path).strip()


def test_the_chart_ships_every_dashboard_unchanged(manifests: list[dict[str, Any]]) -> None:
    shipped = {
        key: json.loads(value)
        for m in manifests
        if m["kind"] == "ConfigMap"
        for key, value in m.get("data", {}).items()
        if key.endswith(".json")
    }
    dashboards = sorted((REPO / "observability/grafana/dashboards").glob("*.json"))
    assert shipped == {p.name: json.loads(p.read_text()) for p in dashboards}


def test_every_image_is_pinned(manifests: list[dict[str, Any]]) -> None:
    images = [
        container["image"]
        for m in manifests
        if m["kind"] in {"Deployment", "StatefulSet", "Job", "Pod"}
        for container in _pod(m)["containers"] + _pod(m).get("initContainers", [])
    ]
    assert images
    for image in images:
        name, _, tag = image.rpartition(":")
        assert name and tag and tag != "latest", image


def test_every_container_runs_locked_down(manifests: list[dict[str, Any]]) -> None:
    for m in manifests:
        if m["kind"] not in {"Deployment", "StatefulSet", "Job", "Pod"}:
            continue
        pod = _pod(m)
        assert pod["securityContext"]["runAsNonRoot"] is True, m["metadata"]["name"]
        for container in pod["containers"]:
            context = container["securityContext"]
            where = f"{m['metadata']['name']}/{container['name']}"
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            assert "limits" in container["resources"], where


def test_services_export_to_the_bundled_collector(manifests: list[dict[str, Any]]) -> None:
    settings = config_map(manifests, "shop-order")
    assert settings["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://shop-collector:4317"
    assert settings["OTEL_SERVICE_NAME"] == "order-service"
    assert settings["INVENTORY_URL"].startswith("http://shop-inventory")


def _pod(manifest: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = manifest["spec"]
    return spec if manifest["kind"] == "Pod" else spec["template"]["spec"]


def test_chart_dir_links_to_the_single_sources() -> None:
    for link in ("collector", "observability"):
        assert (CHART / "files" / link).resolve() == (REPO / link).resolve()
        assert Path(CHART / "files" / link).is_symlink()
