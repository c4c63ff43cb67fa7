"""The order service's own identity towards inventory and pricing: an access token for each
callee (`aud` is the callee's name), which the callee verifies like any other
(shopkit/identity.py) and accepts business calls with only from the order service.

Two sources, chosen by the settings:
- client credentials at the OpenID Connect provider (OIDC_CLIENT_ID, OIDC_CLIENT_SECRET): the
  local stack and the tests, with ORY Hydra;
- files the platform keeps fresh, one per audience in SERVICE_TOKEN_DIR: in Kubernetes,
  projected service-account tokens with the callee as audience (the kubelet rotates them), so
  no secret is stored anywhere.

Each token is kept until shortly before it expires, and `keep_tokens_fresh` renews it ahead of
that in the background, so a request waits for the issuer only if the background could not.
"""

import asyncio
import logging
import time
from pathlib import Path

import httpx
from fastapi import FastAPI

from order.settings import OrderSettings

log = logging.getLogger(__name__)

# A request renews a token this long before it expires, so that no call carries one about to
# expire; the background renews it earlier still.
RENEW_BEFORE_SECONDS = 60.0
RENEW_AHEAD_SECONDS = 120.0
RENEW_CHECK_SECONDS = 5.0
# A projected token file is read again this often (the kubelet replaces it well before expiry).
REREAD_FILE_SECONDS = 60.0
CALLEES = ("inventory", "pricing")


class CredentialsUnavailable(Exception):
    """No token could be had for a callee; the message says why."""


class ServiceCredentials:
    """Tokens for the callees, by audience; `token` is what shopkit.http.ServiceClient asks."""

    def __init__(self, settings: OrderSettings) -> None:
        self._issuer = settings.oidc_issuer.rstrip("/")
        self._client_id = settings.oidc_client_id
        secret = settings.oidc_client_secret
        self._secret = secret.get_secret_value() if secret else None
        self._token_dir = settings.service_token_dir
        self._token_endpoint: str | None = None
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = asyncio.Lock()

    async def token(
        self, client: httpx.AsyncClient, audience: str, renew_before: float = RENEW_BEFORE_SECONDS
    ) -> str:
        """A token for `audience` valid for at least `renew_before` seconds more."""
        token, expires_at = self._tokens.get(audience, ("", 0.0))
        if time.monotonic() < expires_at - renew_before:
            return token
        async with self._lock:  # one request for a token at a time, the others wait for it
            token, expires_at = self._tokens.get(audience, ("", 0.0))
            if time.monotonic() >= expires_at - renew_before:
                if self._token_dir is not None:
                    token, expires_at = self._read(self._token_dir / audience)
                else:
                    token, expires_at = await self._request(client, audience)
                self._tokens[audience] = (token, expires_at)
            return token

    def _read(self, path: Path) -> tuple[str, float]:
        try:
            token = path.read_text().strip()
        except OSError as exc:
            raise CredentialsUnavailable(f"no service token at {path}: {exc}") from exc
        # Not its real expiry (the kubelet keeps the file fresh): when to read it again.
        return token, time.monotonic() + RENEW_AHEAD_SECONDS + REREAD_FILE_SECONDS

    async def _request(self, client: httpx.AsyncClient, audience: str) -> tuple[str, float]:
        assert self._secret is not None  # the settings require one of the two sources
        if self._token_endpoint is None:
            discovery = await client.get(f"{self._issuer}/.well-known/openid-configuration")
            discovery.raise_for_status()
            self._token_endpoint = str(discovery.json()["token_endpoint"])
        response = await client.post(
            self._token_endpoint,
            data={"grant_type": "client_credentials", "audience": audience},
            auth=(self._client_id, self._secret),
        )
        if response.status_code != 200:
            raise CredentialsUnavailable(
                f"the issuer refused a token for {audience}: {response.status_code}"
            )
        granted = response.json()
        return str(granted["access_token"]), time.monotonic() + float(granted["expires_in"])


async def keep_tokens_fresh(app: FastAPI) -> None:
    """Get the tokens for the callees at start-up and renew each ahead of its expiry, so that
    requests find a valid one (a background task of the order service)."""
    credentials: ServiceCredentials = app.state.credentials
    # A client of its own, not the app's instrumented one: a renewal an hour, outside any
    # request, is no trace anyone looks for (a failure is logged).
    async with httpx.AsyncClient(timeout=5.0) as client:
        while True:
            for audience in CALLEES:
                try:
                    await credentials.token(client, audience, RENEW_AHEAD_SECONDS)
                except (httpx.HTTPError, CredentialsUnavailable) as exc:
                    log.warning("no token for %s yet: %s", audience, exc)
            await asyncio.sleep(RENEW_CHECK_SECONDS)
