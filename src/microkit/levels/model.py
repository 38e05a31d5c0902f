"""Seller-level records (metrics, buyers served, standing) and the snapshots the facade returns."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Final

import attrs

from ..money import Money

__all__ = [
    "COUNTERS",
    "Check",
    "EvaluationSummary",
    "Figures",
    "LevelReport",
    "LevelSchedule",
    "SellerBuyer",
    "SellerLevel",
    "SellerMetrics",
    "buyer_key",
]

#: The counters kept per seller, all time and per day, in this order (a tuple of ints each).
#:
#: ``buyers`` differs between the two: all time it counts distinct buyers; in a day's
#: bucket it counts the buyers whose latest completed order falls on that day, so a
#: window's sum is the number of distinct buyers served within it.
COUNTERS: Final[tuple[str, ...]] = (
    "completed",       # orders completed (accept, auto-complete, dispute released)
    "settled",         # disputes split
    "cancelled",       # paid orders cancelled (any rule, refunded disputes included)
    "earnings",        # seller's net, minor units
    "first_deliveries",  # on-time denominator: first deliveries + orders cancelled late
    "on_time",         # first deliveries by the due time
    "ratings",         # buyers' published ratings
    "rating_total",    # their sum
    "waits",           # buyer messages that started a wait for the seller's answer
    "answered",        # of those, answered within ladder.response_hours
    "disputes_lost",   # disputes resolved by refund or split
    "buyers",
)
N_COUNTERS: Final = len(COUNTERS)
IX: Final[Mapping[str, int]] = {name: i for i, name in enumerate(COUNTERS)}
ZERO: Final[tuple[int, ...]] = (0,) * N_COUNTERS


@attrs.frozen
class SellerMetrics:
    """A seller's counters, kept current by the levels projector inside each command.

    ``days`` maps an ISO date (UTC) to that day's counters, for the last
    ``ladder.history_days`` days: a window's figure is a sum of at most that
    many small tuples, never a scan of orders.

    .. versionadded:: 0.1
    """

    #: The seller's user id.
    id: str
    #: When the seller registered (account age counts from here).
    since: dt.datetime
    totals: tuple[int, ...] = ZERO
    days: Mapping[str, tuple[int, ...]] = attrs.field(factory=dict)
    updated_at: dt.datetime | None = None
    version: int = 1


def buyer_key(seller_id: str, buyer_id: str) -> str:
    """The key of a :class:`SellerBuyer` record (``storage.base.KeyFrom``'s default join)."""
    return f"{seller_id}|{buyer_id}"


@attrs.frozen
class SellerBuyer:
    """A buyer a seller completed an order for: makes ``unique_buyers`` incremental.

    .. versionadded:: 0.1
    """

    #: ``"{seller_id}|{buyer_id}"``.
    id: str
    seller_id: str
    buyer_id: str
    orders: int
    first_at: dt.datetime
    #: ISO date of the latest completed order.
    last_day: str
    version: int = 1


@attrs.frozen
class SellerLevel:
    """Where a seller stands on the ladder. No record: the first level, no badges.

    .. versionadded:: 0.1
    """

    #: The seller's user id.
    id: str
    #: The level id.
    level: str
    #: Since when the seller holds it.
    since: dt.datetime
    #: When the seller first fell below the level's requirements (grace running); None if not.
    below_since: dt.datetime | None = None
    #: Staff fixed the level: evaluations leave it alone.
    pinned: bool = False
    #: Staff's reason for the pin.
    pin_reason: str | None = None
    #: Badges staff granted by hand, e.g. ``"trusted_seller"``.
    badges: tuple[str, ...] = ()
    version: int = 1


@attrs.frozen
class LevelSchedule:
    """When the scheduled evaluation last ran and is next due (key ``"evaluation"``).

    .. versionadded:: 0.1
    """

    id: str
    last_run: dt.datetime
    next_due: dt.datetime
    version: int = 1


@attrs.frozen
class Figures:
    """A seller's figures over one window (all time when ``window_days`` is None).

    Rates are Decimals in [0, 1] rounded to 4 places; None when there is
    nothing to divide by (no orders closed, no deliveries, no messages).

    .. versionadded:: 0.1
    """

    window_days: int | None
    completed_orders: int
    unique_buyers: int
    earnings: Money
    account_age_days: int
    rating: Decimal | None
    rating_count: int
    on_time_rate: Decimal | None
    completion_rate: Decimal | None
    response_rate: Decimal | None
    disputes_lost: int
    cancelled_orders: int


@attrs.frozen
class Check:
    """One requirement against the seller's figure.

    .. versionadded:: 0.1
    """

    metric: str
    window_days: int | None
    required: int | Decimal | Money
    #: The seller's figure; None when undefined (a rate with nothing to divide by).
    actual: int | Decimal | Money | None
    met: bool
    #: What is missing: how much more (or, for ``disputes_lost``, how many too many);
    #: None when met, or when the figure is undefined.
    gap: int | Decimal | Money | None
    #: ``"at_least"`` or ``"at_most"``.
    direction: str = "at_least"


@attrs.frozen
class LevelReport:
    """What ``market.levels.metrics(seller)`` shows: the level, every figure, and the gap
    to the next level.

    .. versionadded:: 0.1
    """

    seller_id: str
    level: str
    #: Display names of the level.
    names: Mapping[str, str]
    pinned: bool
    badges: tuple[str, ...]
    #: When the seller fell below the current level's requirements; None if not.
    below_since: dt.datetime | None
    #: When the seller will be moved down unless the figures recover; None if not at risk.
    demotion_due: dt.datetime | None
    #: All-time figures.
    all_time: Figures
    #: Every window the ladder uses, by days.
    windows: Mapping[int, Figures]
    #: The current level's requirements (all met, unless the seller is at risk).
    current: tuple[Check, ...]
    #: The next level's id, or None at the top.
    next_level: str | None
    #: The next level's requirements against the figures: the gap.
    next: tuple[Check, ...]


@attrs.frozen
class EvaluationSummary:
    """What one :meth:`~microkit.levels.facade.LevelsFacade.evaluate` did.

    .. versionadded:: 0.1
    """

    now: dt.datetime
    evaluated: int
    promoted: int
    demoted: int
    #: Sellers who fell below their level's requirements (grace started).
    at_risk: int
    #: Sellers whose figures recovered during their grace.
    recovered: int

    @property
    def changed(self) -> int:
        return self.promoted + self.demoted + self.at_risk + self.recovered
