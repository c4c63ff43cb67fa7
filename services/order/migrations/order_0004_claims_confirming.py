"""Claims gain `confirming`: the order is stored, its reservation not yet confirmed at inventory.

Claims completed before this revision stay `completed`; their reservations stay `reserved` at
inventory (see inventory_0002).

Revision ID: order_0004
Revises: order_0003
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "order_0004"
down_revision: str | None = "order_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "orders"
TABLE = "idempotency_records"


def upgrade() -> None:
    _allow_states("'in_progress', 'releasing', 'confirming', 'completed'")


def downgrade() -> None:
    # Fails, as it should, while any claim is confirming.
    _allow_states("'in_progress', 'releasing', 'completed'")


def _allow_states(states: str) -> None:
    op.drop_constraint(op.f("ck_idempotency_records_state_known"), TABLE, schema=SCHEMA)
    op.create_check_constraint(
        op.f("ck_idempotency_records_state_known"), TABLE, f"state IN ({states})", schema=SCHEMA
    )
