"""One settings path per service process, and one written version."""

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from order.settings import OrderSettings
from shopkit.app import VERSION

REPO = Path(__file__).resolve().parents[2]
# The OpenTelemetry SDK's own OTEL_* variables are read where telemetry is set up, as the SDK
# reads them: operators change them without code (shopkit/telemetry.py).
READS_OTEL_VARIABLES = {"shopkit/telemetry.py"}


def test_the_version_is_written_once_in_pyproject() -> None:
    written = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    chart = yaml.safe_load((REPO / "deploy/helm/shop/Chart.yaml").read_text())
    assert written == VERSION  # as the installed package's metadata says
    assert chart["appVersion"] == written


def test_services_read_the_environment_only_through_their_settings() -> None:
    services = REPO / "services"
    reads = {
        str(path.relative_to(services))
        for package in ("shopkit", "order", "inventory", "pricing")
        for path in (services / package).rglob("*.py")
        if re.search(r"os\.environ|getenv\(", path.read_text())
    }
    assert reads == READS_OTEL_VARIABLES


def test_a_key_is_kept_longer_than_the_lease_of_its_claim() -> None:
    identity = {"oidc_issuer": "http://127.0.0.1:9", "oidc_client_secret": "unused"}
    OrderSettings(**identity, idempotency_key_retention_seconds=21)  # the lease is 20 s

    with pytest.raises(ValidationError, match="IDEMPOTENCY_KEY_RETENTION_SECONDS"):
        OrderSettings(**identity, idempotency_key_retention_seconds=20)
