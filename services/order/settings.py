import secrets
from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, model_validator

from shopkit.settings import ClientSettings, ServiceSettings


class OrderSettings(ServiceSettings, ClientSettings):
    oidc_audience: str = "order"
    # The scope a customer's token needs to place and read their own orders.
    oidc_customer_scope: str = Field(default="orders", min_length=1)
    inventory_url: str = "http://127.0.0.1:8001"
    pricing_url: str = "http://127.0.0.1:8002"
    # The lease of an Idempotency-Key claim: a claim unfinished this long after it was taken
    # (its process died, or is stuck) is taken over by recovery or by a retry of the client.
    # Safety does not depend on it (the claim's attempt fences a slow request out), only
    # how long stock stays held: see docs/failure-model.md for the bound.
    idempotency_claim_ttl_seconds: float = Field(default=20.0, gt=0)
    # Orders one customer may place at once, and each second after that (order/rate_limit.py;
    # per process). A shopper places a few an hour; the burst leaves room for a script's retries.
    customer_order_burst: int = Field(default=20, ge=1)
    customer_orders_per_second: float = Field(default=1.0, gt=0)
    # How long a completed Idempotency-Key is kept, from when it was first used: a retry within
    # it replays the order, a retry after it places a new one. Stripe keeps keys 24 hours too.
    idempotency_key_retention_seconds: float = Field(default=86_400.0, gt=0)
    # How often each order instance looks for claims past their lease (jittered +-50%), and
    # deletes completed claims past their retention.
    recovery_interval_seconds: float = Field(default=5.0, gt=0)
    recovery_batch: int = Field(default=50, ge=1)
    # The key of the customer pseudonyms in telemetry (order/pseudonyms.py). Every instance
    # must share it for a customer's traces to share one pseudonym; without it, each process
    # draws its own at start-up, so pseudonyms change with every restart.
    customer_pseudonym_key: SecretStr = Field(
        default_factory=lambda: SecretStr(secrets.token_hex(32)), min_length=32
    )

    # Its own identity towards inventory and pricing (order/credentials.py): client credentials
    # at the issuer, or projected service-account tokens, one file per audience in this folder.
    oidc_client_id: str = "order-service"
    oidc_client_secret: SecretStr | None = None
    service_token_dir: Path | None = None

    @model_validator(mode="after")
    def _retention_outlasts_the_lease(self) -> Self:
        # Else a client retrying a slow request could find its key gone and order twice.
        if self.idempotency_key_retention_seconds <= self.idempotency_claim_ttl_seconds:
            raise ValueError(
                "IDEMPOTENCY_KEY_RETENTION_SECONDS must exceed IDEMPOTENCY_CLAIM_TTL_SECONDS"
            )
        return self

    @model_validator(mode="after")
    def _one_identity(self) -> Self:
        if (self.oidc_client_secret is None) == (self.service_token_dir is None):
            raise ValueError("set one of OIDC_CLIENT_SECRET and SERVICE_TOKEN_DIR")
        return self
