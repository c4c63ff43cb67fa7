"""Idempotency keys per customer; a stored order's claim no longer keeps its request.

- `customer_id` joins `key` in the primary key, so the same key from two customers is two
  claims: before, the second customer got a 422 for a key someone else had used (or squatted).
  Existing claims take the customer from their stored request, else from their order. What is
  left, an unfinished claim from before the outbox whose order was never stored, gets '': no
  customer's key can collide with it, and recovery releases it as before.
- The request body, kept for recovery, is dropped once the order is stored: it is the
  customer's items, and the order holds them now.
- An index on the completed claims' age, for the retention that deletes them.

Revision ID: order_0005
Revises: order_0004
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "order_0005"
down_revision: str | None = "order_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "orders"
TABLE = "idempotency_records"
STORED = "state IN ('confirming', 'completed')"


def upgrade() -> None:
    op.add_column(TABLE, sa.Column("customer_id", sa.String(length=64)), schema=SCHEMA)
    op.execute(
        f"UPDATE {SCHEMA}.{TABLE} AS claim SET customer_id = COALESCE("
        " claim.request ->> 'customer_id',"
        f" (SELECT o.customer_id FROM {SCHEMA}.orders AS o WHERE o.id = claim.order_id), '')"
    )
    op.alter_column(TABLE, "customer_id", nullable=False, schema=SCHEMA)
    op.drop_constraint(op.f("pk_idempotency_records"), TABLE, schema=SCHEMA)
    op.create_primary_key(
        op.f("pk_idempotency_records"), TABLE, ["customer_id", "key"], schema=SCHEMA
    )
    op.execute(f"UPDATE {SCHEMA}.{TABLE} SET request = NULL WHERE {STORED}")
    op.create_index(
        op.f("ix_idempotency_records_completed_created_at"),
        TABLE,
        ["created_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("state = 'completed'"),
    )


def downgrade() -> None:
    # Fails, as it should, once two customers have used the same key. The dropped requests do
    # not come back; recovery needs none for a stored order.
    op.drop_index(op.f("ix_idempotency_records_completed_created_at"), TABLE, schema=SCHEMA)
    op.drop_constraint(op.f("pk_idempotency_records"), TABLE, schema=SCHEMA)
    op.create_primary_key(op.f("pk_idempotency_records"), TABLE, ["key"], schema=SCHEMA)
    op.drop_column(TABLE, "customer_id", schema=SCHEMA)
