"""The record kinds microkit stores, with the columns each can be queried by."""

from __future__ import annotations

from typing import Final

from ..catalog.model import Category, Service
from ..escrow._payout import Payout
from ..levels.model import LevelSchedule, SellerBuyer, SellerLevel, SellerMetrics
from ..messaging.model import Conversation, Message, ResponseStats
from ..orders.cart_model import Cart, CheckoutRecord
from ..orders.model import Order
from ..payments.model import Payment, PaymentLink, ProcessedWebhook, Refund
from ..reviews.model import RatingSummary, Review
from ..users import User
from .base import RecordKind

__all__ = [
    "ALL_KINDS",
    "CARTS",
    "CATEGORIES",
    "CHECKOUTS",
    "CONVERSATIONS",
    "LEVEL_SCHEDULE",
    "MESSAGES",
    "ORDERS",
    "PAYMENTS",
    "PAYMENT_LINKS",
    "PAYOUTS",
    "RATINGS",
    "REFUNDS",
    "RESPONSE_STATS",
    "REVIEWS",
    "SELLER_BUYERS",
    "SELLER_LEVELS",
    "SELLER_METRICS",
    "SERVICES",
    "USERS",
    "WEBHOOKS",
]

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

# -- payments and payouts (migration 4) ----------------------------------------------
REFUNDS: Final = RecordKind(
    "refunds", Refund, index={"payment_id": lambda r: r.payment_id},
    fixed=frozenset({"payment_id"}),
)
WEBHOOKS: Final = RecordKind(
    "webhooks", ProcessedWebhook, index={"ref": lambda w: w.ref}, fixed=frozenset({"ref"}),
)
PAYMENT_LINKS: Final = RecordKind("payment_links", PaymentLink)
PAYOUTS: Final = RecordKind(
    "payouts", Payout, index={"seller_id": lambda p: p.seller_id},
    fixed=frozenset({"seller_id"}),
)

# -- order rules: conversations, reviews, cart (migration 3) --------------------------
CONVERSATIONS: Final = RecordKind(
    "conversations",
    Conversation,
    index={
        "buyer_id": lambda c: c.buyer_id,
        "seller_id": lambda c: c.seller_id,
        # Recent first in the inbox; unique, so it pages as a cursor.
        "recent": lambda c: f"{c.last_message_at.isoformat()}|{c.id}",
    },
    indexed=frozenset({"buyer_id", "seller_id"}),
    fixed=frozenset({"buyer_id", "seller_id"}),
)
MESSAGES: Final = RecordKind(
    "messages", Message, index={"conversation_id": lambda m: m.conversation_id},
    fixed=frozenset({"conversation_id"}),
)
RESPONSE_STATS: Final = RecordKind("response_stats", ResponseStats)
REVIEWS: Final = RecordKind(
    "reviews",
    Review,
    index={
        "service_id": lambda r: r.service_id,
        "subject_id": lambda r: r.subject_id,
        "published": lambda r: int(r.published),
        "created": lambda r: f"{r.created_at.isoformat()}|{r.id}",
    },
    indexed=frozenset({"service_id", "subject_id"}),
    fixed=frozenset({"service_id", "subject_id", "created"}),
)
RATINGS: Final = RecordKind("ratings", RatingSummary)
CARTS: Final = RecordKind("carts", Cart)
CHECKOUTS: Final = RecordKind("checkouts", CheckoutRecord)

# -- seller levels (migration 5) ------------------------------------------------------
SELLER_METRICS: Final = RecordKind("seller_metrics", SellerMetrics)
SELLER_BUYERS: Final = RecordKind("seller_buyers", SellerBuyer)
SELLER_LEVELS: Final = RecordKind("seller_levels", SellerLevel)
LEVEL_SCHEDULE: Final = RecordKind("level_schedule", LevelSchedule)

#: Every kind; a migration creates a table for each.
ALL_KINDS: Final[tuple[RecordKind[object], ...]] = (
    USERS, CATEGORIES, SERVICES, ORDERS, PAYMENTS,  # type: ignore[assignment]
    REFUNDS, WEBHOOKS, PAYMENT_LINKS, PAYOUTS,
    CONVERSATIONS, MESSAGES, RESPONSE_STATS, REVIEWS, RATINGS,
    CARTS, CHECKOUTS,
    SELLER_METRICS, SELLER_BUYERS, SELLER_LEVELS, LEVEL_SCHEDULE,
)
