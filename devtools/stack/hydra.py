"""ORY Hydra, the OpenID Connect provider of the local stack, and the OAuth2 flows that get its
tokens: a customer's (authorization code with PKCE, the login and consent answered through
Hydra's admin API, as a login page would), the admin's and the order service's (client
credentials).

Built by `make hydra` into .tools/bin at HYDRA_VERSION (versions.env). It keeps everything in
memory (DSN=memory): every start makes new signing keys and registers the clients again with new
secrets, so the tokens of a previous run no longer verify. Both of its listeners are on loopback;
its admin API has no authentication of its own, which is why it must never leave loopback.
"""

import base64
import hashlib
import json
import secrets
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Self
from urllib.parse import parse_qs, urlsplit

import httpx
import yaml

from devtools.stack import processes
from devtools.stack.processes import HOST, free_ports

BINARY = "hydra"

# What each token is for. An access token names the services it is meant for in `aud`; each
# service accepts only tokens meant for itself (shopkit/identity.py), so the order service's token
# for inventory cannot be replayed to pricing, nor a customer's to either.
ORDER_AUDIENCE = "order"
SERVICE_AUDIENCES = ("order", "inventory", "pricing")
CUSTOMER_SCOPE = "orders"
ADMIN_SCOPE = "admin"

# The OAuth2 clients the stack registers: the shop's front end (customers sign in through it), the
# operator's admin client, and the order service calling inventory and pricing.
WEB_CLIENT = "shop-web"
ADMIN_CLIENT = "shop-admin"
ORDER_CLIENT = "order-service"
# Where Hydra sends the browser with the code. Nothing serves it: the flow reads the code off the
# redirect, as the front end's page would.
REDIRECT_PATH = "/callback"


@dataclass(frozen=True)
class Ports:
    public: int = 4444  # Hydra's defaults: the issuer (token, authorize, JWKS, discovery)
    admin: int = 4445  # clients, login and consent; loopback only

    @classmethod
    def free(cls) -> Self:
        return cls(*free_ports(2))


@dataclass(frozen=True)
class Clients:
    """The registered clients' secrets, written where the token CLI finds them (mode 0600)."""

    admin_secret: str
    order_secret: str

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> Self:
        return cls(**json.loads(path.read_text()))


def missing(root: Path) -> bool:
    return not (root / ".tools" / "bin" / BINARY).exists()


@dataclass
class Hydra:
    """One Hydra process with the shop's clients registered; `clients` is set by `start`."""

    root: Path
    workdir: Path
    ports: Ports = field(default_factory=Ports)
    process: subprocess.Popen[bytes] | None = None
    clients: Clients | None = None
    # Tokens already issued, by whom they are for, until shortly before they expire: a test
    # suite or a load run signs each customer in once, not once per request.
    _issued: dict[str, tuple[str, float]] = field(default_factory=dict, repr=False)

    @property
    def issuer(self) -> str:
        return f"http://{HOST}:{self.ports.public}"

    @property
    def admin_url(self) -> str:
        return f"http://{HOST}:{self.ports.admin}"

    @property
    def clients_file(self) -> Path:
        return self.workdir / "clients.json"

    def config(self) -> dict[str, object]:
        return {
            "dsn": "memory",
            "serve": {
                "public": {"host": HOST, "port": self.ports.public},
                "admin": {"host": HOST, "port": self.ports.admin},
                "cookies": {"same_site_mode": "Lax"},
            },
            "urls": {
                "self": {"issuer": self.issuer},
                # The login and consent pages a real deployment serves; here the flow below
                # answers them through the admin API, so nothing listens there.
                "login": f"{self.issuer}/login",
                "consent": f"{self.issuer}/consent",
            },
            "secrets": {"system": [secrets.token_urlsafe(32)]},
            # Access tokens as JWTs (RFC 9068), which each service verifies on its own with the
            # issuer's keys instead of asking Hydra about every request; the scopes as one
            # space-separated `scope` claim, as RFC 9068 has it.
            "strategies": {"access_token": "jwt", "jwt": {"scope_claim": "string"}},
            "ttl": {"access_token": "1h"},
            "log": {"level": "warn"},
        }

    def start(self, timeout: float = 30) -> None:
        """Start Hydra, wait until it is ready, register the clients and save their secrets."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "hydra.yaml"
        config.write_text(yaml.safe_dump(self.config()))
        config.chmod(0o600)
        argv = [str(self.root / ".tools" / "bin" / BINARY), "serve", "all"]
        # --dev: plain HTTP on loopback (Hydra refuses an http:// issuer otherwise).
        # --sqa-opt-out: no usage reports to Ory's servers; nothing leaves this machine.
        argv += ["--dev", "--sqa-opt-out", "--config", str(config)]
        self.process = processes.start(argv, self.workdir / "hydra.log")
        try:
            ready = f"{self.admin_url}/health/ready"
            processes.wait_healthy("hydra", self.process, ready, timeout)
            self.clients = self.register_clients()
            # Hydra makes its signing keys at the first token it issues (an RSA 4096 key pair,
            # about a second): make them now, not in the first request that needs a token.
            admin_token(self.issuer, self.clients, ORDER_AUDIENCE)
        except BaseException as exc:
            self.stop()
            exc.add_note(f"see {self.workdir / 'hydra.log'}")
            raise
        self.clients.save(self.clients_file)

    def stop(self) -> None:
        if self.process is not None:
            processes.stop(self.process)

    def register_clients(self) -> Clients:
        clients = Clients(secrets.token_urlsafe(32), secrets.token_urlsafe(32))
        web = {
            "client_id": WEB_CLIENT,
            # A public client (a browser app holds no secret): PKCE instead.
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "scope": f"openid {CUSTOMER_SCOPE}",
            "audience": [ORDER_AUDIENCE],
            "redirect_uris": [f"{self.issuer}{REDIRECT_PATH}"],
        }
        admin = {
            "client_id": ADMIN_CLIENT,
            "client_secret": clients.admin_secret,
            "grant_types": ["client_credentials"],
            "scope": ADMIN_SCOPE,
            "audience": list(SERVICE_AUDIENCES),
        }
        order = {
            "client_id": ORDER_CLIENT,
            "client_secret": clients.order_secret,
            "grant_types": ["client_credentials"],
            "scope": "",
            "audience": ["inventory", "pricing"],
        }
        with httpx.Client(base_url=self.admin_url, timeout=10) as admin_api:
            for client in (web, admin, order):
                response = admin_api.post("/admin/clients", json=client)
                response.raise_for_status()
        return clients

    def service_env(self, service: str) -> dict[str, str]:
        """What a service runs with to verify tokens (and the order service to get its own)."""
        if service != "order":
            return {"OIDC_ISSUER": self.issuer}
        assert self.clients is not None, "start() first"
        return {
            "OIDC_ISSUER": self.issuer,
            "OIDC_CLIENT_ID": ORDER_CLIENT,
            "OIDC_CLIENT_SECRET": self.clients.order_secret,
        }

    def admin_token(self, audience: str) -> str:
        """The operator's token for one service's admin routes."""
        clients = self.clients
        assert clients is not None, "start() first"
        return self._reuse(f"admin {audience}", lambda: admin_token(self.issuer, clients, audience))

    def customer_token(self, subject: str) -> str:
        """A customer's token for the order API."""
        return self._reuse(
            f"customer {subject}", lambda: customer_token(self.issuer, self.admin_url, subject)
        )

    def _reuse(self, whose: str, issue: Callable[[], str]) -> str:
        token, until = self._issued.get(whose, ("", 0.0))
        if time.monotonic() >= until:
            token = issue()
            # The access tokens live an hour (config above); give each up ten minutes early.
            self._issued[whose] = (token, time.monotonic() + 50 * 60)
        return token


class TokenError(RuntimeError):
    """The provider refused a step of a flow; the message says which and why."""


def _expect(response: httpx.Response, status: int | tuple[int, ...], step: str) -> httpx.Response:
    if response.status_code not in (status if isinstance(status, tuple) else (status,)):
        raise TokenError(f"{step}: {response.status_code} {response.text[:300]}")
    return response


def _query(url: str, name: str, step: str) -> str:
    values = parse_qs(urlsplit(url).query).get(name)
    if not values:
        raise TokenError(f"{step}: no {name} in {url}")
    return values[0]


def client_credentials(
    issuer: str, client_id: str, secret: str, audience: str, scope: str = ""
) -> dict[str, object]:
    """A client's own token for one audience (RFC 6749 4.4): the token response."""
    form = {"grant_type": "client_credentials", "audience": audience, "scope": scope}
    response = httpx.post(f"{issuer}/oauth2/token", data=form, auth=(client_id, secret), timeout=10)
    token: dict[str, object] = _expect(response, 200, "client credentials").json()
    return token


def customer_token(issuer: str, admin_url: str, subject: str) -> str:
    """An access token for the order API on behalf of `subject`, by the authorization code flow
    with PKCE (RFC 7636) of the shop's front end; this function plays the browser, and answers
    the login and consent requests through Hydra's admin API as a login page would once the
    customer has signed in."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    redirect_uri = f"{issuer}{REDIRECT_PATH}"
    state = secrets.token_urlsafe(16)
    with (
        httpx.Client(timeout=10) as browser,
        httpx.Client(base_url=admin_url, timeout=10) as admin,
    ):
        response = browser.get(
            f"{issuer}/oauth2/auth",
            params={
                "client_id": WEB_CLIENT,
                "response_type": "code",
                "scope": f"openid {CUSTOMER_SCOPE}",
                "audience": ORDER_AUDIENCE,
                "redirect_uri": redirect_uri,
                "state": state,
                "code_challenge": challenge.rstrip(b"=").decode(),
                "code_challenge_method": "S256",
            },
        )
        to_login = _expect(response, (302, 303), "authorize").headers["location"]
        login_challenge = _query(to_login, "login_challenge", "authorize")
        response = admin.put(
            "/admin/oauth2/auth/requests/login/accept",
            params={"login_challenge": login_challenge},
            json={"subject": subject},
        )
        back = _expect(response, 200, "accept login").json()["redirect_to"]
        response = browser.get(back)
        to_consent = _expect(response, (302, 303), "after login").headers["location"]
        consent_challenge = _query(to_consent, "consent_challenge", "after login")
        response = admin.get(
            "/admin/oauth2/auth/requests/consent", params={"consent_challenge": consent_challenge}
        )
        asked = _expect(response, 200, "consent request").json()
        response = admin.put(
            "/admin/oauth2/auth/requests/consent/accept",
            params={"consent_challenge": consent_challenge},
            json={
                "grant_scope": asked["requested_scope"],
                "grant_access_token_audience": asked["requested_access_token_audience"],
            },
        )
        back = _expect(response, 200, "accept consent").json()["redirect_to"]
        response = browser.get(back)
        to_app = _expect(response, (302, 303), "after consent").headers["location"]
        if _query(to_app, "state", "after consent") != state:
            raise TokenError("after consent: the state came back changed")
        code = _query(to_app, "code", "after consent")
        response = browser.post(
            f"{issuer}/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "client_id": WEB_CLIENT,
                "code_verifier": verifier,
            },
        )
        token: str = _expect(response, 200, "code exchange").json()["access_token"]
        return token


def admin_token(issuer: str, clients: Clients, audience: str) -> str:
    """The operator's token for one service's admin routes."""
    token = client_credentials(issuer, ADMIN_CLIENT, clients.admin_secret, audience, ADMIN_SCOPE)
    return str(token["access_token"])
