"""MarketConfig: every rule a deployment may set, with the Khamsat and MicroLibya presets."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal, Self

import attrs

from .errors import InvalidConfig
from .levels.ladder import LevelLadder, default_ladder
from .money import Currency, Money, RoundingMode, currency, percent_of

__all__ = ["MarketConfig", "MessageFilterMode", "RefundDestination"]

RefundDestination = Literal["balance", "original"]
MessageFilterMode = Literal["block", "redact", "off"]


def _fail(field: str, value: object, expected: str) -> InvalidConfig:
    return InvalidConfig(f"{field}: expected {expected}, got {value!r}", field=field, value=value)


def _non_negative_int(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not int or value < 0:
        raise _fail(attribute.name, value, "an int >= 0")


def _positive_int_or_none(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (type(value) is not int or value < 1):
        raise _fail(attribute.name, value, "None or an int >= 1")


def _positive_int(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not int or value < 1:
        raise _fail(attribute.name, value, "an int >= 1")


def _names(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    ok = isinstance(value, tuple) and len(set(value)) == len(value) and all(
        isinstance(n, str) and n.isidentifier() and n != "overall" for n in value
    )
    if not ok:
        raise _fail(attribute.name, value, "distinct identifier names other than 'overall'")


def _bool(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not bool:
        raise _fail(attribute.name, value, "True or False")


def _name_tuple(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple | frozenset | set):
        raise _fail("review_dimensions", value, "a tuple of names")
    return tuple(value)


def _rate(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    # is_finite() first: comparing a NaN raises decimal.InvalidOperation.
    if (not isinstance(value, Decimal) or not value.is_finite()
            or not Decimal(0) <= value < Decimal(1)):
        raise _fail(attribute.name, value, "a Decimal in [0, 1)")


def _one_of(*choices: str) -> Any:
    def check(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value not in choices:
            raise _fail(attribute.name, value, "one of " + ", ".join(map(repr, choices)))

    return check


def _positive_duration(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, dt.timedelta) or value <= dt.timedelta(0):
        raise _fail(attribute.name, value, "a positive timedelta")


def _to_currency(value: str | Currency) -> Currency:
    try:
        return currency(value)
    except Exception as exc:
        raise _fail("currency", value, "an ISO 4217 code from microkit's table") from exc


def _default_levels(config: MarketConfig) -> LevelLadder:
    """The ladder a config gets when the caller sets none: :func:`default_ladder` from
    its ``min_price``, ``clearance_days`` and ``max_price``."""
    # Runs while the config is built, before validation: a bad field is left out here
    # and reported by its validator or __attrs_post_init__, naming it.
    low, days, cap = config.min_price, config.clearance_days, config.max_price
    if not isinstance(low, Money) or low.amount <= 0:
        low = Money.of(5, "USD")
    return default_ladder(
        low,
        clearance_days=days if type(days) is int and days >= 0 else None,
        max_price=cap if isinstance(cap, Money) and cap.currency == low.currency
        and cap >= low else None,
    )


@attrs.frozen(kw_only=True)
class MarketConfig:
    """The rules of one marketplace deployment. Frozen; change with :meth:`evolve`.

    Every number the reference sites use is a default here, never a constant
    in the code. Invalid values raise :class:`~microkit.errors.InvalidConfig`
    at construction, naming the field.

    .. versionadded:: 0.1
    """

    #: The market's one currency: every price, payment and balance is in it.
    currency: Currency = attrs.field(converter=_to_currency)
    #: Lowest price of a service, an upgrade or a bid.
    min_price: Money
    #: Prices must be whole multiples of this (Khamsat: 5 USD); None for any amount.
    price_step: Money | None = None
    #: Highest price of one service or upgrade; None for no global cap.
    max_price: Money | None = None
    #: Platform commission, taken from the seller's side only (0.20 = 20 %).
    commission_rate: Decimal = attrs.field(default=Decimal("0.20"), validator=_rate)
    #: How the commission is rounded to minor units; the seller's net is the exact rest.
    commission_rounding: RoundingMode = attrs.field(
        default="half_up", validator=_one_of("half_up", "half_even")
    )
    #: Optional fee charged to the buyer on top of the price; 0 turns it off.
    buyer_fee_rate: Decimal = attrs.field(default=Decimal(0), validator=_rate)
    #: Days a completed order's earnings stay pending before they are withdrawable.
    clearance_days: int = attrs.field(default=14, validator=_non_negative_int)
    #: Days after the last delivery after which the order completes by itself.
    auto_complete_days: int = attrs.field(default=3, validator=_non_negative_int)
    #: Days the seller has to start a paid order before the buyer may cancel.
    seller_start_days: int = attrs.field(default=2, validator=_non_negative_int)
    #: Whether the buyer may cancel with a full refund once the order is late.
    late_cancel: bool = attrs.field(default=True, validator=_bool)
    #: Cap on revision requests per order; None for unlimited.
    max_revisions: int | None = attrs.field(default=None, validator=_positive_int_or_none)
    #: How long an order may wait for payment before it expires.
    payment_timeout: dt.timedelta = attrs.field(
        default=dt.timedelta(hours=24), validator=_positive_duration
    )
    #: Where refunds go: the buyer's site balance or back through the gateway.
    refund_to: RefundDestination = attrs.field(
        default="balance", validator=_one_of("balance", "original")
    )
    #: Smallest withdrawal a seller may request.
    withdrawal_min: Money
    #: Withdrawal fee as a share of the amount (0.02 = 2 %).
    withdrawal_fee_rate: Decimal = attrs.field(default=Decimal(0), validator=_rate)
    #: Upper bound of the percentage fee; None for uncapped.
    withdrawal_fee_cap: Money | None = None
    #: Fixed withdrawal fee added to the percentage one.
    withdrawal_fee_fixed: Money | None = None
    #: Whether new and edited services wait for staff review before they are shown.
    moderation: bool = attrs.field(default=True, validator=_bool)
    #: Whether new projects wait for staff review before sellers can see and bid on them.
    project_moderation: bool = attrs.field(default=False, validator=_bool)
    #: Bids a seller may send per calendar month (UTC); None for no limit. A seller's
    #: level may set its own (``Privileges.max_bids_per_month``), which wins.
    max_bids_per_month: int | None = attrs.field(default=None, validator=_positive_int_or_none)
    #: Days a custom offer stays open when the seller gives no expiry of their own.
    offer_validity_days: int = attrs.field(default=3, validator=_positive_int)
    #: What the contact-information filter does with a message that shares contacts.
    message_filter: MessageFilterMode = attrs.field(
        default="block", validator=_one_of("block", "redact", "off")
    )
    #: Hours the other side has to answer a mutual-cancellation request.
    mutual_cancel_hours: int = attrs.field(default=48, validator=_non_negative_int)
    #: Days after completion in which the buyer may review the order.
    review_window_days: int = attrs.field(default=14, validator=_non_negative_int)
    #: What silence until ``mutual_cancel_hours`` end means: ``"cancel"`` (the request is
    #: accepted, full refund) or ``"continue"`` (refused; the order goes on).
    mutual_cancel_default: Literal["cancel", "continue"] = attrs.field(
        default="cancel", validator=_one_of("cancel", "continue")
    )
    #: Hours the seller has to answer a buyer's message on an active order before the
    #: buyer may cancel with a full refund; None turns that rule off.
    seller_response_hours: int | None = attrs.field(default=48, validator=_positive_int_or_none)
    #: Reviews are shown at once (``"immediate"``), or hidden until both sides reviewed or
    #: the review window ended (``"blind"``).
    review_publication: Literal["immediate", "blind"] = attrs.field(
        default="immediate", validator=_one_of("immediate", "blind")
    )
    #: Optional 1..5 rating dimensions a buyer may give beside the overall rating.
    review_dimensions: tuple[str, ...] = attrs.field(
        default=("communication", "as_described", "would_buy_again"), converter=_name_tuple,
        validator=_names,
    )
    #: Longest message, in characters.
    message_max_length: int = attrs.field(default=5000, validator=_positive_int)
    #: Most lines a buyer's cart may hold.
    cart_max_items: int = attrs.field(default=50, validator=_positive_int)
    #: Most times one cart line may buy its service (each one a separate order).
    cart_max_quantity: int = attrs.field(default=10, validator=_positive_int)
    #: The seller level ladder: requirements, privileges, evaluation schedule and grace.
    #: Default: four Khamsat-like levels scaled from ``min_price``, no level's clearance
    #: longer than ``clearance_days`` nor cap above ``max_price``
    #: (:func:`~microkit.levels.ladder.default_ladder`).
    levels: LevelLadder = attrs.field(
        default=attrs.Factory(_default_levels, takes_self=True)
    )

    def __attrs_post_init__(self) -> None:
        for name in ("min_price", "price_step", "max_price", "withdrawal_min",
                     "withdrawal_fee_cap", "withdrawal_fee_fixed"):
            value = getattr(self, name)
            if value is None and name not in ("min_price", "withdrawal_min"):
                continue  # an optional limit or fee that is off
            if not isinstance(value, Money) or value.currency != self.currency:
                raise _fail(name, value, f"Money in {self.currency.code}")
            if value.amount < 0 or (name in ("min_price", "price_step") and value.amount == 0):
                raise _fail(name, value, "a positive amount")
        if self.max_price is not None and self.max_price < self.min_price:
            raise _fail("max_price", self.max_price, f">= min_price {self.min_price}")
        if self.price_step is not None and self.min_price.amount % self.price_step.amount:
            raise _fail("min_price", self.min_price, f"a multiple of price_step {self.price_step}")
        if not isinstance(self.levels, LevelLadder):
            raise _fail("levels", self.levels, "a LevelLadder")
        self.levels.check(currency_code=self.currency.code, min_price=self.min_price)

    def evolve(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied; validated like a new config.

        A default ladder is computed again from the changed fields, as a config built
        from scratch with them would get it: ``levels`` is recomputed when it is not
        among ``changes`` and equals the ladder the current fields give (that is, the
        caller never set one). A ladder the caller set is kept.

        Raises:
            InvalidConfig: naming the field, for an impossible value.
        """
        if "levels" in changes or self.levels != _default_levels(self):
            return attrs.evolve(self, **changes)
        fields = {a.alias: getattr(self, a.name) for a in attrs.fields(type(self))
                  if a.init and a.name != "levels"}
        return type(self)(**{**fields, **changes})

    def commission(self, amount: Money) -> Money:
        """The platform's commission on ``amount`` (a price or part of one), rounded once.

        The one commission function: placement and dispute splits both use it; the
        seller's side is always ``amount - commission`` by subtraction.
        """
        return percent_of(amount, self.commission_rate, self.commission_rounding)

    def money(self, value: str | Decimal | int) -> Money:
        """``Money.of(value, self.currency)``: a shorthand for amounts in the market's currency."""
        return Money.of(value, self.currency)

    @classmethod
    def khamsat(cls) -> Self:
        """Khamsat-style: USD, from 5 USD in steps of 5, 20 % commission, refunds to balance."""
        usd = "USD"
        return cls(
            currency=usd,
            min_price=Money.of(5, usd),
            price_step=Money.of(5, usd),
            max_price=Money.of(1000, usd),
            commission_rate=Decimal("0.20"),
            clearance_days=14,
            auto_complete_days=3,
            refund_to="balance",
            withdrawal_min=Money.of(10, usd),
            withdrawal_fee_rate=Decimal("0.02"),
            withdrawal_fee_cap=Money.of(1, usd),
        )

    @classmethod
    def microlibya(cls) -> Self:
        """MicroLibya-style: Libyan dinar (3 decimals), from 10 LYD, commission from the seller."""
        lyd = "LYD"
        return cls(
            currency=lyd,
            min_price=Money.of(10, lyd),
            price_step=None,
            max_price=Money.of(5000, lyd),
            commission_rate=Decimal("0.15"),
            clearance_days=7,
            auto_complete_days=3,
            refund_to="balance",
            withdrawal_min=Money.of(50, lyd),
            withdrawal_fee_fixed=Money.of(2, lyd),
        )
