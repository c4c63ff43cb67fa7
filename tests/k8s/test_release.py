"""The chart's whole life on a real API server: install with hooks into a namespace enforcing
PodSecurity `restricted`, `helm test`, upgrade, a failed first install, uninstall. kwok plays the
kubelets, so admission, controllers, scheduling and Helm's hook logic are real; containers are not.
"""

import copy
import re
from typing import Any

import pytest

from devtools.stack.processes import wait_for
from tests.k8s.control_plane import ControlPlane
from tests.k8s.helm import (
    CI_VALUES,
    FAILING_TAG,
    RELEASE,
    Helm,
    JobWatch,
    containers,
    is_forbidden_by_pod_security,
    objects,
    rendered,
    secrets,
)

VALUES = pytest.mark.parametrize(
    "values", [(), ("-f", str(CI_VALUES))], ids=["default-values", "ci-values"]
)
# What the chart documents to outlive `helm uninstall` (deploy/helm/shop/README.md): the
# generated Secrets and PostgreSQL's volume claim.
LEFT_BEHIND = {
    ("Secret", "shop-postgres"),
    ("Secret", "shop-hydra"),
    ("Secret", "shop-customer-pseudonym-key"),
    ("Secret", "shop-grafana"),
    ("PersistentVolumeClaim", "data-shop-postgres-0"),
}


# The hook Jobs of an install and of an upgrade: the migrations and the bundled Hydra's clients.
HOOK_JOBS = ["shop-hydra-clients", "shop-migrations"]


def named(jobs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    [job] = [job for job in jobs if job["metadata"]["name"] == name]
    return job


def workloads(manifests: list[dict[str, Any]]) -> set[str]:
    return {m["metadata"]["name"] for m in manifests if m["kind"] in ("Deployment", "StatefulSet")}


def apps_in(cluster: ControlPlane, namespace: str) -> list[dict[str, Any]]:
    """The Deployments and StatefulSets in the namespace."""
    return [
        *cluster.items(f"/apis/apps/v1/namespaces/{namespace}/deployments"),
        *cluster.items(f"/apis/apps/v1/namespaces/{namespace}/statefulsets"),
    ]


def running_pods(cluster: ControlPlane, namespace: str) -> dict[str, str]:
    return {
        pod["metadata"]["name"]: pod["status"].get("phase", "")
        for pod in cluster.items(f"/api/v1/namespaces/{namespace}/pods")
        if pod["status"].get("phase") != "Succeeded"
    }


@VALUES
def test_install_test_upgrade_uninstall(
    cluster: ControlPlane, helm: Helm, values: tuple[str, ...]
) -> None:
    namespace = helm.namespace
    expected = workloads(rendered(*values))

    with JobWatch(cluster, namespace) as install:
        installed = helm.install(*values)

    assert helm.status() == "deployed"
    # The NOTES' order example works on a machine without uuidgen.
    assert "/proc/sys/kernel/random/uuid" in installed.stdout
    assert "uuidgen" not in installed.stdout
    # Admitted under `restricted`, scheduled and running: as many pods as the workloads want.
    assert {app["metadata"]["name"] for app in apps_in(cluster, namespace)} == expected

    def all_running() -> bool:
        # Polled: with ci-values the autoscaler raises order to its minReplicas after helm's wait.
        wanted = sum(app["spec"]["replicas"] for app in apps_in(cluster, namespace))
        return list(running_pods(cluster, namespace).values()) == ["Running"] * wanted

    wait_for("as many Running pods as the workloads want", all_running, timeout=60)
    # The migration Job ran after every workload existed (post-install), and seeded.
    # So did the Job registering the bundled Hydra's clients (Hydra existed: post-install too).
    assert sorted(job["metadata"]["name"] for job in install.jobs) == HOOK_JOBS
    assert install.workloads_then == [expected, expected]
    job = named(install.jobs, "shop-migrations")
    assert containers(job).get("seed", [])[:2] == ["shopctl", "seed"], containers(job)

    tested = helm.run("test", RELEASE, "--timeout", "2m")
    assert re.search(r"TEST SUITE:\s+shop-test-order-trace", tested.stdout), tested.stdout
    assert re.search(r"Phase:\s+Succeeded", tested.stdout), tested.stdout

    generated = secrets(cluster, namespace)
    assert set(generated) >= {
        "shop-postgres",
        "shop-hydra",
        "shop-customer-pseudonym-key",
        "shop-grafana",
    }
    with JobWatch(cluster, namespace) as upgrade:
        helm.upgrade(*values, "--set", "seed.products=7")

    assert helm.status() == "deployed"
    # The pre-upgrade Job ran with the changed value, the clients were registered again (the
    # upgrade may have replaced Hydra's pod), and no generated password or client secret changed.
    assert sorted(job["metadata"]["name"] for job in upgrade.jobs) == HOOK_JOBS
    job = named(upgrade.jobs, "shop-migrations")
    assert "--products=7" in containers(job).get("seed", []), containers(job)
    assert secrets(cluster, namespace) == generated

    helm.run("uninstall", RELEASE, "--wait", "--timeout", "2m")
    wait_for(
        f"only {sorted(LEFT_BEHIND)} left after uninstall",
        lambda: objects(cluster, namespace) == LEFT_BEHIND,
        timeout=60,
    )


def test_a_failed_first_install_is_seeded_by_the_next_upgrade(
    cluster: ControlPlane, helm: Helm
) -> None:
    # As when the migration Job gives up waiting for PostgreSQL's first start: the post-install
    # hook fails, the release is `failed`, and skaffold (or the user) upgrades it next.
    failed = helm.install(
        "--set", f"image.tag={FAILING_TAG}", "--set", "migrations.backoffLimit=0", check=False
    )
    assert failed.returncode != 0
    assert "post-install" in failed.stderr, failed.stderr
    assert helm.status() == "failed"

    # skaffold's next deploy sets the image it built (and with no values at all, helm upgrade
    # would reuse the failed release's).
    with JobWatch(cluster, helm.namespace) as upgrade:
        helm.upgrade("--set", "image.tag=rebuilt")

    assert helm.status() == "deployed"
    job = named(upgrade.jobs, "shop-migrations")
    assert containers(job).get("seed", [])[:2] == ["shopctl", "seed"], containers(job)


def pod_specs(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every pod the chart makes (workloads, the migration Job, the helm test pod), by name."""
    specs = {}
    for manifest in manifests:
        if manifest["kind"] == "Pod":
            specs[manifest["metadata"]["name"]] = manifest["spec"]
        elif manifest["kind"] in ("Deployment", "StatefulSet", "Job"):
            spec = copy.deepcopy(manifest["spec"]["template"]["spec"])
            # A StatefulSet adds a volume per claim template to the pods it makes.
            for claim in manifest["spec"].get("volumeClaimTemplates", []):
                name = claim["metadata"]["name"]
                volume = {"name": name, "persistentVolumeClaim": {"claimName": name}}
                spec.setdefault("volumes", []).append(volume)
            specs[manifest["metadata"]["name"]] = spec
    return specs


def test_admission_rejects_each_container_without_its_security_context(
    cluster: ControlPlane, helm: Helm
) -> None:
    """The guard the install relies on, proven able to fail: every container of the chart as
    rendered is admitted, and the same pod with that one container's securityContext dropped
    is refused by PodSecurity `restricted` (dry runs: nothing is created)."""
    path = f"/api/v1/namespaces/{helm.namespace}/pods"
    specs = pod_specs(rendered("-f", str(CI_VALUES)))
    assert len(specs) >= 9

    def admit(name: str, spec: dict[str, Any]) -> Any:
        # The release's ServiceAccounts do not exist here; the namespace's default one does.
        spec = {k: v for k, v in spec.items() if k != "serviceAccountName"}
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}
        return cluster.api.post(path, params={"dryRun": "All"}, json=pod)

    checked = 0
    for name, spec in specs.items():
        admitted = admit(name, spec)
        assert admitted.status_code == 201, admitted.text
        for group in ("initContainers", "containers"):
            for index, container in enumerate(spec.get(group, [])):
                stripped = copy.deepcopy(spec)
                del stripped[group][index]["securityContext"]
                refused = admit(name, stripped)
                assert is_forbidden_by_pod_security(refused), (
                    name,
                    container["name"],
                    refused.text,
                )
                assert "allowPrivilegeEscalation != false" in refused.text
                checked += 1
    assert checked >= 12
