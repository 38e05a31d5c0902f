"""The level ladder: ordered seller levels, what each requires, what each allows.

Pure configuration: no storage, no clock. :class:`~microkit.config.MarketConfig`
holds one :class:`LevelLadder` as ``config.levels``; the default is four
levels like Khamsat's, with amounts scaled from the market's minimum price
so the same ladder fits a USD and an LYD market.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Final, Literal, get_args

import attrs

from ..errors import InvalidConfig
from ..money import Money

__all__ = [
    "METRICS",
    "Level",
    "LevelLadder",
    "Metric",
    "Privileges",
    "Requirement",
    "default_ladder",
]

#: What a requirement can measure.
#:
#: * ``completed_orders``: orders completed (accepted, auto-completed, or released by staff);
#: * ``unique_buyers``: distinct buyers among them;
#: * ``earnings``: the seller's net (after commission) from completed and split orders;
#: * ``account_age_days``: days since the seller registered (never windowed);
#: * ``rating``: average of buyers' published overall ratings (no ratings: not met);
#: * ``on_time_rate``: first deliveries by the due time, over first deliveries plus
#:   orders cancelled as late;
#: * ``completion_rate``: closed paid orders that were not cancelled;
#: * ``response_rate``: buyer messages answered within ``LevelLadder.response_hours``;
#: * ``disputes_lost``: disputes staff resolved by a refund or a split (an upper bound).
Metric = Literal[
    "completed_orders", "unique_buyers", "earnings", "account_age_days", "rating",
    "on_time_rate", "completion_rate", "response_rate", "disputes_lost",
]
METRICS: Final[tuple[str, ...]] = get_args(Metric)
_COUNTS: Final = frozenset({"completed_orders", "unique_buyers", "account_age_days",
                            "disputes_lost"})
_RATES: Final = frozenset({"on_time_rate", "completion_rate", "response_rate"})


def _fail(field: str, value: object, expected: str) -> InvalidConfig:
    return InvalidConfig(f"{field}: expected {expected}, got {value!r}", field=field, value=value)


def _window(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (type(value) is not int or value < 1):
        raise _fail(attribute.name, value, "None (all time) or a number of days >= 1")


@attrs.frozen
class Requirement:
    """One condition of a level: ``metric`` at least ``value`` (at most, for
    ``disputes_lost``) over the last ``window_days`` days, or all time.

    ``value`` is an int for counts and days, Money for earnings, a Decimal in
    [0, 1] for rates and in [1, 5] for the rating.

    .. versionadded:: 0.1
    """

    metric: Metric
    value: int | Decimal | Money
    #: Days back from the evaluation; None for all time. Ignored for ``account_age_days``.
    window_days: int | None = attrs.field(default=None, validator=_window)

    def __attrs_post_init__(self) -> None:
        m, v = self.metric, self.value
        where = f"requirement {m}"
        if m not in METRICS:
            raise _fail("metric", m, "one of " + ", ".join(METRICS))
        if m in _COUNTS:
            if type(v) is not int or v < 0:
                raise _fail(where, v, "an int >= 0")
        elif m == "earnings":
            if not isinstance(v, Money) or v.amount < 0:
                raise _fail(where, v, "Money >= 0")
        elif m == "rating":
            # is_finite first: comparing a NaN raises decimal.InvalidOperation.
            if not isinstance(v, Decimal) or not v.is_finite() or not 1 <= v <= 5:
                raise _fail(where, v, "a Decimal in [1, 5]")
        elif not isinstance(v, Decimal) or not v.is_finite() or not 0 <= v <= 1:
            raise _fail(where, v, "a Decimal in [0, 1]")

    @property
    def at_most(self) -> bool:
        """Whether ``value`` is a ceiling (``disputes_lost``) rather than a floor."""
        return self.metric == "disputes_lost"

    @property
    def window(self) -> int | None:
        """The window that applies: None for all time (always for account age)."""
        return None if self.metric == "account_age_days" else self.window_days


def _opt_count(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (type(value) is not int or value < 0):
        raise _fail(attribute.name, value, "None (no limit) or an int >= 0")


@attrs.frozen
class Privileges:
    """What a seller at a level may do; None means "no limit of its own".

    .. versionadded:: 0.1
    """

    #: Services at once that are approved or waiting for review.
    max_active_services: int | None = attrs.field(default=None, validator=_opt_count)
    #: Upgrades on one service.
    max_upgrades_per_service: int | None = attrs.field(default=None, validator=_opt_count)
    #: Highest price of a service or an upgrade (the market's and category's caps apply too).
    max_price: Money | None = None
    #: Days a completed order's earnings stay pending; None for ``config.clearance_days``.
    clearance_days: int | None = attrs.field(default=None, validator=_opt_count)
    #: Bids on open projects per calendar month; None for ``config.max_bids_per_month``.
    max_bids_per_month: int | None = attrs.field(default=None, validator=_opt_count)


def _requirements(value: Iterable[Requirement]) -> tuple[Requirement, ...]:
    return tuple(value)


def _levels(value: Iterable[Level]) -> tuple[Level, ...]:
    return tuple(value)


def _names(value: object) -> Mapping[str, str]:
    if not isinstance(value, Mapping):
        raise _fail("names", value, "a mapping of language code to display name")
    return dict(value)


@attrs.frozen
class Level:
    """One rung of the ladder.

    .. versionadded:: 0.1
    """

    #: Stable id, stored with each seller's level: ``"new"``, ``"level_one"``, …
    id: str
    #: Display names by language code; ``"ar"`` and ``"en"`` at least.
    names: Mapping[str, str] = attrs.field(converter=_names)
    #: All must hold for a seller to reach (and keep) this level.
    requirements: tuple[Requirement, ...] = attrs.field(default=(), converter=_requirements)
    privileges: Privileges = Privileges()

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.isidentifier() or len(self.id) > 50:
            raise _fail("levels.id", self.id, "an identifier of at most 50 characters")
        if not {"ar", "en"} <= set(self.names) or not all(
            isinstance(k, str) and isinstance(v, str) and v.strip()
            for k, v in self.names.items()
        ):
            raise _fail(f"levels.{self.id}.names", self.names,
                        "non-empty display names for 'ar' and 'en' at least")
        if not all(isinstance(r, Requirement) for r in self.requirements):
            raise _fail(f"levels.{self.id}.requirements", self.requirements,
                        "Requirement records")
        if not isinstance(self.privileges, Privileges):
            raise _fail(f"levels.{self.id}.privileges", self.privileges, "a Privileges record")

    def name(self, language: str = "en") -> str:
        """The display name in ``language``, English when there is none."""
        return self.names.get(language) or self.names["en"]


def _positive(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not int or value < 1:
        raise _fail(f"levels.{attribute.name}", value, "an int >= 1")


def _non_negative(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not int or value < 0:
        raise _fail(f"levels.{attribute.name}", value, "an int >= 0")


@attrs.frozen
class LevelLadder:
    """Ordered seller levels, lowest first, and how they are evaluated.

    Every seller starts at the first level, which may have no requirements.
    An evaluation moves a seller up to the highest level whose requirements
    (and every lower level's) hold; down only after ``demotion_grace_days``
    below the current level's requirements.

    .. versionadded:: 0.1
    """

    levels: tuple[Level, ...] = attrs.field(converter=_levels)
    #: :meth:`Marketplace.tick` evaluates every seller once this many days have passed
    #: since the last evaluation (Fiverr: monthly).
    evaluate_every_days: int = attrs.field(default=30, validator=_positive)
    #: Days a seller may stay below their level's requirements before being moved down.
    demotion_grace_days: int = attrs.field(default=30, validator=_non_negative)
    #: A buyer's message counts as answered for ``response_rate`` within this many hours.
    response_hours: int = attrs.field(default=24, validator=_positive)
    #: Days of per-day history kept for windows (at least the longest window).
    history_days: int = attrs.field(default=365, validator=_positive)

    def __attrs_post_init__(self) -> None:
        if not self.levels or not all(isinstance(lv, Level) for lv in self.levels):
            raise _fail("levels", self.levels, "at least one Level")
        ids = [lv.id for lv in self.levels]
        if len(set(ids)) != len(ids):
            raise _fail("levels", ids, "distinct level ids")
        if self.levels[0].requirements:
            raise _fail(f"levels.{ids[0]}.requirements", self.levels[0].requirements,
                        "none: every seller starts at the first level")
        longest = max((r.window or 0 for lv in self.levels for r in lv.requirements), default=0)
        if longest > self.history_days:
            raise _fail("levels.history_days", self.history_days,
                        f">= the longest window ({longest} days)")

    @classmethod
    def single(cls) -> LevelLadder:
        """One level with no requirements and no limits: seller levels off."""
        return cls((Level("seller", {"ar": "بائع", "en": "Seller"}),))

    @property
    def first(self) -> Level:
        return self.levels[0]

    def get(self, level_id: str) -> Level:
        """The level with this id. Raises KeyError."""
        for lv in self.levels:
            if lv.id == level_id:
                return lv
        raise KeyError(level_id)

    def index(self, level_id: str) -> int:
        """The rung of ``level_id`` (0 for the first); 0 for an id no longer in the ladder."""
        for i, lv in enumerate(self.levels):
            if lv.id == level_id:
                return i
        return 0

    def check(self, *, currency_code: str, min_price: Money) -> None:
        """Amounts must be in the market's currency; caps at least its minimum price.

        Raises:
            InvalidConfig: naming the level and the field.
        """
        for lv in self.levels:
            cap = lv.privileges.max_price
            if cap is not None and (
                not isinstance(cap, Money) or cap.currency.code != currency_code
                or cap < min_price
            ):
                raise _fail(f"levels.{lv.id}.max_price", cap,
                            f"Money in {currency_code} of at least {min_price}")
            for r in lv.requirements:
                if isinstance(r.value, Money) and r.value.currency.code != currency_code:
                    raise _fail(f"levels.{lv.id}.{r.metric}", r.value, f"Money in {currency_code}")


def default_ladder(
    min_price: Money, *, clearance_days: int | None = None, max_price: Money | None = None
) -> LevelLadder:
    """Four levels like Khamsat's: new, level one, level two, top seller.

    Amounts are multiples of ``min_price`` (Khamsat: 5 USD, so level one needs
    400 USD earned and may price up to 500 USD). Rates and the rating are
    measured over the last 90 days; counts and earnings over all time.

    A level is a privilege, never less than what the market gives everyone: its
    price cap is at most ``max_price``, and its clearance (10 days for level two,
    7 for top, as on Fiverr) at most ``clearance_days``, so a higher level never
    waits longer for its earnings than a new seller.
    :class:`~microkit.config.MarketConfig` passes its own ``min_price``,
    ``clearance_days`` and ``max_price``.

    Args:
        min_price: The market's minimum price; every amount is a multiple of it.
        clearance_days: The market's clearance (``config.clearance_days``); None
            bounds nothing.
        max_price: The market's price cap (``config.max_price``); None bounds nothing.

    Returns:
        The ladder. With Khamsat's rules (5 USD, 14 days, 1000 USD): caps 100, 500 and
        1000 USD and none; clearance the market's, the market's, 10 and 7 days.

    .. versionchanged:: 0.3 ``clearance_days`` and ``max_price`` bound the levels'
       privileges.
    """
    m = min_price

    def req(metric: Metric, value: int | Decimal | Money, window: int | None = None
            ) -> Requirement:
        return Requirement(metric, value, window)

    def d(text: str) -> Decimal:
        return Decimal(text)

    def cap(times: int) -> Money:
        amount = m * times
        return amount if max_price is None else min(amount, max_price)

    def clearance(days: int) -> int:
        return days if clearance_days is None else min(days, clearance_days)

    def quality(rating: str, rate: str, response: str, disputes: int) -> tuple[Requirement, ...]:
        return (
            req("rating", d(rating), 90), req("on_time_rate", d(rate), 90),
            req("completion_rate", d(rate), 90), req("response_rate", d(response), 90),
            req("disputes_lost", disputes, 90),
        )

    return LevelLadder((
        Level("new", {"ar": "بائع جديد", "en": "New seller"},
              privileges=Privileges(10, 5, cap(20), None)),
        Level("level_one", {"ar": "المستوى الأول", "en": "Level one"},
              (req("account_age_days", 30), req("completed_orders", 10),
               req("unique_buyers", 5), req("earnings", m * 80),
               *quality("4.5", "0.90", "0.80", 1)),
              Privileges(15, 10, cap(100), None)),
        Level("level_two", {"ar": "المستوى الثاني", "en": "Level two"},
              (req("account_age_days", 90), req("completed_orders", 50),
               req("unique_buyers", 20), req("earnings", m * 400),
               *quality("4.6", "0.92", "0.90", 1)),
              Privileges(20, 15, cap(200), clearance(10))),
        Level("top", {"ar": "بائع مميز", "en": "Top seller"},
              (req("account_age_days", 180), req("completed_orders", 200),
               req("unique_buyers", 75), req("earnings", m * 2000),
               *quality("4.8", "0.95", "0.95", 0)),
              Privileges(30, 20, None, clearance(7))),
    ))
