from shopkit.settings import ServiceSettings


class InventorySettings(ServiceSettings):
    """Inventory needs nothing beyond the shared settings (yet)."""
