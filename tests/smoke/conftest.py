"""Smoke tests against a running stack, local or in a cluster, found through URLs.

SHOP_BASE_URL (the order service), JAEGER_URL and PROMETHEUS_URL name the stack; GRAFANA_URL,
with the admin password in GRAFANA_PASSWORD_FILE, adds the Grafana checks. Without
SHOP_BASE_URL there is no stack to test and the suite is skipped.

The order API takes a customer's access token: SHOP_TOKEN if set, else one for the customer
`smoke-test` from the stack's ORY Hydra (OIDC_ISSUER and HYDRA_ADMIN_URL, by default the ports
of `make run`) by the sign-in flow of devtools/stack/hydra.py.
"""

import os
from pathlib import Path

import pytest

from devtools.stack import hydra
from tests.smoke.target import Target


@pytest.fixture(scope="session")
def target() -> Target:
    shop = os.environ.get("SHOP_BASE_URL")
    if not shop:
        pytest.skip("SHOP_BASE_URL is not set: no stack to smoke-test (make smoke sets it)")
    password_file = os.environ.get("GRAFANA_PASSWORD_FILE")
    token = os.environ.get("SHOP_TOKEN") or hydra.customer_token(
        os.environ.get("OIDC_ISSUER", "http://127.0.0.1:4444").rstrip("/"),
        os.environ.get("HYDRA_ADMIN_URL", "http://127.0.0.1:4445").rstrip("/"),
        "smoke-test",
    )
    return Target(
        shop=shop.rstrip("/"),
        token=token,
        jaeger=os.environ.get("JAEGER_URL", "http://localhost:16686").rstrip("/"),
        prometheus=os.environ.get("PROMETHEUS_URL", "http://localhost:9090").rstrip("/"),
        grafana=os.environ.get("GRAFANA_URL"),
        grafana_password=Path(password_file).read_text().strip() if password_file else None,
    )
