"""Orders, their lines, and idempotency records.

Revision ID: order_0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "order_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "orders"
MONEY = sa.Numeric(precision=12, scale=2)


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("subtotal", MONEY, nullable=False),
        sa.Column("discount", MONEY, nullable=False),
        sa.Column("total", MONEY, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        schema=SCHEMA,
    )
    op.create_index("ix_orders_created_at_id", "orders", ["created_at", "id"], schema=SCHEMA)
    op.create_index(
        "ix_orders_customer_id_created_at_id",
        "orders",
        ["customer_id", "created_at", "id"],
        schema=SCHEMA,
    )
    op.create_table(
        "order_lines",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=32), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", MONEY, nullable=False),
        sa.Column("discount", MONEY, nullable=False),
        sa.Column("line_total", MONEY, nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_order_lines_positive")),
        sa.ForeignKeyConstraint(
            ["order_id"],
            [f"{SCHEMA}.orders.id"],
            name=op.f("fk_order_lines_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("order_id", "position", name=op.f("pk_order_lines")),
        schema=SCHEMA,
    )
    op.create_table(
        "idempotency_records",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column(
            "claimed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "state IN ('in_progress', 'completed')", name=op.f("ck_idempotency_records_state_known")
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_idempotency_records")),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("idempotency_records", schema=SCHEMA)
    op.drop_table("order_lines", schema=SCHEMA)
    op.drop_table("orders", schema=SCHEMA)
