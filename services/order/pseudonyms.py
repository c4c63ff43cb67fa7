"""Customer ids in telemetry: a keyed pseudonym, never the id itself.

Spans go to the Collector, Jaeger and whoever reads them; a customer id there is personal
data kept for as long as the traces are. HMAC-SHA256 under a secret key (the chart generates
it once) still lets an operator find every trace of one customer, by computing that
customer's pseudonym with the key, while the traces alone reveal nobody: without the key, a
pseudonym cannot be reversed or recomputed from a guessed id, as a plain hash could.
"""

import hashlib
import hmac

# 128 bits: collisions are out of reach, and the attribute stays short.
PSEUDONYM_HEX_DIGITS = 32


def customer_pseudonym(key: bytes, customer_id: str) -> str:
    """The value of `customer.pseudonym` for this customer under this key."""
    digest = hmac.new(key, customer_id.encode(), hashlib.sha256).hexdigest()
    return digest[:PSEUDONYM_HEX_DIGITS]
