"""The chart's NetworkPolicies allow exactly the flows of tests/k8s/flows.yaml, as cyclonus (a
NetworkPolicy simulator implementing the API's semantics) reads them. Whether a CNI enforces them
is for a real cluster (kind) to show."""

import json
import re
import subprocess
from itertools import product
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.stack.versions import REPO
from tests.k8s.control_plane import TOOLS_BIN
from tests.k8s.helm import rendered

FLOWS = Path(__file__).with_name("flows.yaml")
SMOKE_JOB = REPO / "deploy" / "skaffold" / "smoke-job.yaml"
NAMESPACE = "shop"
COMPONENT = "app.kubernetes.io/component"


def pod_templates(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """(labels, spec) of every pod the release and skaffold's smoke Job make."""
    smoke = yaml.safe_load(SMOKE_JOB.read_text())
    pods = [m for m in manifests if m["kind"] == "Pod"]
    templates = [
        m["spec"]["template"]
        for m in [*manifests, smoke]
        if m["kind"] in ("Deployment", "StatefulSet", "Job")
    ]
    return [{"labels": p["metadata"]["labels"], "spec": p["spec"]} for p in pods + templates]


def traffic(source: dict[str, str], target: dict[str, str], port: int, name: str) -> dict[str, Any]:
    def peer(labels: dict[str, str], namespace: str) -> dict[str, Any]:
        internal = {"PodLabels": labels, "NamespaceLabels": {}, "Namespace": namespace}
        return {"Internal": internal, "IP": "10.244.0.10"}

    source_namespace = source.pop("namespace", NAMESPACE)
    return {
        "Source": peer(source, source_namespace),
        "Destination": peer(target, NAMESPACE),
        "Protocol": "TCP",
        "ResolvedPort": port,
        "ResolvedPortName": name,
    }


def allowed(
    policies: list[dict[str, Any]], flows: list[dict[str, Any]], folder: Path
) -> list[bool]:
    """cyclonus' verdict on each flow, in order."""
    (folder / "policies").mkdir()
    for index, policy in enumerate(policies):
        policy["metadata"]["namespace"] = NAMESPACE
        (folder / "policies" / f"{index}.yaml").write_text(yaml.safe_dump(policy))
    (folder / "traffic.json").write_text(json.dumps(flows))
    result = subprocess.run(
        [
            str(TOOLS_BIN / "cyclonus"),
            "analyze",
            "--mode=query-traffic",
            f"--policy-path={folder / 'policies'}",
            f"--traffic-path={folder / 'traffic.json'}",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    output = result.stdout
    verdicts = re.findall(r"IS ALLOWED\?\s*\|\s*(TRUE|FALSE)", output, flags=re.IGNORECASE)
    assert len(verdicts) == len(flows), output[-2000:]
    return [verdict.lower() == "true" for verdict in verdicts]


def test_policies_allow_exactly_the_required_flows(tmp_path: Path) -> None:
    absent = [name for name in ("helm", "cyclonus") if not (TOOLS_BIN / name).exists()]
    if absent:
        pytest.skip(f"not built: {', '.join(absent)} (make k8s-e2e-tools)")
    manifests = rendered("--namespace", NAMESPACE)
    policies = [m for m in manifests if m["kind"] == "NetworkPolicy"]
    labels: dict[str, dict[str, str]] = {}
    ports: dict[str, dict[str, int]] = {}
    for pod in pod_templates(manifests):
        component = pod["labels"][COMPONENT]
        labels[component] = pod["labels"]
        for container in pod["spec"]["containers"]:
            for port in container.get("ports", []):
                ports.setdefault(component, {})[port["name"]] = port["containerPort"]
    required = {
        (f["from"], f["to"], f["port"]) for f in yaml.safe_load(FLOWS.read_text())["required"]
    }
    # The list names real things: every caller and every port exists in the chart.
    assert {source for source, _, _ in required} <= set(labels)
    assert all(port in ports[target] for _, target, port in required)

    # Every pair of a pod of the chart (or one from another namespace) and a port of another.
    outsider = {COMPONENT: "order", "namespace": "elsewhere"}
    pairs = [
        (source, target, name)
        for source, target in product([*labels, "elsewhere"], ports)
        if source != target
        for name in ports[target]
    ]
    flows = [
        traffic(
            dict(outsider) if source == "elsewhere" else dict(labels[source]),
            labels[target],
            ports[target][name],
            name,
        )
        for source, target, name in pairs
    ]
    verdicts = dict(zip(pairs, allowed(policies, flows, tmp_path), strict=True))

    assert sorted(pair for pair, ok in verdicts.items() if ok) == sorted(required)
    assert len(verdicts) > 3 * len(required)
