"""The pinned helm against the test control plane, and what the API server saw while it ran."""

import base64
import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import httpx
import yaml

from devtools.stack.processes import wait_for
from devtools.stack.versions import REPO
from tests.k8s.control_plane import TOOLS_BIN, ControlPlane

CHART = REPO / "deploy" / "helm" / "shop"
CI_VALUES = CHART / "ci" / "ci-values.yaml"
RELEASE = "shop"
# kwok fails the Job pods running this image tag (tests/k8s/kwok-stages.yaml).
FAILING_TAG = "e2e-hook-fails"
# What a namespace of the shop enforces (deploy/helm/shop/README.md).
RESTRICTED = {
    f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")
}


class Helm:
    """`helm` with the control plane's kubeconfig and private caches, in one namespace."""

    def __init__(self, cluster: ControlPlane, namespace: str, home: Path) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(home),
            "KUBECONFIG": str(cluster.kubeconfig),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        }

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(TOOLS_BIN / "helm"), *args, "--namespace", self.namespace],
            env=self.env,
            capture_output=True,
            text=True,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result

    def status(self) -> str:
        status: str = json.loads(self.run("status", RELEASE, "--output", "json").stdout)["info"][
            "status"
        ]
        return status

    def install(self, *values: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(
            "install", RELEASE, str(CHART), "--wait", "--timeout", "3m", *values, check=check
        )

    def upgrade(self, *values: str) -> subprocess.CompletedProcess[str]:
        return self.run("upgrade", RELEASE, str(CHART), "--wait", "--timeout", "3m", *values)


def create_namespace(cluster: ControlPlane, name: str) -> None:
    """A namespace enforcing PodSecurity `restricted`, and a volume for PostgreSQL's claim (no
    provisioner runs here; the controller-manager binds the claim to it)."""
    cluster.create(
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": RESTRICTED}},
    )
    cluster.create(
        "/api/v1/persistentvolumes",
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": f"{name}-postgres"},
            "spec": {
                "capacity": {"storage": "10Gi"},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "hostPath": {"path": f"/nonexistent/{name}"},
                "claimRef": {"namespace": name, "name": "data-shop-postgres-0"},
            },
        },
    )
    wait_for(
        "the namespace's default ServiceAccount",
        lambda: cluster.api.get(f"/api/v1/namespaces/{name}/serviceaccounts/default").is_success,
    )


class JobWatch:
    """Records every Job created in a namespace while helm runs (hook Jobs are deleted once they
    succeed, so afterwards they cannot be read back), and what existed at that moment."""

    def __init__(self, cluster: ControlPlane, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.jobs: list[dict[str, Any]] = []
        # The names of the release's workloads that existed when each Job appeared.
        self.workloads_then: list[set[str]] = []
        self._version = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> "JobWatch":
        # Listed before helm starts, so no Job can be created in between and missed.
        path = f"/apis/batch/v1/namespaces/{self.namespace}/jobs"
        self._version = self.cluster.api.get(path).json()["metadata"]["resourceVersion"]
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _watch(self) -> None:
        path = f"/apis/batch/v1/namespaces/{self.namespace}/jobs"
        version = self._version
        while not self._stop.is_set():
            params = {"watch": "1", "resourceVersion": version, "timeoutSeconds": "1"}
            with self.cluster.api.stream("GET", path, params=params) as events:
                for line in events.iter_lines():
                    event = json.loads(line)
                    job = event["object"]
                    version = job["metadata"]["resourceVersion"]
                    if event["type"] == "ADDED":
                        self.workloads_then.append(self._workloads())
                        self.jobs.append(job)

    def _workloads(self) -> set[str]:
        names = set()
        for kind in ("deployments", "statefulsets"):
            path = f"/apis/apps/v1/namespaces/{self.namespace}/{kind}"
            names |= {item["metadata"]["name"] for item in self.cluster.items(path)}
        return names


def containers(job: dict[str, Any]) -> dict[str, list[str]]:
    """A Job's regular containers: name -> command."""
    spec = job["spec"]["template"]["spec"]
    return {c["name"]: c.get("command", []) for c in spec["containers"]}


def secrets(cluster: ControlPlane, namespace: str) -> dict[str, dict[str, bytes]]:
    """The chart's Secrets, name -> data, without Helm's own release records."""
    return {
        s["metadata"]["name"]: {k: base64.b64decode(v) for k, v in s["data"].items()}
        for s in cluster.items(f"/api/v1/namespaces/{namespace}/secrets")
        if s["type"] != "helm.sh/release.v1"
    }


# Everything a release of the chart can create in its namespace; `kube-root-ca.crt` and the
# `default` ServiceAccount belong to the namespace itself.
NAMESPACED = (
    "/api/v1/namespaces/{ns}/pods",
    "/api/v1/namespaces/{ns}/services",
    "/api/v1/namespaces/{ns}/configmaps",
    "/api/v1/namespaces/{ns}/secrets",
    "/api/v1/namespaces/{ns}/serviceaccounts",
    "/api/v1/namespaces/{ns}/persistentvolumeclaims",
    "/apis/apps/v1/namespaces/{ns}/deployments",
    "/apis/apps/v1/namespaces/{ns}/statefulsets",
    "/apis/batch/v1/namespaces/{ns}/jobs",
    "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
    "/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers",
    "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets",
)
OF_THE_NAMESPACE = {("ConfigMap", "kube-root-ca.crt"), ("ServiceAccount", "default")}


def objects(cluster: ControlPlane, namespace: str) -> set[tuple[str, str]]:
    """(kind, name) of everything in the namespace but what the namespace itself brings."""
    found = set()
    for path in NAMESPACED:
        response = cluster.api.get(path.format(ns=namespace))
        response.raise_for_status()
        kind = response.json()["kind"].removesuffix("List")
        found |= {(kind, item["metadata"]["name"]) for item in response.json()["items"]}
    return found - OF_THE_NAMESPACE


def rendered(*values: str) -> list[dict[str, Any]]:
    """The chart as `helm template` renders it, hooks and tests included."""
    output = subprocess.run(
        [str(TOOLS_BIN / "helm"), "template", RELEASE, str(CHART), *values],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(output) if doc]


def is_forbidden_by_pod_security(response: httpx.Response) -> bool:
    return response.status_code == 403 and "violates PodSecurity" in response.text
