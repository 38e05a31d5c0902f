"""The lifecycles of projects, bids, buyer requests and custom offers: four tables.

Each is a :class:`~microkit._lifecycle.Lifecycle` (the machine service
moderation shares): rows name their from-states, to-state, the roles that
may run them and the event they append; the facades ask
:meth:`Lifecycle.check` and never decide legality themselves.
"""

from __future__ import annotations

from typing import Final, Literal

from .._lifecycle import Lifecycle, Move

__all__ = ["BID", "OFFER", "PROJECT", "REQUEST", "Lifecycle", "Move", "Role"]

#: How an actor stands to a project, bid, request or offer.
Role = Literal["buyer", "seller", "staff", "system"]


M = Move
_UNDECIDED: Final = ("pending_review", "open", "closed")

#: Projects. Posted ``open`` (``pending_review`` with ``project_moderation`` on).
PROJECT: Final = Lifecycle("project", ("pending_review", "open"), (
    M("approve", {"pending_review"}, "open", {"staff"}, "project.approved",
      doc="Staff publish the project: sellers can find it and bid."),
    M("reject", {"pending_review"}, "rejected", {"staff"}, "project.rejected",
      doc="Staff refuse it with a reason the buyer is told."),
    M("close", {"open"}, "closed", {"buyer"}, "project.closed",
      doc="The buyer stops taking bids; the bids in hand can still be accepted."),
    M("reopen", {"closed"}, "open", {"buyer"}, "project.reopened",
      doc="The buyer takes bids again."),
    M("cancel", _UNDECIDED, "cancelled", {"buyer", "staff"}, "project.cancelled",
      doc="The buyer (or staff) withdraws the project; every live bid is closed."),
    M("award", {"open", "closed"}, "awarded", {"buyer"}, "project.awarded",
      doc="The buyer accepts a bid: an order is placed, the other bids are closed."),
    M("complete", {"awarded"}, "completed", {"system"}, "project.completed",
      doc="The project's order completed (or was settled by staff)."),
    M("abandon", {"awarded"}, "cancelled", {"system"}, "project.cancelled",
      doc="The project's order was cancelled or never paid."),
))

_LIVE: Final = ("live", "shortlisted")

#: Bids on a project.
BID: Final = Lifecycle("bid", ("live",), (
    M("edit", _LIVE, "live", {"seller"}, "bid.updated",
      doc="The seller changes amount, days or proposal until the buyer decides."),
    M("withdraw", _LIVE, "withdrawn", {"seller"}, "bid.withdrawn",
      doc="The seller takes the bid back."),
    M("shortlist", {"live"}, "shortlisted", {"buyer"}, "bid.shortlisted",
      doc="The buyer marks the bid for a closer look."),
    M("unshortlist", {"shortlisted"}, "live", {"buyer"}, "bid.unshortlisted",
      doc="The buyer takes it off the shortlist."),
    M("reject", _LIVE, "rejected", {"buyer"}, "bid.rejected",
      doc="The buyer turns the bid down; the seller is told."),
    M("accept", _LIVE, "accepted", {"buyer"}, "bid.accepted",
      doc="The buyer accepts: an order in pending_payment with the bid's amount and days."),
    M("close", _LIVE, "closed", {"system"}, "bid.closed",
      doc="Another bid was accepted, or the project was cancelled; the seller is told."),
))

#: Custom offers.
OFFER: Final = Lifecycle("offer", ("pending",), (
    M("accept", {"pending"}, "accepted", {"buyer"}, "offer.accepted",
      doc="The buyer accepts before it expires: an order in pending_payment."),
    M("decline", {"pending"}, "declined", {"buyer"}, "offer.declined",
      doc="The buyer turns it down."),
    M("withdraw", {"pending"}, "withdrawn", {"seller"}, "offer.withdrawn",
      doc="The seller takes it back."),
    M("expire", {"pending"}, "expired", {"system"}, "offer.expired",
      doc="Its time ran out (tick marks it; accept refuses it from the due instant)."),
))

#: Buyer requests.
REQUEST: Final = Lifecycle("request", ("open",), (
    M("close", {"open"}, "closed", {"buyer", "staff"}, "request.closed",
      doc="The buyer (or staff) stops taking responses."),
))
