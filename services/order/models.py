"""Tables of the `orders` schema."""

import enum
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shopkit.db import service_metadata

# Every total an order can reach: MAX_UNITS_PER_ORDER (100) units at pricing's MAX_UNIT_PRICE
# (10 digits before the point) is 12 digits before the point. Numeric(12, 2), the width of a
# price, overflowed on such totals: a 500 on every retry of an order pricing had accepted.
# tests/unit/test_order_limits.py fails when a cap or a price bound outgrows these columns.
MONEY = Numeric(14, 2)


class Base(DeclarativeBase):
    metadata = service_metadata("orders")


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        # Keyset pagination walks (created_at, id) backwards, per customer or overall.
        Index("ix_orders_customer_id_created_at_id", "customer_id", "created_at", "id"),
        Index("ix_orders_created_at_id", "created_at", "id"),
    )
    # created_at comes back from the INSERT (RETURNING), so the response can show it.
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012 (SQLAlchemy reads a plain dict)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[Decimal] = mapped_column(MONEY)
    discount: Mapped[Decimal] = mapped_column(MONEY)
    total: Mapped[Decimal] = mapped_column(MONEY)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    lines: Mapped[list["OrderLine"]] = relationship(
        lazy="raise", order_by="OrderLine.position", cascade="all, delete-orphan"
    )


class OrderLine(Base):
    __tablename__ = "order_lines"

    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(Order.id, ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[int] = mapped_column(Integer, CheckConstraint("quantity > 0", name="positive"))
    unit_price: Mapped[Decimal] = mapped_column(MONEY)
    discount: Mapped[Decimal] = mapped_column(MONEY)
    line_total: Mapped[Decimal] = mapped_column(MONEY)


class ClaimState(enum.StrEnum):
    """Where the placing saga of a claim stands (order/claims.py moves it along)."""

    IN_PROGRESS = "in_progress"  # claimed: stock may be reserved, the order not yet stored
    RELEASING = "releasing"  # failed: its stock is being given back, then the claim deleted
    # The order is stored, and the key replays it from now on; its reservation is being
    # confirmed at inventory (so that no one can release it any more), then the claim completed.
    CONFIRMING = "confirming"
    COMPLETED = "completed"  # the order is stored and its reservation confirmed


_CLAIM_STATES = ", ".join(f"'{state}'" for state in ClaimState)


class IdempotencyRecord(Base):
    """Binds a customer's Idempotency-Key to one request body and, once placed, to its order.

    Keys are the customer's own: the same key from two customers is two claims, so no one can
    take (squat) another's key. A completed claim is kept for IDEMPOTENCY_KEY_RETENTION_SECONDS
    after it was made, then deleted (order/recovery.py): a retry after that places a new order.

    It is also the placing saga's outbox: an unfinished claim (`in_progress`, `releasing` while
    its reservation is given back, `confirming` while it is confirmed) names the order id whose
    stock may be held and the request to finish it with, so recovery can drive it forward or
    back after a crash.
    `attempt` is the fencing token: whoever takes a claim over increments it, and only the
    holder of the current attempt may complete or release it.
    """

    __tablename__ = "idempotency_records"
    __table_args__ = (
        Index(
            "ix_idempotency_records_unfinished_claimed_at",
            "claimed_at",
            postgresql_where=text(f"state <> '{ClaimState.COMPLETED}'"),
        ),
        # What the retention deletes: completed claims, oldest first.
        Index(
            "ix_idempotency_records_completed_created_at",
            "created_at",
            postgresql_where=text(f"state = '{ClaimState.COMPLETED}'"),
        ),
    )

    # The token's subject (Order.customer_id); '' only for an unfinished claim made before keys
    # were scoped whose customer was not known (no stored request, no order).
    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[uuid.UUID]
    # A ClaimState, stored as its value (String, not Enum: the migrations own the type).
    state: Mapped[str] = mapped_column(
        String(16), CheckConstraint(f"state IN ({_CLAIM_STATES})", name="state_known")
    )
    # The OrderRequest as JSON, for recovery to finish the order with, while the claim is
    # `in_progress` or `releasing`. None once the order is stored (the items are the order's
    # now), and for claims made before the outbox existed.
    request: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    attempt: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    # When the current holder took the claim; it is taken over once this is a lease old.
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # When the key was first claimed: how long stock may have been held for it.
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
