"""Who may call what: access tokens of the real OpenID Connect provider (ORY Hydra), verified by
each service; the admin routes need the admin scope in a token meant for that service."""

import base64
import json
import time
import uuid
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from devtools.stack import hydra
from devtools.stack.hydra import Hydra
from devtools.stack.postgres import LocalPostgres
from devtools.stack.services import Services
from devtools.stack.versions import REPO
from tests.support.shop import (
    admin,
    as_customer,
    as_order_service,
    new_product,
    seed_database,
)
from tests.support.shop import idempotency_key as key


def put_stock(
    services: Services, headers: dict[str, str], sku: str = "SKU-00007"
) -> httpx.Response:
    return httpx.put(
        f"{services.url('inventory')}/stock/{sku}", json={"available": 1000}, headers=headers
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_admin_token_for_the_service_is_accepted(services: Services) -> None:
    response = put_stock(services, admin(services, "inventory"))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "case",
    ["no token", "not a JWT", "customer token", "admin token for pricing", "tampered"],
)
def test_a_token_not_for_this_service_is_a_401(services: Services, case: str) -> None:
    headers = {
        "no token": {},
        "not a JWT": bearer("not-a-token"),
        # A customer's token is meant for the order API (aud=order), not for inventory.
        "customer token": as_customer(services, "mallory"),
        # The admin scope, but meant for pricing: not replayable to inventory.
        "admin token for pricing": admin(services, "pricing"),
        "tampered": bearer(_with_claims(services.provider.admin_token("inventory"), sub="root")),
    }[case]
    response = put_stock(services, headers)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="shop"')
    assert ('error="invalid_token"' in challenge) == (case != "no token")


def test_a_token_signed_with_another_key_is_a_401(services: Services) -> None:
    """Everything right but the signature: our own key, under the issuer's key id."""
    real = services.provider.admin_token("inventory")
    header = jwt.get_unverified_header(real)
    claims = jwt.decode(real, options={"verify_signature": False})
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, forger, algorithm="RS256", headers={"kid": header["kid"]})
    assert put_stock(services, bearer(forged)).status_code == 401
    # And the same claims signed with no key at all ("alg": "none").
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": header["kid"]})
    assert put_stock(services, bearer(unsigned)).status_code == 401


def test_a_valid_token_without_the_admin_scope_is_a_403(services: Services) -> None:
    # The order service's own token for inventory: the right issuer and audience, no admin scope.
    response = put_stock(services, as_order_service(services, "inventory"))
    assert response.status_code == 403, response.text
    assert response.json()["type"].endswith("/forbidden")
    challenge = response.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="admin"' in challenge


@pytest.mark.parametrize(
    ("service", "scenario"),
    [("inventory", "errors"), ("pricing", "errors"), ("order", "sequential-fanout")],
)
def test_the_fault_scenarios_need_the_admin_scope(
    services: Services, service: str, scenario: str
) -> None:
    url = f"{services.url(service)}/admin/scenarios/{scenario}"
    switch = {"enabled": True}
    assert httpx.put(url, json=switch).status_code == 401
    # A customer, signed in properly, cannot cause an outage: their token is for the order API
    # only (401 elsewhere), and has no admin scope there (403).
    by_customer = httpx.put(url, json=switch, headers=as_customer(services, "mallory"))
    assert by_customer.status_code == (403 if service == "order" else 401)
    listed = httpx.get(f"{services.url(service)}/admin/scenarios", headers=admin(services, service))
    assert listed.status_code == 200
    assert listed.json()[scenario]["enabled"] is False


def test_every_admin_write_is_logged_with_who_made_it(services: Services) -> None:
    sku = f"LOG-{uuid.uuid4().hex[:8].upper()}"
    assert put_stock(services, admin(services, "inventory"), sku).status_code == 200
    log = services.logs / "inventory.log"
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    written = [line for line in lines if line["message"].endswith(f"PUT /stock/{sku}")]
    assert [line["message"] for line in written] == [
        f"admin write by {hydra.ADMIN_CLIENT}: PUT /stock/{sku}"
    ]


def test_an_empty_admin_token_no_longer_opens_the_admin_routes(
    postgres: LocalPostgres, oidc_provider: Hydra, logs_dir: Path
) -> None:
    """Before, ADMIN_TOKEN='' let a request with no Authorization header in (compare_digest of
    two empty strings); now the variable means nothing and only a token with the scope does."""
    database_url = postgres.create_database("shop_empty_admin")
    seed_database(database_url)
    stack = Services.on_free_ports(database_url, oidc_provider, logs_dir / "empty-admin")
    stack.env = {"ADMIN_TOKEN": ""}
    stack.start("inventory")
    try:
        response = put_stock(stack, {})
        assert response.status_code == 401, response.text
    finally:
        stack.stop()


def _with_claims(token: str, **claims: object) -> str:
    """The same token with some claims changed and the issuer's signature kept."""
    header, payload, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    decoded.update(claims, exp=int(time.time()) + 600)
    changed = base64.urlsafe_b64encode(json.dumps(decoded).encode()).rstrip(b"=").decode()
    return f"{header}.{changed}.{signature}"


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("nobody", 401),
        ("a customer", 401),  # their token is for the order API
        ("the admin", 403),  # a valid token for inventory, but not the order service's
        ("the order service", 201),
    ],
)
def test_only_the_order_service_reserves_and_releases_stock(
    services: Services, who: str, status: int
) -> None:
    headers = {
        "nobody": {},
        "a customer": as_customer(services, "mallory"),
        "the admin": admin(services, "inventory"),
        "the order service": as_order_service(services, "inventory"),
    }[who]
    order_id = str(uuid.uuid4())
    url = f"{services.url('inventory')}/reservations"
    items = [{"sku": "SKU-00003", "quantity": 1}]
    reserved = httpx.post(url, json={"order_id": order_id, "items": items}, headers=headers)
    assert reserved.status_code == status, reserved.text
    released = httpx.delete(f"{url}/{order_id}", headers=headers)
    assert released.status_code == (204 if status == 201 else status), released.text


def test_only_the_order_service_asks_pricing_for_quotes(services: Services) -> None:
    url = f"{services.url('pricing')}/quotes"
    body = {"items": [{"sku": "SKU-00003", "quantity": 1}]}
    assert httpx.post(url, json=body).status_code == 401
    assert httpx.post(url, json=body, headers=admin(services, "pricing")).status_code == 403
    # The order service's token for inventory is no good at pricing: one audience each.
    for_inventory = as_order_service(services, "inventory")
    assert httpx.post(url, json=body, headers=for_inventory).status_code == 401
    for_pricing = as_order_service(services, "pricing")
    assert httpx.post(url, json=body, headers=for_pricing).status_code == 200


def test_the_issuer_s_keys_are_cached(
    postgres: LocalPostgres, tmp_path: Path, logs_dir: Path
) -> None:
    """With its provider gone, a service still verifies the tokens it was issued: the keys were
    fetched once, not per request."""
    provider = Hydra(REPO, tmp_path / "hydra", hydra.Ports.free())
    provider.start()
    database_url = postgres.create_database("shop_cached_keys")
    seed_database(database_url)
    stack = Services.on_free_ports(database_url, provider, logs_dir / "cached-keys")
    try:
        stack.start("inventory")
        token = admin(stack, "inventory")
        assert put_stock(stack, token).status_code == 200
        provider.stop()
        assert [put_stock(stack, token).status_code for _ in range(3)] == [200, 200, 200]
        # A token it has no key for yet cannot be checked now: refused, not let through.
        _, payload, signature = token["Authorization"].split()[1].split(".")
        unknown_key = json.dumps({"alg": "RS256", "kid": "no-such-key", "typ": "JWT"}).encode()
        forged = base64.urlsafe_b64encode(unknown_key).rstrip(b"=").decode()
        assert put_stock(stack, bearer(f"{forged}.{payload}.{signature}")).status_code == 401
    finally:
        stack.stop()
        provider.stop()


async def test_a_customer_reads_only_their_own_orders(services: Services) -> None:
    sku = new_product(services, stock=10)
    alice, bob = as_customer(services, "alice"), as_customer(services, "bob")
    async with httpx.AsyncClient(base_url=services.order_url, timeout=30) as api:
        placed = await api.post(
            "/orders", json={"items": [{"sku": sku, "quantity": 1}]}, headers={**key(), **alice}
        )
        assert placed.status_code == 201, placed.text
        order = f"/orders/{placed.json()['id']}"
        assert (await api.get(order, headers=alice)).status_code == 200
        # Bob's token is valid; Alice's order is as absent for him as one that never existed.
        as_bob = await api.get(order, headers=bob)
        assert as_bob.status_code == 404
        assert as_bob.json()["type"].endswith("/unknown-order")
        assert (await api.get(order)).status_code == 401
        # The operator reads any order (the admin scope, a token for the order service).
        assert (await api.get(order, headers=admin(services, "order"))).status_code == 200


async def test_a_listing_holds_the_caller_s_orders_only(services: Services) -> None:
    sku = new_product(services, stock=10)
    first, second = f"lister-{uuid.uuid4().hex[:8]}", f"lister-{uuid.uuid4().hex[:8]}"
    ids: dict[str, list[str]] = {first: [], second: []}
    async with httpx.AsyncClient(base_url=services.order_url, timeout=30) as api:
        for customer, count in ((first, 2), (second, 3)):
            for _ in range(count):
                response = await api.post(
                    "/orders",
                    json={"items": [{"sku": sku, "quantity": 1}]},
                    headers={**key(), **as_customer(services, customer)},
                )
                ids[customer].insert(0, response.json()["id"])
        own = await api.get("/orders", headers=as_customer(services, second))
        assert [o["id"] for o in own.json()["items"]] == ids[second]
        # Naming another customer is refused, not silently ignored.
        other = await api.get(
            "/orders", params={"customer_id": first}, headers=as_customer(services, second)
        )
        assert other.status_code == 403
        assert (await api.get("/orders")).status_code == 401
        # The admin scope lists any customer's orders, and everyone's.
        as_admin = admin(services, "order")
        theirs = await api.get("/orders", params={"customer_id": first}, headers=as_admin)
        assert [o["id"] for o in theirs.json()["items"]] == ids[first]
        everyone = await api.get("/orders", params={"limit": 100}, headers=as_admin)
        listed = {o["customer_id"] for o in everyone.json()["items"]}
        assert {first, second} <= listed


async def test_placing_an_order_needs_a_customer_s_token(services: Services) -> None:
    body = {"items": [{"sku": "SKU-00005", "quantity": 1}]}
    async with httpx.AsyncClient(base_url=services.order_url, timeout=30) as api:
        assert (await api.post("/orders", json=body, headers=key())).status_code == 401
        # The admin client's token has no customer scope: an operator does not shop as anyone.
        as_admin = {**key(), **admin(services, "order")}
        refused = await api.post("/orders", json=body, headers=as_admin)
        assert refused.status_code == 403
        assert 'scope="orders"' in refused.headers["www-authenticate"]
