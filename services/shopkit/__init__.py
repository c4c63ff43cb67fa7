"""What the order, inventory and pricing services share: settings, database, errors,
health routes, the HTTP client for service-to-service calls, and the app factory."""
