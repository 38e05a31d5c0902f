"""The record kinds microkit stores, with the columns each can be queried by."""

from __future__ import annotations

from typing import Final

from .._settings import SETTINGS
from ..catalog.model import Category, Service
from ..escrow._payout import Payout
from ..levels.model import LevelSchedule, SellerBuyer, SellerLevel, SellerMetrics
from ..messaging.model import Conversation, Message, ResponseStats
from ..orders.cart_model import Cart, CheckoutRecord
from ..orders.model import Order
from ..payments.model import Payment, PaymentLink, ProcessedWebhook, Refund
from ..projects.model import Bid, BuyerRequest, Offer, Project, RequestResponse
from ..reviews.model import RatingSummary, Review
from ..users import User
from .base import RecordKind

__all__ = [
    "ALL_KINDS",
    "BIDS",
    "BUYER_REQUESTS",
    "CARTS",
    "CATEGORIES",
    "CHECKOUTS",
    "CONVERSATIONS",
    "LEVEL_SCHEDULE",
    "MESSAGES",
    "OFFERS",
    "ORDERS",
    "PAYMENTS",
    "PAYMENT_LINKS",
    "PAYOUTS",
    "PROJECTS",
    "RATINGS",
    "REFUNDS",
    "REQUEST_RESPONSES",
    "RESPONSE_STATS",
    "REVIEWS",
    "SELLER_BUYERS",
    "SELLER_LEVELS",
    "SELLER_METRICS",
    "SERVICES",
    "SETTINGS",
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

# -- projects, bids, buyer requests, custom offers (migration 6) -----------------------
PROJECTS: Final = RecordKind(
    "projects", Project,
    index={"buyer_id": lambda p: p.buyer_id, "state": lambda p: p.state},
    indexed=frozenset({"buyer_id"}), fixed=frozenset({"buyer_id"}),
)
BIDS: Final = RecordKind(
    "bids", Bid,
    index={"project_id": lambda b: b.project_id, "seller_id": lambda b: b.seller_id,
           "month": lambda b: b.month},
    indexed=frozenset({"project_id", "seller_id"}),
    fixed=frozenset({"project_id", "seller_id", "month"}),
)
BUYER_REQUESTS: Final = RecordKind(
    "buyer_requests", BuyerRequest,
    index={"buyer_id": lambda r: r.buyer_id, "state": lambda r: r.state,
           "category": lambda r: r.category,
           # Newest first when browsing; unique, so it pages as a cursor.
           "created": lambda r: f"{r.created_at.isoformat()}|{r.id}"},
    indexed=frozenset({"buyer_id", "category", "created"}),
    fixed=frozenset({"buyer_id", "category", "created"}),
)
REQUEST_RESPONSES: Final = RecordKind(
    "request_responses", RequestResponse, index={"request_id": lambda r: r.request_id},
    fixed=frozenset({"request_id"}),
)
OFFERS: Final = RecordKind(
    "offers", Offer,
    index={"seller_id": lambda o: o.seller_id, "buyer_id": lambda o: o.buyer_id,
           "conversation_id": lambda o: o.conversation_id},
    fixed=frozenset({"seller_id", "buyer_id", "conversation_id"}),
)

#: Every kind; a migration creates a table for each.
ALL_KINDS: Final[tuple[RecordKind[object], ...]] = (
    USERS, CATEGORIES, SERVICES, ORDERS, PAYMENTS,  # type: ignore[assignment]
    REFUNDS, WEBHOOKS, PAYMENT_LINKS, PAYOUTS,
    CONVERSATIONS, MESSAGES, RESPONSE_STATS, REVIEWS, RATINGS,
    CARTS, CHECKOUTS,
    SELLER_METRICS, SELLER_BUYERS, SELLER_LEVELS, LEVEL_SCHEDULE,
    PROJECTS, BIDS, BUYER_REQUESTS, REQUEST_RESPONSES, OFFERS,
    SETTINGS,
)
