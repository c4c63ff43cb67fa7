from pydantic import Field

from shopkit.settings import ClientSettings, ServiceSettings


class OrderSettings(ServiceSettings, ClientSettings):
    inventory_url: str = "http://127.0.0.1:8001"
    pricing_url: str = "http://127.0.0.1:8002"
    # An Idempotency-Key claimed by a request that never finished (its process died) is
    # taken over after this long; keep it above the longest a request can take.
    idempotency_claim_ttl_seconds: float = Field(default=30.0, gt=0)
