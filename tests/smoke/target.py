"""The stack the smoke tests talk to, as its URLs name it."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    shop: str
    token: str  # a customer's access token for the order API
    jaeger: str
    prometheus: str
    grafana: str | None
    grafana_password: str | None
