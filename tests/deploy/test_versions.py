"""One list of versions (versions.env): the chart's images, the image's base, the Collector's
manifest and the binaries `make` built for the local stack and the tests all say the same."""

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from devtools.stack import versions
from devtools.stack.versions import REPO

PINS = versions.load(REPO / "versions.env")
TOOLS = REPO / ".tools"
VALUES = yaml.safe_load((REPO / "deploy/helm/shop/values.yaml").read_text())


def chart_image(component: str) -> str:
    image = VALUES[component]["image"]
    return f"{image['repository']}:{image['tag']}"


def test_the_chart_runs_the_pinned_images() -> None:
    assert {
        "postgresql": chart_image("postgresql"),
        "prometheus": chart_image("prometheus"),
        "collector": chart_image("collector"),
        "jaeger": chart_image("jaeger"),
        "grafana": chart_image("grafana"),
        "hydra": chart_image("hydra"),
    } == {
        "postgresql": f"postgres:{PINS['POSTGRES_VERSION']}-bookworm",
        "prometheus": f"prom/prometheus:v{PINS['PROMETHEUS_VERSION']}",
        "collector": f"otel/opentelemetry-collector-contrib:{PINS['OTELCOL_VERSION']}",
        "jaeger": f"jaegertracing/jaeger:{PINS['JAEGER_VERSION']}",
        "grafana": f"grafana/grafana:{PINS['GRAFANA_VERSION']}",
        "hydra": f"oryd/hydra:v{PINS['HYDRA_VERSION']}",
    }


def test_the_image_is_built_on_the_pinned_python() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert f"ARG PYTHON_IMAGE=python:{PINS['PYTHON_VERSION']}-slim-bookworm\n" in dockerfile
    # mypy and requires-python name the same minor, the oldest the code must run on.
    minor = ".".join(PINS["PYTHON_VERSION"].split(".")[:2])
    pyproject = (REPO / "pyproject.toml").read_text()
    assert f'requires-python = ">={minor}"' in pyproject
    assert f'python_version = "{minor}"' in pyproject


def test_the_collector_manifest_is_one_release() -> None:
    manifest = (REPO / "collector/builder-config.yaml").read_text()
    assert yaml.safe_load(manifest)["dist"]["version"] == PINS["OTELCOL_VERSION"]
    v0_modules = re.findall(r"gomod: (\S+) (v0\.\S+)", manifest)
    assert len(v0_modules) >= 5, v0_modules
    assert {version for _, version in v0_modules} == {f"v{PINS['OTELCOL_VERSION']}"}


def test_local_and_chart_run_the_same_majors() -> None:
    assert versions.major(PINS["POSTGRES_LOCAL_VERSION"]) == versions.major(
        PINS["POSTGRES_VERSION"]
    )
    # github.com/prometheus/prometheus numbers Prometheus v3.Y.Z as v0.3YY.Z.
    major, minor, patch = (int(part) for part in PINS["PROMETHEUS_VERSION"].split("."))
    assert PINS["PROMETHEUS_MODULE_VERSION"] == f"v0.{major}{minor:02d}.{patch}"


def built(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path.relative_to(REPO)} not built: make telemetry-tools postgres-server")
    return path


def go_module_version(binary: Path, module: str) -> str:
    """The version of `module` that `go version -m` finds compiled into the binary."""
    info = subprocess.run(
        ["go", "version", "-m", str(built(binary))], capture_output=True, text=True, check=True
    ).stdout
    found = re.search(rf"^\s+(?:mod|dep)\s+{re.escape(module)}\s+(\S+)", info, re.MULTILINE)
    assert found, f"{module} not in {binary.name}:\n{info[:2000]}"
    return found.group(1)


@pytest.mark.parametrize("binary", ["prometheus", "promtool"])
def test_local_prometheus_is_the_charts_release(binary: str) -> None:
    # Built as the main module (its go.mod has replace directives), so `go version -m` reads
    # (devel); make stamps the version the module's own VERSION file names.
    version = subprocess.run(
        [str(built(TOOLS / "bin" / binary)), "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"version {PINS['PROMETHEUS_VERSION']} " in version.stdout + version.stderr


def test_local_collector_is_the_charts_release() -> None:
    module = (
        "github.com/open-telemetry/opentelemetry-collector-contrib/connector/spanmetricsconnector"
    )
    assert go_module_version(TOOLS / "bin/otelcol-shop", module) == f"v{PINS['OTELCOL_VERSION']}"


def test_local_jaeger_is_the_charts_release() -> None:
    # Built as the main module from the module cache, so `go version -m` reads (devel); the
    # version it reports is the release make stamps from versions.env.
    jaeger = built(TOOLS / "bin/jaeger")
    reported = subprocess.run([str(jaeger), "version"], capture_output=True, text=True, check=True)
    assert f'"gitVersion":"v{PINS["JAEGER_VERSION"]}"' in reported.stdout.replace(" ", "")


def test_local_postgres_has_the_charts_major() -> None:
    version = PINS["POSTGRES_LOCAL_VERSION"]
    postgres = built(TOOLS / f"postgresql-{version}/bin/postgres")
    reported = subprocess.run([str(postgres), "--version"], capture_output=True, text=True).stdout
    major, minor, _ = version.split(".")
    assert reported.strip() == f"postgres (PostgreSQL) {major}.{minor}"
    assert major == versions.major(PINS["POSTGRES_VERSION"])
