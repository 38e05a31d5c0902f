"""Records of the projects section: projects, bids, buyer requests, responses, offers."""

from __future__ import annotations

import datetime as dt
from typing import Generic, Literal, TypeVar

import attrs

from ..money import Money

__all__ = [
    "Bid",
    "BidState",
    "BuyerRequest",
    "Offer",
    "OfferState",
    "OfferUpgrade",
    "Page",
    "Project",
    "ProjectState",
    "RequestResponse",
    "RequestState",
]

T = TypeVar("T")

#: Where a project stands (the table is :data:`microkit.projects.lifecycle.PROJECT`).
ProjectState = Literal[
    "pending_review", "open", "closed", "awarded", "completed", "cancelled", "rejected"
]
#: Where a bid stands (:data:`microkit.projects.lifecycle.BID`).
BidState = Literal["live", "shortlisted", "withdrawn", "rejected", "accepted", "closed"]
#: Where a custom offer stands (:data:`microkit.projects.lifecycle.OFFER`).
OfferState = Literal["pending", "accepted", "declined", "withdrawn", "expired"]
#: Where a buyer request stands.
RequestState = Literal["open", "closed"]


@attrs.frozen
class Page(Generic[T]):
    """One page of a listing, and the cursor of the next (None on the last page).

    .. versionadded:: 0.1
    """

    items: tuple[T, ...]
    next_cursor: str | None = None


@attrs.frozen
class Project:
    """An open project: a buyer's requirements, budget range and duration; sellers bid.

    .. versionadded:: 0.1
    """

    id: str
    buyer_id: str
    title: str
    description: str
    category: str
    #: The buyer's budget range, in the market currency (min <= max).
    budget_min: Money
    budget_max: Money
    #: Days the buyer expects the work to take.
    duration_days: int
    #: Skills asked for, normalized (stripped, case-folded, inner spaces collapsed).
    skills: tuple[str, ...]
    state: ProjectState
    created_at: dt.datetime
    updated_at: dt.datetime
    #: Bids that are live or shortlisted now.
    live_bids: int = 0
    #: Every bid ever sent (withdrawn ones included).
    total_bids: int = 0
    #: The accepted bid and the order it became, once awarded.
    awarded_bid_id: str | None = None
    order_id: str | None = None
    #: Why staff rejected it or why it was cancelled.
    reason: str | None = None
    #: When it reached a final state.
    closed_at: dt.datetime | None = None
    version: int = 1


@attrs.frozen
class Bid:
    """A seller's offer on a project: amount, days and a proposal.

    .. versionadded:: 0.1
    """

    id: str
    project_id: str
    seller_id: str
    #: The project's buyer (kept so a bid answers "who may decide" without a lookup).
    buyer_id: str
    amount: Money
    days: int
    proposal: str
    state: BidState
    created_at: dt.datetime
    updated_at: dt.datetime
    #: ``"2026-01"``: the month the bid counts against ``max_bids_per_month``.
    month: str
    #: Times the seller edited it.
    edits: int = 0
    #: Why the buyer rejected it, or why it was closed.
    reason: str | None = None
    #: The order it became, once accepted.
    order_id: str | None = None
    version: int = 1

    @property
    def is_live(self) -> bool:
        """Live or shortlisted: the buyer has not decided yet."""
        return self.state in ("live", "shortlisted")


@attrs.frozen
class BuyerRequest:
    """A buyer asks for a service that does not exist yet: a light post sellers answer.

    .. versionadded:: 0.1
    """

    id: str
    buyer_id: str
    text: str
    category: str
    #: What the buyer means to spend; None for "make me an offer".
    budget: Money | None
    state: RequestState
    created_at: dt.datetime
    updated_at: dt.datetime
    responses: int = 0
    version: int = 1


@attrs.frozen
class RequestResponse:
    """One seller's answer to a buyer request: one of their services, or a custom offer.

    Its id is ``"{request_id}:{seller_id}"``: one response per seller per request.

    .. versionadded:: 0.1
    """

    id: str
    request_id: str
    seller_id: str
    buyer_id: str
    #: The conversation between the buyer and the seller about the request.
    conversation_id: str
    created_at: dt.datetime
    #: The seller's approved service, when they answered with one.
    service_id: str | None = None
    #: The custom offer, when they answered with one.
    offer_id: str | None = None
    version: int = 1


@attrs.frozen
class OfferUpgrade:
    """A paid upgrade the buyer may add when accepting a custom offer.

    .. versionadded:: 0.1
    """

    #: ``"u1"``, ``"u2"``, … in the order the seller gave them.
    id: str
    title: str
    price: Money
    extra_days: int = 0


@attrs.frozen
class Offer:
    """A seller's one-off offer to one buyer, sent from a conversation; it expires.

    .. versionadded:: 0.1
    """

    id: str
    conversation_id: str
    seller_id: str
    buyer_id: str
    description: str
    price: Money
    days: int
    upgrades: tuple[OfferUpgrade, ...]
    state: OfferState
    created_at: dt.datetime
    #: After this instant it can no longer be accepted.
    expires_at: dt.datetime
    updated_at: dt.datetime
    #: The buyer request it answers, if any.
    request_id: str | None = None
    #: The order it became, once accepted.
    order_id: str | None = None
    version: int = 1

    def expired(self, now: dt.datetime) -> bool:
        """Past its expiry (whether or not ``tick`` marked it ``expired`` yet)."""
        return self.state == "expired" or (self.state == "pending" and now >= self.expires_at)

    def upgrade(self, upgrade_id: str) -> OfferUpgrade | None:
        return next((u for u in self.upgrades if u.id == upgrade_id), None)
