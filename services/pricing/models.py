"""Tables of the `pricing` schema. Money is NUMERIC, never floating point."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Integer, Numeric, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shopkit.db import service_metadata

MONEY = Numeric(12, 2)


class Base(DeclarativeBase):
    metadata = service_metadata("pricing")


class Product(Base):
    __tablename__ = "products"

    sku: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    unit_price: Mapped[Decimal] = mapped_column(
        MONEY, CheckConstraint("unit_price > 0", name="price_positive")
    )
    currency: Mapped[str] = mapped_column(String(3))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Promotion(Base):
    """A percentage off a line once its quantity reaches `min_quantity`."""

    __tablename__ = "promotions"

    sku: Mapped[str] = mapped_column(ForeignKey(Product.sku, ondelete="CASCADE"), primary_key=True)
    percent_off: Mapped[Decimal] = mapped_column(
        Numeric(5, 2), CheckConstraint("percent_off > 0 AND percent_off <= 100", name="percent")
    )
    min_quantity: Mapped[int] = mapped_column(
        Integer, CheckConstraint("min_quantity >= 1", name="min_quantity_positive")
    )
