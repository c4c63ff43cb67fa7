"""Which verified tokens are a trusted service's: its own, by client credentials, only."""

from shopkit.identity import Caller, is_trusted_service

TRUSTED = ["order-service"]


def test_the_service_s_own_token_is_trusted() -> None:
    own = Caller(subject="order-service", client_id="order-service", scopes=frozenset())
    assert is_trusted_service(own, TRUSTED)


def test_a_user_named_like_the_service_is_not() -> None:
    # A customer who signed up as "order-service", with a token of the shop's front end.
    namesake = Caller(subject="order-service", client_id="shop-web", scopes=frozenset())
    assert not is_trusted_service(namesake, TRUSTED)


def test_a_token_without_its_client_is_not() -> None:
    unnamed = Caller(subject="order-service", client_id=None, scopes=frozenset())
    assert not is_trusted_service(unnamed, TRUSTED)


def test_another_client_is_not() -> None:
    admin = Caller(subject="shop-admin", client_id="shop-admin", scopes=frozenset({"admin"}))
    assert not is_trusted_service(admin, TRUSTED)
