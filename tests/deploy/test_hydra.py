"""The chart's bundled ORY Hydra, run for real: its Deployment's migration and `serve` command
with the rendered environment, then its client registration Job's script, with the pinned
binary `make hydra` builds (.tools/bin/hydra, the version of the chart's image). Only the
addresses are moved to loopback; the tokens each client then gets are the ones the services
expect (the clients of devtools/stack/hydra.py, plus the helm test's)."""

import base64
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import jwt
import pytest

from devtools.stack import processes
from devtools.stack.postgres import DATABASE, USER, LocalPostgres
from devtools.stack.processes import HOST, free_ports
from devtools.stack.versions import REPO
from tests.deploy.test_chart import _one, render

TOOLS_BIN = REPO / ".tools" / "bin"


def _env(container: dict[str, Any], secrets: dict[str, dict[str, str]]) -> dict[str, str]:
    """A container's environment, its secretKeyRefs read from the rendered Secrets."""
    env = {}
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        else:
            ref = entry["valueFrom"]["secretKeyRef"]
            env[entry["name"]] = base64.b64decode(secrets[ref["name"]][ref["key"]]).decode()
    return env


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


@dataclass(frozen=True)
class BundledHydra:
    issuer: str
    admin: str
    job: dict[str, Any]  # the registration Job's container
    job_env: dict[str, str]
    # What a new pod does: stop the process, run the init container's migration, serve again.
    replace_pod: Callable[[], None]


def _store(postgres: LocalPostgres, dsn: str) -> str:
    """What the chart's PostgreSQL gives Hydra, in a database of this test's own: the role of
    the rendered DSN, with its password, owning schema `hydra` (the init script's part, run for
    real by test_postgres_roles.py). Returns the DSN with its address moved to loopback."""
    rendered = urlsplit(dsn)
    assert (rendered.scheme, rendered.username) == ("postgres", "hydra"), dsn
    database = "shop_bundled_hydra"
    psql = [str(postgres.bindir / "psql"), "-h", HOST, "-p", str(postgres.port), "-U", USER]
    statements = (
        f"CREATE DATABASE {database}",
        f"CREATE ROLE hydra LOGIN PASSWORD '{rendered.password}'",
        f"GRANT CONNECT ON DATABASE {database} TO hydra",
    )
    for sql in statements:
        subprocess.run([*psql, "-v", "ON_ERROR_STOP=1", "-c", sql, DATABASE], check=True)
    subprocess.run(
        [*psql, "-v", "ON_ERROR_STOP=1", "-c", "CREATE SCHEMA hydra AUTHORIZATION hydra", database],
        check=True,
    )
    netloc = f"hydra:{rendered.password}@{HOST}:{postgres.port}"
    return urlunsplit(rendered._replace(netloc=netloc, path=f"/{database}"))


@pytest.fixture(scope="module")
def hydra(
    tmp_path_factory: pytest.TempPathFactory, postgres: LocalPostgres
) -> Iterator[BundledHydra]:
    if not (TOOLS_BIN / "hydra").exists():
        pytest.skip("hydra not built: make hydra")
    manifests = render()
    secrets = {m["metadata"]["name"]: m["data"] for m in manifests if m["kind"] == "Secret"}
    pod = _one(manifests, "Deployment", "shop-hydra")["spec"]["template"]["spec"]
    [migrate] = pod["initContainers"]
    [server] = pod["containers"]
    [job] = _one(manifests, "Job", "shop-hydra-clients")["spec"]["template"]["spec"]["containers"]

    workdir = tmp_path_factory.mktemp("hydra")
    public, admin = free_ports(2)
    issuer, admin_url = f"http://{HOST}:{public}", f"http://{HOST}:{admin}"
    # The Services' addresses, PostgreSQL's and Hydra's, moved to this machine's loopback.
    loopback = {
        "DSN": _store(postgres, _env(migrate, secrets)["DSN"]),
        "SERVE_PUBLIC_HOST": HOST,
        "SERVE_PUBLIC_PORT": str(public),
        "SERVE_ADMIN_HOST": HOST,
        "SERVE_ADMIN_PORT": str(admin),
        "URLS_SELF_ISSUER": issuer,
        "TMPDIR": str(workdir),
    }
    binary = str(TOOLS_BIN / "hydra")
    pods: list[subprocess.Popen[bytes]] = []

    def start_pod() -> None:
        subprocess.run(
            [binary, *migrate["args"]],
            env={**os.environ, **_env(migrate, secrets), **loopback},
            check=True,
            capture_output=True,
        )
        log = workdir / f"hydra-{len(pods)}.log"
        pods.append(
            processes.start([binary, *server["args"]], log, _env(server, secrets) | loopback)
        )
        processes.wait_healthy("hydra", pods[-1], f"{admin_url}/health/ready", timeout=30)

    def replace_pod() -> None:
        processes.stop(pods[-1])
        start_pod()

    try:
        start_pod()
        job_env = {**_env(job, secrets), "ORY_SDK_URL": admin_url}
        yield BundledHydra(issuer, admin_url, job, job_env, replace_pod)
    finally:
        for pod in pods:
            processes.stop(pod)


def register(hydra: BundledHydra) -> list[str]:
    """Run the Job's container command as the pod would, the image's hydra on the PATH."""
    path = f"{TOOLS_BIN}{os.pathsep}{os.environ['PATH']}"
    result = subprocess.run(
        hydra.job["command"],
        env={**os.environ, **hydra.job_env, "PATH": path},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.splitlines()


def token(
    hydra: BundledHydra, client: str, secret: str, audience: str, scope: str
) -> httpx.Response:
    return httpx.post(
        f"{hydra.issuer}/oauth2/token",
        data={"grant_type": "client_credentials", "audience": audience, "scope": scope},
        auth=(client, secret),
        timeout=10,
    )


def test_the_job_registers_the_clients_the_services_expect(hydra: BundledHydra) -> None:
    # Install, then an upgrade against the same store: created once, then replaced.
    first, again = register(hydra), register(hydra)
    clients = ["shop-web", "shop-admin", "order-service", "helm-test"]
    assert first == [f"created {client}" for client in clients]
    assert again == [f"updated {client}" for client in clients]
    env = hydra.job_env

    # The operator: the admin scope at each of the three services.
    for audience in ("order", "inventory", "pricing"):
        granted = token(hydra, "shop-admin", env["ADMIN_CLIENT_SECRET"], audience, "admin")
        assert granted.status_code == 200, granted.text
        claims = _claims(granted.json()["access_token"])
        assert (claims["iss"], claims["sub"], claims["aud"], claims["scope"]) == (
            hydra.issuer,
            "shop-admin",
            [audience],
            "admin",
        )
    # The order service: a token for each service it calls (their OIDC_TRUSTED_CALLERS name its
    # subject), none for itself, no scope.
    order_secret = env["ORDER_CLIENT_SECRET"]
    for audience in ("inventory", "pricing"):
        granted = token(hydra, env["ORDER_CLIENT_ID"], order_secret, audience, "")
        assert granted.status_code == 200, granted.text
        claims = _claims(granted.json()["access_token"])
        assert (claims["sub"], claims["aud"], claims["scope"]) == ("order-service", [audience], "")
    assert token(hydra, "order-service", order_secret, "order", "").status_code == 400
    assert token(hydra, "order-service", order_secret, "inventory", "admin").status_code == 400

    # The helm test: the customer scope at the order service only, as customer `helm-test`.
    test_secret = env["TEST_CLIENT_SECRET"]
    granted = token(hydra, "helm-test", test_secret, "order", "orders")
    assert granted.status_code == 200, granted.text
    claims = _claims(granted.json()["access_token"])
    assert (claims["sub"], claims["aud"], claims["scope"]) == ("helm-test", ["order"], "orders")
    assert token(hydra, "helm-test", test_secret, "inventory", "orders").status_code == 400
    assert token(hydra, "helm-test", test_secret, "order", "admin").status_code == 400
    # A secret is checked, an upgrade did not change it.
    assert token(hydra, "shop-admin", "not-the-secret", "order", "admin").status_code == 401

    # The front end's public client: the sign-in flow with PKCE, at the values' redirect URIs.
    web = httpx.get(f"{hydra.admin}/admin/clients/shop-web", timeout=10).json()
    assert web["token_endpoint_auth_method"] == "none"
    assert (web["grant_types"], web["scope"], web["audience"]) == (
        ["authorization_code"],
        "openid orders",
        ["order"],
    )
    assert web["redirect_uris"] == [
        "http://shop-hydra:4444/callback",
        "http://127.0.0.1:4444/callback",
        "http://localhost:4444/callback",
    ]


def test_the_helm_test_finds_the_token_endpoint_at_the_issuer(hydra: BundledHydra) -> None:
    # The helm test reads the token endpoint from the discovery document, as it would at any
    # provider; Hydra's is on the issuer's own address.
    discovery = httpx.get(f"{hydra.issuer}/.well-known/openid-configuration", timeout=10).json()
    assert discovery["issuer"] == hydra.issuer
    assert discovery["token_endpoint"] == f"{hydra.issuer}/oauth2/token"
    keys = httpx.get(discovery["jwks_uri"], timeout=10).json()["keys"]
    assert keys and all(key["kty"] == "RSA" for key in keys)


def test_a_new_pod_keeps_the_clients_and_the_keys(hydra: BundledHydra) -> None:
    """The store is PostgreSQL, not the pod: what one Hydra pod registered and signed with, the
    next one still has, without the registration Job running again."""
    register(hydra)
    secret = hydra.job_env["ADMIN_CLIENT_SECRET"]
    before = token(hydra, "shop-admin", secret, "inventory", "admin").json()["access_token"]

    hydra.replace_pod()

    after = token(hydra, "shop-admin", secret, "inventory", "admin")
    assert after.status_code == 200, after.text
    # A token the old pod issued still verifies with the keys the new one publishes.
    keys = jwt.PyJWKSet.from_dict(
        httpx.get(f"{hydra.issuer}/.well-known/jwks.json", timeout=10).json()
    )
    signer = keys[jwt.get_unverified_header(before)["kid"]]
    claims = jwt.decode(before, signer, algorithms=["RS256"], audience="inventory")
    assert claims["sub"] == "shop-admin"
