"""The pricing service: products, prices and promotions, and quotes for a basket."""
