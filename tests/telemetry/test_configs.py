"""The backend configs are checked by the tools that will run them, without starting anything."""

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from devtools.stack.versions import REPO

TOOLS_BIN = REPO / ".tools" / "bin"

PROMETHEUS_DIR = REPO / "observability" / "prometheus"
GRAFANA_DIR = REPO / "observability" / "grafana"


def promtool() -> str:
    """The promtool of the chart's Prometheus release (versions.env), built by make."""
    path = TOOLS_BIN / "promtool"
    if not path.exists():
        pytest.fail("promtool not built: make prometheus")
    return str(path)


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=cwd,
        capture_output=True,
        text=True,
        # What the Collector config reads from the environment (see its header).
        env={**os.environ, "JAEGER_OTLP_ENDPOINT": "127.0.0.1:14317"},
        check=False,
    )


def test_alert_rules_pass_their_unit_tests() -> None:
    result = run([promtool(), "test", "rules", "alerts_test.yml"], PROMETHEUS_DIR)
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_config_and_rules_are_valid() -> None:
    result = run([promtool(), "check", "config", "prometheus.yml"], PROMETHEUS_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 10 rules found" in result.stdout


def test_collector_config_validates_against_the_built_collector() -> None:
    otelcol = TOOLS_BIN / "otelcol-shop"
    if not otelcol.exists():
        pytest.skip("Collector not built: run make collector")
    result = run([str(otelcol), "validate", "--config=collector/config.yaml"], REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def seconds(duration: str) -> int:
    """A Go/Prometheus duration of one unit, as both configs write them: 5s, 10s, 1m."""
    return int(duration[:-1]) * {"s": 1, "m": 60}[duration[-1]]


def test_prometheus_scrapes_each_span_metrics_exemplar_twice() -> None:
    """The span metrics connector keeps an exemplar for one flush interval only; the scrape
    interval must fit in it twice, or a scrape that drifts past a flush loses the trace link."""
    collector = yaml.safe_load((REPO / "collector" / "config.yaml").read_text())
    flush = seconds(collector["connectors"]["span_metrics"]["metrics_flush_interval"])
    prometheus = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    [job] = [j for j in prometheus["scrape_configs"] if j["job_name"] == "shop-services"]
    scrape = seconds(job.get("scrape_interval", prometheus["global"]["scrape_interval"]))
    assert flush >= 2 * scrape, (flush, scrape)


def test_dashboards_use_provisioned_datasources_by_uid() -> None:
    provisioned = yaml.safe_load((GRAFANA_DIR / "datasources.yaml").read_text())
    datasource_uids = {ds["uid"] for ds in provisioned["datasources"]}
    files = sorted((GRAFANA_DIR / "dashboards").glob("*.json"))
    dashboards = [json.loads(path.read_text()) for path in files]
    assert [d["uid"] for d in dashboards] == ["shop-collector", "shop-database", "shop-services"]

    def datasource_refs(node: object) -> list[object]:
        if isinstance(node, dict):
            found = [node["datasource"]] if "datasource" in node else []
            return found + [ref for value in node.values() for ref in datasource_refs(value)]
        if isinstance(node, list):
            return [ref for item in node for ref in datasource_refs(item)]
        return []

    refs = [ref for d in dashboards for ref in datasource_refs(d)]
    assert refs, "dashboards reference no data source"
    assert all(isinstance(ref, dict) and ref["uid"] in datasource_uids for ref in refs), refs
