from shopkit.settings import ServiceSettings


class InventorySettings(ServiceSettings):
    oidc_audience: str = "inventory"
    # Only the order service reserves and releases stock and asks for quotes.
    oidc_trusted_callers: frozenset[str] = frozenset({"order-service"})
    # Its only caller is the order service, which drew the boundary already: one order is one
    # trace across the three services.
    trust_incoming_trace_context: bool = True
