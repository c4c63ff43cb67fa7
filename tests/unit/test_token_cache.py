"""Verified tokens are remembered for a minute at most: a token under a key the issuer withdrew
stops verifying once that minute is over. Keys from a real JWKS endpoint on loopback; the
verifier's clock is the test's."""

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from shopkit.identity import (
    REFETCH_INTERVAL_SECONDS,
    VERIFIED_MAX_AGE_SECONDS,
    InvalidToken,
    TokenVerifier,
)

ISSUER = "http://issuer.invalid"


class Issuer:
    """Signing keys by id, and a JWKS endpoint publishing the ones in `published`."""

    def __init__(self) -> None:
        self.keys = {kid: rsa.generate_private_key(65537, 2048) for kid in ("a", "b")}
        self.published = ["a"]

    def key_set(self) -> dict[str, Any]:
        keys = []
        for kid in self.published:
            jwk = json.loads(RSAAlgorithm.to_jwk(self.keys[kid].public_key()))
            keys.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})
        return {"keys": keys}

    def token(self, kid: str, subject: str = "order-service") -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": "inventory", "sub": subject, "iat": now, "exp": now + 600}
        return jwt.encode(claims, self.keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def issuer() -> Iterator[tuple[Issuer, str]]:
    keys = Issuer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(keys.key_set()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield keys, f"http://127.0.0.1:{server.server_address[1]}/jwks"
    server.shutdown()
    server.server_close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_withdrawn_key_s_token_is_trusted_at_most_a_minute_longer(
    issuer: tuple[Issuer, str],
) -> None:
    keys, jwks_url = issuer
    clock = Clock()
    verifier = TokenVerifier(ISSUER, "inventory", jwks_url, leeway=0, clock=clock)
    try:
        token = keys.token("a")
        assert (await verifier.verify(token)).subject == "order-service"

        # The issuer withdraws key a for key b, and the verifier learns of it: a token under the
        # new key makes it fetch the key set again (allowed once the refetch interval is over).
        keys.published = ["b"]
        clock.now += REFETCH_INTERVAL_SECONDS + 1
        assert (await verifier.verify(keys.token("b", "admin"))).subject == "admin"
        # Verified less than a minute ago: still trusted, though its key is gone...
        assert (await verifier.verify(token)).subject == "order-service"
        # ...and checked again once the minute is over: refused.
        clock.now += VERIFIED_MAX_AGE_SECONDS
        with pytest.raises(InvalidToken, match="no key 'a'"):
            await verifier.verify(token)
    finally:
        await verifier.aclose()


async def test_a_token_never_verified_is_checked_whatever_is_remembered(
    issuer: tuple[Issuer, str],
) -> None:
    keys, jwks_url = issuer
    verifier = TokenVerifier(ISSUER, "inventory", jwks_url, leeway=0, clock=Clock())
    try:
        token = keys.token("a")
        await verifier.verify(token)
        header, _, signature = token.split(".")
        # Another subject under the remembered token's signature: not the same token.
        forged_claims = jwt.decode(token, options={"verify_signature": False}) | {"sub": "root"}
        forged_payload = base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).decode()
        with pytest.raises(InvalidToken, match="Signature verification failed"):
            await verifier.verify(f"{header}.{forged_payload}.{signature}")
    finally:
        await verifier.aclose()
