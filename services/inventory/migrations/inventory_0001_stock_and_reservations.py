"""Stock per SKU, and reservations per order.

Revision ID: inventory_0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "inventory_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "inventory"


def upgrade() -> None:
    op.create_table(
        "stock",
        sa.Column("sku", sa.String(length=32), nullable=False),
        sa.Column("available", sa.Integer(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("available >= 0", name=op.f("ck_stock_available_not_negative")),
        sa.PrimaryKeyConstraint("sku", name=op.f("pk_stock")),
        schema=SCHEMA,
    )
    op.create_table(
        "reservations",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('reserved', 'released')", name=op.f("ck_reservations_status_known")
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_reservations")),
        schema=SCHEMA,
    )
    op.create_table(
        "reservation_lines",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("sku", sa.String(length=32), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_reservation_lines_positive")),
        sa.ForeignKeyConstraint(
            ["order_id"],
            [f"{SCHEMA}.reservations.order_id"],
            name=op.f("fk_reservation_lines_order_id_reservations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sku"], [f"{SCHEMA}.stock.sku"], name=op.f("fk_reservation_lines_sku_stock")
        ),
        sa.PrimaryKeyConstraint("order_id", "sku", name=op.f("pk_reservation_lines")),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("reservation_lines", schema=SCHEMA)
    op.drop_table("reservations", schema=SCHEMA)
    op.drop_table("stock", schema=SCHEMA)
