from shopkit.settings import ServiceSettings


class PricingSettings(ServiceSettings):
    # Its only caller is the order service, which drew the boundary already: one order is one
    # trace across the three services.
    trust_incoming_trace_context: bool = True
