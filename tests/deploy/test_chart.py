"""The rendered Helm chart, checked for what the validators cannot see: the configs it ships
are the repository's own files, byte for byte, and every image is pinned."""

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.stack.versions import REPO
from inventory.settings import InventorySettings
from order.settings import OrderSettings
from pricing.settings import PricingSettings

HELM = REPO / ".tools" / "bin" / "helm"
CHART = REPO / "deploy" / "helm" / "shop"
SERVICES = ("order", "inventory", "pricing")


def render(*args: str) -> list[dict[str, Any]]:
    """The chart's objects as `helm template` renders them, with extra `--set`/`-f` arguments."""
    if not HELM.exists():
        pytest.skip("helm not built: make k8s-tools")
    rendered = subprocess.run(
        [str(HELM), "template", "shop", str(CHART), "--namespace", "shop", *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    return render()


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


def collector(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    [found] = [
        m
        for m in manifests
        if m["kind"] == "Deployment" and m["metadata"]["name"] == "shop-collector"
    ]
    return found


def test_tail_sampling_is_off_by_default(manifests: list[dict[str, Any]]) -> None:
    [container] = _pod(collector(manifests))["containers"]
    assert container["args"] == ["--config=/conf/config.yaml"]
    assert "tail-sampling.yaml" not in config_map(manifests, "shop-collector")
    assert not [e for e in container["env"] if e["name"].startswith("TAIL_SAMPLING_")]


def test_tail_sampling_merges_the_repositorys_overlay(manifests: list[dict[str, Any]]) -> None:
    sampled = render(
        "--set=collector.tailSampling.enabled=true",
        "--set=collector.tailSampling.latencyThresholdMs=750",
        "--set=collector.tailSampling.percentage=25",
    )
    deployment = collector(sampled)
    [container] = _pod(deployment)["containers"]
    assert container["args"] == ["--config=/conf/config.yaml", "--config=/conf/tail-sampling.yaml"]
    shipped = config_map(sampled, "shop-collector")
    assert shipped["tail-sampling.yaml"].strip() == source("collector/tail-sampling.yaml").strip()
    assert shipped["config.yaml"].strip() == source("collector/config.yaml").strip()
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["TAIL_SAMPLING_LATENCY_MS"] == "750"
    assert env["TAIL_SAMPLING_PERCENTAGE"] == "25"
    # Every span of a trace must reach the Collector that decides on it.
    assert deployment["spec"]["replicas"] == 1
    # Switching the overlay on must restart the Collector, which reads its config only at start.
    annotation = "checksum/config"
    before = _pod_annotations(collector(manifests))[annotation]
    assert _pod_annotations(deployment)[annotation] != before


def test_scenarios_reach_their_service_as_json(tmp_path: Path) -> None:
    scenarios = {
        "slow-dependency": {"enabled": True, "latency_ms": 100, "fraction": 0.5},
        "lock-contention": {"enabled": True, "latency_ms": 2000},
    }
    values = tmp_path / "scenarios.yaml"
    values.write_text(yaml.safe_dump({"services": {"inventory": {"scenarios": scenarios}}}))
    rendered = render("-f", str(values))
    assert json.loads(config_map(rendered, "shop-inventory")["SCENARIOS"]) == scenarios
    # Unset means absent, so each service keeps its own all-off default.
    assert "SCENARIOS" not in config_map(rendered, "shop-order")
    assert "SCENARIOS" not in config_map(rendered, "shop-pricing")


def test_a_scenario_the_service_does_not_support_is_refused_by_name() -> None:
    # inventory supports `errors`; order does not, and would refuse to start on it.
    render("--set", "services.inventory.scenarios.errors.enabled=true")
    with pytest.raises(subprocess.CalledProcessError) as refused:
        render("--set", "services.order.scenarios.errors.enabled=true")
    message = refused.value.stderr
    assert "at '/services/order/scenarios': additional properties 'errors' not allowed" in message


def service_container(manifests: list[dict[str, Any]], name: str) -> dict[str, Any]:
    [deployment] = [
        m
        for m in manifests
        if m["kind"] == "Deployment" and m["metadata"]["name"] == f"shop-{name}"
    ]
    [container] = _pod(deployment)["containers"]
    return container


def test_only_the_order_service_draws_a_trust_boundary_for_trace_context(
    manifests: list[dict[str, Any]],
) -> None:
    trusted = {
        name: config_map(manifests, f"shop-{name}")["TRUST_INCOMING_TRACE_CONTEXT"]
        for name in ("order", "inventory", "pricing")
    }
    assert trusted == {"order": "false", "inventory": "true", "pricing": "true"}
    behind_a_gateway = render("--set", "services.order.trustIncomingTraceContext=true")
    assert config_map(behind_a_gateway, "shop-order")["TRUST_INCOMING_TRACE_CONTEXT"] == "true"


def test_no_access_log_and_the_pseudonym_key_only_where_customers_are(
    manifests: list[dict[str, Any]],
) -> None:
    for name in ("order", "inventory", "pricing"):
        container = service_container(manifests, name)
        # The access log would write every query string (customer ids) in clear.
        assert "--no-access-log" in container["command"], name
        keys = [e for e in container["env"] if e["name"] == "CUSTOMER_PSEUDONYM_KEY"]
        assert len(keys) == (1 if name == "order" else 0), name
    [key] = [
        e
        for e in service_container(manifests, "order")["env"]
        if e["name"] == "CUSTOMER_PSEUDONYM_KEY"
    ]
    reference = key["valueFrom"]["secretKeyRef"]
    [secret] = [
        m for m in manifests if m["kind"] == "Secret" and m["metadata"]["name"] == reference["name"]
    ]
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert len(base64.b64decode(secret["data"][reference["key"]])) >= 32
    own = render("--set", "customerPseudonymKey.existingSecret=my-key")
    [key] = [
        e for e in service_container(own, "order")["env"] if e["name"] == "CUSTOMER_PSEUDONYM_KEY"
    ]
    assert key["valueFrom"]["secretKeyRef"]["name"] == "my-key"
    assert not [m for m in own if m["metadata"]["name"] == reference["name"]]


def _pod_annotations(manifest: dict[str, Any]) -> dict[str, str]:
    annotations: dict[str, str] = manifest["spec"]["template"]["metadata"]["annotations"]
    return annotations


def _pod(manifest: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = manifest["spec"]
    return spec if manifest["kind"] == "Pod" else spec["template"]["spec"]


def test_chart_dir_links_to_the_single_sources() -> None:
    for link in ("collector", "observability"):
        assert (CHART / "files" / link).resolve() == (REPO / link).resolve()
        assert Path(CHART / "files" / link).is_symlink()


def test_admission_settings_reach_each_service_with_the_services_own_defaults(
    manifests: list[dict[str, Any]],
) -> None:
    """The chart's admission and rate-limit values are the settings' defaults (one set of
    numbers, derived in docs/overload.md), and every variable it sets is a setting the service
    reads."""
    classes = {"order": OrderSettings, "inventory": InventorySettings, "pricing": PricingSettings}
    for name, settings_class in classes.items():
        data = config_map(manifests, f"shop-{name}")
        own = {key for key in data if not key.startswith("OTEL_")}
        assert own <= {field.upper() for field in settings_class.model_fields}, name
        # What the pod has from Secrets rather than the ConfigMap: the order service's client
        # secret (test_every_service_accepts_the_tokens_of_one_issuer checks its wiring).
        secrets = {"OIDC_CLIENT_SECRET": "from-the-secret"} if name == "order" else {}
        # Read from the environment, as the pod does: JSON values (OIDC_TRUSTED_CALLERS) decoded.
        with pytest.MonkeyPatch.context() as environment:
            for key, value in {**secrets, **{key: data[key] for key in own}}.items():
                environment.setenv(key, value)
            settings = settings_class()
        # The issuer has no default: a service never starts without one.
        defaults = settings_class.model_validate(
            {key.lower(): value for key, value in {**secrets, "OIDC_ISSUER": "x"}.items()}
        )
        for field in (
            "admission_enabled",
            "admission_max_in_flight",
            "admission_max_queued",
            "admission_queue_timeout_seconds",
            "request_timeout_seconds",
            *(["customer_order_burst", "customer_orders_per_second"] if name == "order" else []),
        ):
            assert field.upper() in own, (name, field)
            assert getattr(settings, field) == getattr(defaults, field), (name, field)


def _one(manifests: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [found] = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    return found


def _env_entry(container: dict[str, Any], name: str) -> dict[str, Any] | None:
    found = [entry for entry in container.get("env", []) if entry["name"] == name]
    return found[0] if found else None


def _components(manifests: list[dict[str, Any]]) -> set[str]:
    return {m["metadata"]["labels"].get("app.kubernetes.io/component", "") for m in manifests}


def test_every_service_accepts_the_tokens_of_one_issuer(
    manifests: list[dict[str, Any]],
) -> None:
    issuer = "http://shop-hydra:4444"
    configs = {
        name: config_map(manifests, f"shop-{name}") for name in ("order", "inventory", "pricing")
    }
    for name, data in configs.items():
        # A token for one service is refused by the others: the audience is the service's name.
        assert (data["OIDC_ISSUER"], data["OIDC_AUDIENCE"]) == (issuer, name)
        assert "OIDC_JWKS_URL" not in data  # from the discovery document
    # Inventory and pricing take business calls from the order service's client only.
    trusted = {name: data.get("OIDC_TRUSTED_CALLERS") for name, data in configs.items()}
    assert trusted == {
        "order": None,
        "inventory": '["order-service"]',
        "pricing": '["order-service"]',
    }
    assert configs["order"]["OIDC_CLIENT_ID"] == "order-service"

    # Hydra writes its URLS_SELF_ISSUER into every token's `iss`: the same URL, byte for byte.
    [hydra] = _pod(_one(manifests, "Deployment", "shop-hydra"))["containers"]
    assert _env_entry(hydra, "URLS_SELF_ISSUER") == {"name": "URLS_SELF_ISSUER", "value": issuer}

    # The order service's client secret is the one the Job registers, from the kept Secret.
    secret = _env_entry(service_container(manifests, "order"), "OIDC_CLIENT_SECRET")
    assert secret is not None
    [job] = _pod(_one(manifests, "Job", "shop-hydra-clients"))["containers"]
    assert secret["valueFrom"] == (_env_entry(job, "ORDER_CLIENT_SECRET") or {}).get("valueFrom")
    assert secret["valueFrom"]["secretKeyRef"]["name"] == "shop-hydra"
    kept = _one(manifests, "Secret", "shop-hydra")
    assert kept["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert all(len(base64.b64decode(value)) >= 32 for value in kept["data"].values())
    for name in ("inventory", "pricing"):
        assert _env_entry(service_container(manifests, name), "OIDC_CLIENT_SECRET") is None

    # No shared admin string any more: the admin scope of a token instead.
    for manifest in manifests:
        assert "ADMIN_TOKEN" not in json.dumps(manifest), manifest["metadata"]["name"]
    assert {m["metadata"]["name"] for m in manifests if m["kind"] == "Secret"} >= {"shop-hydra"}
    assert "shop-admin-token" not in {m["metadata"]["name"] for m in manifests}


def test_an_external_issuer_replaces_the_bundled_hydra() -> None:
    external = (
        "--set", "hydra.enabled=false",
        "--set", "auth.issuer=https://login.example.com/realms/shop/",
        "--set", "auth.jwksUrl=https://login.example.com/keys",
        "--set", "auth.orderClient.id=shop-orders",
        "--set", "auth.orderClient.existingSecret=order-client",
    )  # fmt: skip
    manifests = render(*external)
    assert not _components(manifests) & {"hydra", "hydra-clients"}
    for name in ("order", "inventory", "pricing"):
        data = config_map(manifests, f"shop-{name}")
        assert data["OIDC_ISSUER"] == "https://login.example.com/realms/shop"
        assert data["OIDC_JWKS_URL"] == "https://login.example.com/keys"
    assert config_map(manifests, "shop-inventory")["OIDC_TRUSTED_CALLERS"] == '["shop-orders"]'
    secret = _env_entry(service_container(manifests, "order"), "OIDC_CLIENT_SECRET")
    assert secret is not None
    assert secret["valueFrom"]["secretKeyRef"] == {
        "name": "order-client",
        "key": "order-client-secret",
    }
    # No client for the helm test at that provider: no helm test, until one is given.
    assert not [m for m in manifests if m["kind"] == "Pod"]
    tested = render(*external, "--set", "tests.client.existingSecret=helm-test-client")
    [pod] = [m for m in tested if m["kind"] == "Pod"]
    [container] = pod["spec"]["containers"]
    client_secret = _env_entry(container, "CLIENT_SECRET") or {}
    assert client_secret["valueFrom"]["secretKeyRef"]["name"] == "helm-test-client"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["--set", "auth.issuer=https://login.example.com"], "set hydra.enabled=false as well"),
        (["--set", "hydra.enabled=false"], "no OpenID Connect provider"),
        (
            ["--set", "hydra.enabled=false", "--set", "auth.issuer=https://login.example.com"],
            "auth.orderClient.existingSecret is required with an external issuer",
        ),
        (["--set", "auth.issuer=login.example.com"], "at '/auth/issuer'"),
    ],
)
def test_an_install_without_one_clear_issuer_is_refused(values: list[str], message: str) -> None:
    with pytest.raises(subprocess.CalledProcessError) as refused:
        render(*values)
    assert message in refused.value.stderr


def test_the_helm_test_orders_with_a_token_of_its_own_client(
    manifests: list[dict[str, Any]],
) -> None:
    [pod] = [m for m in manifests if m["kind"] == "Pod"]
    [container] = pod["spec"]["containers"]
    env = {entry["name"]: entry for entry in container["env"]}
    assert env["OIDC_ISSUER"]["value"] == "http://shop-hydra:4444"
    assert env["CLIENT_ID"]["value"] == "helm-test"
    assert env["CLIENT_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "shop-hydra",
        "key": "test-client-secret",
    }
    [job] = _pod(_one(manifests, "Job", "shop-hydra-clients"))["containers"]
    assert (_env_entry(job, "TEST_CLIENT_ID") or {}).get("value") == "helm-test"


def _millicores(quantity: str) -> float:
    return float(quantity[:-1]) if quantity.endswith("m") else float(quantity) * 1000


def test_autoscaling_fires_below_the_cpu_a_pod_may_use() -> None:
    """The HPA's target is CPU per pod, an amount: it must sit under the pod's CPU limit, where
    a saturated service stays, or it never fires; and above the request, or an idle one scales."""
    scaled = render(*(f"--set=services.{name}.autoscaling.enabled=true" for name in SERVICES))
    for name in SERVICES:
        hpa = _one(scaled, "HorizontalPodAutoscaler", f"shop-{name}")
        [metric] = hpa["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu"
        assert metric["resource"]["target"]["type"] == "AverageValue"
        target = _millicores(metric["resource"]["target"]["averageValue"])
        resources = service_container(scaled, name)["resources"]
        assert _millicores(resources["requests"]["cpu"]) < target, name
        assert target < _millicores(resources["limits"]["cpu"]), name
