from shopkit.settings import ServiceSettings


class PricingSettings(ServiceSettings):
    oidc_audience: str = "pricing"
    # Only the order service reserves and releases stock and asks for quotes.
    oidc_trusted_callers: frozenset[str] = frozenset({"order-service"})
