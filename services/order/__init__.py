"""The order service: places orders through pricing and inventory, and serves them back."""
