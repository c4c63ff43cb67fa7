import secrets

from pydantic import Field, SecretStr

from shopkit.settings import ClientSettings, ServiceSettings


class OrderSettings(ServiceSettings, ClientSettings):
    inventory_url: str = "http://127.0.0.1:8001"
    pricing_url: str = "http://127.0.0.1:8002"
    # The lease of an Idempotency-Key claim: a claim unfinished this long after it was taken
    # (its process died, or is stuck) is taken over by recovery or by a retry of the client.
    # Safety does not depend on it (the claim's attempt fences a slow request out), only
    # how long stock stays held: see docs/failure-model.md for the bound.
    idempotency_claim_ttl_seconds: float = Field(default=20.0, gt=0)
    # How often each order instance looks for claims past their lease (jittered +-50%).
    recovery_interval_seconds: float = Field(default=5.0, gt=0)
    recovery_batch: int = Field(default=50, ge=1)
    # The key of the customer pseudonyms in telemetry (order/pseudonyms.py). Every instance
    # must share it for a customer's traces to share one pseudonym; without it, each process
    # draws its own at start-up, so pseudonyms change with every restart.
    customer_pseudonym_key: SecretStr = Field(
        default_factory=lambda: SecretStr(secrets.token_hex(32)), min_length=32
    )
