"""The inventory service: stock per SKU and all-or-nothing reservations per order."""
