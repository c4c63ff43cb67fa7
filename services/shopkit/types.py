"""Request types every service validates the same way: SKUs, quantities, item lists."""

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

MAX_ITEMS = 50
MAX_QUANTITY = 10_000

Sku = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9-]{2,31}$"),
    Field(description="Stock keeping unit, e.g. SKU-00001", examples=["SKU-00001"]),
]
Quantity = Annotated[int, Field(strict=True, ge=1, le=MAX_QUANTITY)]


class StrictModel(BaseModel):
    """Request bodies reject fields they do not know, so typos fail loudly."""

    model_config = ConfigDict(extra="forbid")


class LineItem(StrictModel):
    sku: Sku
    quantity: Quantity


def _unique_skus(items: list[LineItem]) -> list[LineItem]:
    seen: set[str] = set()
    for item in items:
        if item.sku in seen:
            raise ValueError(f"duplicate SKU {item.sku}: list each SKU once")
        seen.add(item.sku)
    return items


LineItems = Annotated[
    list[LineItem],
    Field(min_length=1, max_length=MAX_ITEMS),
    AfterValidator(_unique_skus),
]
