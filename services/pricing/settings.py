from shopkit.settings import ServiceSettings


class PricingSettings(ServiceSettings):
    """Pricing needs nothing beyond the shared settings (yet)."""
