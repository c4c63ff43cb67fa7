from shopkit.settings import ServiceSettings


class InventorySettings(ServiceSettings):
    oidc_audience: str = "inventory"
    # Only the order service reserves and releases stock and asks for quotes.
    oidc_trusted_callers: frozenset[str] = frozenset({"order-service"})
