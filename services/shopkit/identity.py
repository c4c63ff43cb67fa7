"""Who is calling: the access token of the OpenID Connect provider, verified by each service.

A request carries `Authorization: Bearer <JWT access token>` (RFC 9068). A service accepts it
when the issuer's key signed it (keys from the issuer's JWKS, cached), it comes from the
configured issuer, it is meant for this service (`aud`), and it is within its lifetime. The
caller is the token's subject: the customer for a token from the sign-in flow, the client for
one from client credentials (the operator's admin client, the order service).

Missing or bad tokens are a 401 with `WWW-Authenticate: Bearer` (RFC 6750); a valid token without
the scope a route needs is a 403 naming it.
"""

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from opentelemetry import trace

from shopkit.problems import Problem

log = logging.getLogger(__name__)

# Asymmetric signatures only: a symmetric algorithm would let anyone who knows a public key
# sign with it (the RS256/HS256 confusion).
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
# A token's key id unknown to the cached key set makes us fetch the set again (the issuer
# rotated its keys), but not more often than this: forged key ids must not make every request
# a call to the provider.
REFETCH_INTERVAL_SECONDS = 30.0
# How long a key set is used without asking again, so a key the issuer withdrew stops verifying.
KEYS_MAX_AGE_SECONDS = 600.0
# A verified token is trusted again without its signature checked for this long (and never past
# its expiry): the same customer's or service's token arrives many times a minute, and checking
# an RS256 signature costs 174 us (docs/identity.md). Short, so that a withdrawn key's tokens
# stop verifying at most this much later than the key set says.
VERIFIED_MAX_AGE_SECONDS = 60.0
# Tokens remembered at most; past it, the expired ones are dropped, or all if none has expired.
VERIFIED_MAX_TOKENS = 10_000

_bearer = HTTPBearer(auto_error=False, description="An access token of the OIDC provider")


@dataclass(frozen=True)
class Caller:
    """A verified token's subject, its client and the scopes granted to it."""

    subject: str
    client_id: str | None
    scopes: frozenset[str]


class InvalidToken(Exception):
    """The token is not one this service accepts; the message says why (for the caller)."""


class TokenVerifier:
    """Verifies access tokens of one issuer for one audience, with the issuer's keys cached, and
    the tokens it verified remembered for a minute."""

    def __init__(
        self,
        issuer: str,
        audience: str,
        jwks_url: str | None,
        leeway: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self._jwks_url = jwks_url
        self._leeway = leeway
        self._clock = clock
        self._keys: jwt.PyJWKSet | None = None
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        self._http = httpx.AsyncClient(timeout=5.0)
        # token -> (its caller, until when on self._clock it is trusted without a check)
        self._verified: dict[str, tuple[Caller, float]] = {}

    async def aclose(self) -> None:
        await self._http.aclose()

    async def verify(self, token: str) -> Caller:
        now = self._clock()
        known = self._verified.get(token)
        if known is not None and now < known[1]:
            return known[0]
        caller, expires_in = await self._check(token)
        if len(self._verified) >= VERIFIED_MAX_TOKENS:
            self._forget_expired(now)
        self._verified[token] = (caller, now + min(VERIFIED_MAX_AGE_SECONDS, expires_in))
        return caller

    def _forget_expired(self, now: float) -> None:
        self._verified = {token: known for token, known in self._verified.items() if now < known[1]}
        if len(self._verified) >= VERIFIED_MAX_TOKENS:
            self._verified.clear()

    async def _check(self, token: str) -> tuple[Caller, float]:
        """The token's caller, and how many seconds it stays valid."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"malformed token: {exc}") from exc
        key = await self._key(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                # The key's algorithm, never the one the token's header asks for.
                algorithms=[key.algorithm_name],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        scope = claims.get("scope", "")
        caller = Caller(
            subject=str(claims["sub"]),
            client_id=claims.get("client_id"),
            scopes=frozenset(scope.split() if isinstance(scope, str) else ()),
        )
        return caller, float(claims["exp"]) + self._leeway - time.time()

    async def _key(self, kid: str | None) -> jwt.PyJWK:
        keys = self._keys
        stale = self._clock() - self._fetched_at > KEYS_MAX_AGE_SECONDS
        if keys is None or stale or not _holds(keys, kid):
            keys = await self._refresh(kid)
        if not _holds(keys, kid):
            raise InvalidToken(f"no key {kid!r} in the issuer's key set")
        return keys[kid] if kid else keys.keys[0]

    async def _refresh(self, kid: str | None) -> jwt.PyJWKSet:
        # One fetch at a time: requests that arrive together with a new key id wait for it.
        async with self._lock:
            keys = self._keys
            recent = self._clock() - self._fetched_at < REFETCH_INTERVAL_SECONDS
            if keys is not None and (_holds(keys, kid) or recent):
                return keys
            try:
                keys = jwt.PyJWKSet.from_dict(await self._fetch_key_set())
            except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
                if self._keys is None:
                    raise Problem(
                        503,
                        "dependency-unavailable",
                        "Dependency unavailable",
                        f"the token issuer's keys are unavailable: {exc}",
                        headers={"Retry-After": "1"},
                        dependency="oidc-issuer",
                    ) from exc
                log.warning("keeping the cached keys of %s: %s", self.issuer, exc)
                keys = self._keys
            self._keys = keys
            self._fetched_at = self._clock()
            return keys

    async def _fetch_key_set(self) -> dict[str, Any]:
        if self._jwks_url is None:
            # OpenID Connect Discovery: the issuer names where its keys are.
            response = await self._http.get(f"{self.issuer}/.well-known/openid-configuration")
            response.raise_for_status()
            self._jwks_url = str(response.json()["jwks_uri"])
        response = await self._http.get(self._jwks_url)
        response.raise_for_status()
        key_set: dict[str, Any] = response.json()
        return key_set


def _holds(keys: jwt.PyJWKSet, kid: str | None) -> bool:
    if kid is None:
        return len(keys.keys) == 1
    return any(key.key_id == kid for key in keys.keys)


def _unauthorized(detail: str, error: str | None = None) -> Problem:
    challenge = 'Bearer realm="shop"'
    if error:
        challenge += f', error="{error}"'
    return Problem(
        401, "unauthorized", "Unauthorized", detail, headers={"WWW-Authenticate": challenge}
    )


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """The verified caller of this request; 401 when the token is missing or not accepted."""
    if credentials is None:
        raise _unauthorized("this route needs Authorization: Bearer <access token>")
    verifier: TokenVerifier = request.app.state.token_verifier
    try:
        caller = await verifier.verify(credentials.credentials)
    except InvalidToken as exc:
        raise _unauthorized(f"invalid access token: {exc}", "invalid_token") from exc
    return caller


CallerDep = Annotated[Caller, Depends(authenticate)]


def forbidden(detail: str, scope: str | None = None) -> Problem:
    challenge = 'Bearer realm="shop", error="insufficient_scope"'
    if scope:
        challenge += f', scope="{scope}"'
    return Problem(403, "forbidden", "Forbidden", detail, headers={"WWW-Authenticate": challenge})


async def require_admin(request: Request, caller: CallerDep) -> Caller:
    """A caller granted the admin scope; every admin write is logged with who made it."""
    scope = request.app.state.settings.oidc_admin_scope
    if scope not in caller.scopes:
        raise forbidden(f"this route needs the {scope} scope", scope)
    if request.method not in ("GET", "HEAD"):
        # Who changed stock, prices or a fault scenario: the admin is a client (client
        # credentials), not a person. Not as `enduser.id`: the Collector deletes `enduser.*`,
        # personal data when the caller is a person (README, Telemetry).
        trace.get_current_span().set_attribute("shop.admin.client_id", caller.subject)
        log.info(
            "admin write by %s: %s %s",
            caller.subject,
            request.method,
            request.url.path,
        )
    return caller


AdminCaller = Annotated[Caller, Depends(require_admin)]
AdminDep = Depends(require_admin)


def is_trusted_service(caller: Caller, trusted_callers: Collection[str]) -> bool:
    """Whether the caller is one of the trusted services, by a token it got for itself (client
    credentials: its subject is its own client id). A token some client got on behalf of a user
    (RFC 9068: `client_id` the app, `sub` the user) is never a service's, even for a user who
    signed up under a service's name."""
    return caller.subject in trusted_callers and caller.client_id == caller.subject


async def require_trusted_service(request: Request, caller: CallerDep) -> Caller:
    """A service this one takes business calls from (OIDC_TRUSTED_CALLERS: the order service),
    proven by its own token for this service; a network rule alone proves nothing."""
    if not is_trusted_service(caller, request.app.state.settings.oidc_trusted_callers):
        raise forbidden(f"{caller.subject} may not call this route")
    return caller


async def require_trusted_service_or_admin(request: Request, caller: CallerDep) -> Caller:
    """Reads that the order service makes and an operator may make too."""
    settings = request.app.state.settings
    trusted = is_trusted_service(caller, settings.oidc_trusted_callers)
    if not trusted and settings.oidc_admin_scope not in caller.scopes:
        raise forbidden(f"this route needs the {settings.oidc_admin_scope} scope")
    return caller


TrustedServiceDep = Depends(require_trusted_service)
TrustedServiceOrAdminDep = Depends(require_trusted_service_or_admin)
