"""The record kinds microkit stores, with the columns each can be queried by."""

from __future__ import annotations

from typing import Final

from ..catalog.model import Category, Service
from ..orders.model import Order
from ..payments.model import Payment
from ..users import User
from .base import RecordKind

__all__ = ["ALL_KINDS", "CATEGORIES", "ORDERS", "PAYMENTS", "SERVICES", "USERS"]

USERS: Final = RecordKind("users", User)
CATEGORIES: Final = RecordKind(
    "categories", Category, index={"parent": lambda c: c.parent}, key=lambda c: c.slug
)
SERVICES: Final = RecordKind(
    "services",
    Service,
    index={
        "seller_id": lambda s: s.seller_id,
        "category": lambda s: s.category,
        "state": lambda s: s.state,
    },
    fixed=frozenset({"seller_id"}),
)
ORDERS: Final = RecordKind(
    "orders",
    Order,
    index={
        "buyer_id": lambda o: o.buyer_id,
        "seller_id": lambda o: o.seller_id,
        "state": lambda o: o.state,
    },
    # Every transition changes the state: an index on it would cost a page write each time.
    indexed=frozenset({"buyer_id", "seller_id"}),
    fixed=frozenset({"buyer_id", "seller_id"}),
)
PAYMENTS: Final = RecordKind(
    "payments",
    Payment,
    index={"buyer_id": lambda p: p.buyer_id},
    fixed=frozenset({"buyer_id"}),
)

#: Every kind; a migration creates a table for each.
ALL_KINDS: Final[tuple[RecordKind[object], ...]] = (
    USERS, CATEGORIES, SERVICES, ORDERS, PAYMENTS,  # type: ignore[assignment]
)
