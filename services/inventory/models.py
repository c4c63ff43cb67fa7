"""Tables of the `inventory` schema."""

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Integer, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from inventory.contract import ReservationStatus
from shopkit.db import service_metadata


class Base(DeclarativeBase):
    metadata = service_metadata("inventory")


class Stock(Base):
    __tablename__ = "stock"

    sku: Mapped[str] = mapped_column(String(32), primary_key=True)
    # The database, not the code, is the last line of defence against overselling.
    available: Mapped[int] = mapped_column(
        Integer, CheckConstraint("available >= 0", name="available_not_negative")
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


_STATUSES = ", ".join(f"'{status}'" for status in ReservationStatus)


class Reservation(Base):
    """One per order. A released reservation stays as a tombstone, so a reservation request
    that arrives after its order was compensated is refused instead of taking stock. A
    confirmed one belongs to a stored order: releasing it is refused."""

    __tablename__ = "reservations"

    order_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # A ReservationStatus, stored as its value (String, not Enum: the migrations own the type).
    status: Mapped[str] = mapped_column(
        String(16), CheckConstraint(f"status IN ({_STATUSES})", name="status_known")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    lines: Mapped[list["ReservationLine"]] = relationship(
        lazy="raise", order_by="ReservationLine.sku"
    )


class ReservationLine(Base):
    __tablename__ = "reservation_lines"

    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(Reservation.order_id, ondelete="CASCADE"), primary_key=True
    )
    sku: Mapped[str] = mapped_column(ForeignKey(Stock.sku), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer, CheckConstraint("quantity > 0", name="positive"))
