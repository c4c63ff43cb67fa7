"""Products with prices, and promotions.

Revision ID: pricing_0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "pricing_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "pricing"


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("sku", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("unit_price > 0", name=op.f("ck_products_price_positive")),
        sa.PrimaryKeyConstraint("sku", name=op.f("pk_products")),
        schema=SCHEMA,
    )
    op.create_table(
        "promotions",
        sa.Column("sku", sa.String(length=32), nullable=False),
        sa.Column("percent_off", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("min_quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "percent_off > 0 AND percent_off <= 100", name=op.f("ck_promotions_percent")
        ),
        sa.CheckConstraint("min_quantity >= 1", name=op.f("ck_promotions_min_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["sku"],
            [f"{SCHEMA}.products.sku"],
            name=op.f("fk_promotions_sku_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("sku", name=op.f("pk_promotions")),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("promotions", schema=SCHEMA)
    op.drop_table("products", schema=SCHEMA)
