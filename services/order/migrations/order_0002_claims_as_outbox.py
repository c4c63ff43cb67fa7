"""Idempotency claims become the saga's outbox: the request, a fencing attempt, a releasing state.

Revision ID: order_0002
Revises: order_0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "order_0002"
down_revision: str | None = "order_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "orders"
TABLE = "idempotency_records"


def upgrade() -> None:
    # Claims written before this revision carry no request: recovery releases them.
    op.add_column(TABLE, sa.Column("request", postgresql.JSONB(), nullable=True), schema=SCHEMA)
    op.add_column(
        TABLE,
        sa.Column("attempt", sa.Integer(), server_default=sa.text("1"), nullable=False),
        schema=SCHEMA,
    )
    op.add_column(
        TABLE,
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        schema=SCHEMA,
    )
    op.drop_constraint(op.f("ck_idempotency_records_state_known"), TABLE, schema=SCHEMA)
    op.create_check_constraint(
        op.f("ck_idempotency_records_state_known"),
        TABLE,
        "state IN ('in_progress', 'releasing', 'completed')",
        schema=SCHEMA,
    )
    # Recovery looks for unfinished claims only: a small index, whatever the table's size.
    op.create_index(
        "ix_idempotency_records_unfinished_claimed_at",
        TABLE,
        ["claimed_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("state <> 'completed'"),
    )


def downgrade() -> None:
    op.drop_index("ix_idempotency_records_unfinished_claimed_at", TABLE, schema=SCHEMA)
    op.drop_constraint(op.f("ck_idempotency_records_state_known"), TABLE, schema=SCHEMA)
    op.create_check_constraint(
        op.f("ck_idempotency_records_state_known"),
        TABLE,
        "state IN ('in_progress', 'completed')",
        schema=SCHEMA,
    )
    op.drop_column(TABLE, "created_at", schema=SCHEMA)
    op.drop_column(TABLE, "attempt", schema=SCHEMA)
    op.drop_column(TABLE, "request", schema=SCHEMA)
