"""Reservations can be confirmed: the order is stored, and its stock can no longer be released.

Reservations made before this revision stay `reserved`, releasable as before: inventory cannot
tell the ones of stored orders from the ones still being placed.

Revision ID: inventory_0002
Revises: inventory_0001
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "inventory_0002"
down_revision: str | None = "inventory_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "inventory"
TABLE = "reservations"


def upgrade() -> None:
    op.add_column(
        TABLE, sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True), schema=SCHEMA
    )
    _allow_statuses("'reserved', 'confirmed', 'released'")


def downgrade() -> None:
    # Fails, as it should, while any reservation is confirmed.
    _allow_statuses("'reserved', 'released'")
    op.drop_column(TABLE, "confirmed_at", schema=SCHEMA)


def _allow_statuses(statuses: str) -> None:
    op.drop_constraint(op.f("ck_reservations_status_known"), TABLE, schema=SCHEMA)
    op.create_check_constraint(
        op.f("ck_reservations_status_known"), TABLE, f"status IN ({statuses})", schema=SCHEMA
    )
