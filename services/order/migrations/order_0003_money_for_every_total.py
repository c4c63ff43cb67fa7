"""Money columns wide enough for every total an order can reach (order/models.py, MONEY).

Revision ID: order_0003
Revises: order_0002
Create Date: 2026-12-04
"""

from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision: str = "order_0003"
down_revision: str | None = "order_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "orders"
COLUMNS = {
    "orders": ("subtotal", "discount", "total"),
    "order_lines": ("unit_price", "discount", "line_total"),
}


def upgrade() -> None:
    # A wider precision at the same scale: PostgreSQL changes the type without rewriting rows.
    _retype(sa.Numeric(12, 2), sa.Numeric(14, 2))


def downgrade() -> None:
    # Fails, as it should, while any stored amount needs the width.
    _retype(sa.Numeric(14, 2), sa.Numeric(12, 2))


def _retype(old: sa.Numeric[Decimal], new: sa.Numeric[Decimal]) -> None:
    for table, columns in COLUMNS.items():
        for column in columns:
            op.alter_column(
                table, column, type_=new, existing_type=old, existing_nullable=False, schema=SCHEMA
            )
