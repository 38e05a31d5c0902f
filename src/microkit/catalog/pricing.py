"""The price policy and the one place an order's lines and total are computed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..config import MarketConfig
from ..errors import CurrencyMismatch, InvalidAmount, PriceOutOfRange, ValidationError
from ..money import Money, percent_of
from ..orders.model import OrderLine
from .model import Category, Service

__all__ = ["Quote", "check_price", "chosen_upgrades", "quote"]


def check_price(
    price: object, *, field: str, config: MarketConfig, category: Category | None,
    upgrade: bool = False,
) -> Money:
    """The price, if the market and the category allow it.

    The one price policy, for base prices and upgrades alike: the market currency,
    a positive amount, the market minimum (and the category minimum, for a base
    price only), the price step, the market maximum and the category cap.

    Raises:
        InvalidAmount: not Money, or not positive.
        CurrencyMismatch: not in the market's currency.
        PriceOutOfRange: under a minimum, off the step, over a cap.
    """
    if not isinstance(price, Money):
        raise InvalidAmount(
            f"{field}: expected Money, got {type(price).__name__} {price!r}"
            " (use Money.of('5', 'USD'))",
            field=field,
            value=price,
        )
    if price.currency != config.currency:
        raise CurrencyMismatch(
            f"{field}: expected a price in {config.currency.code}, got {price}",
            field=field,
            value=price,
        )
    if price.amount <= 0:
        raise InvalidAmount(f"{field}: expected a positive price, got {price}", field=field,
                            value=price)
    floor = config.min_price
    if not upgrade and category is not None and category.min_price is not None:
        floor = max(floor, category.min_price)
    if price < floor:
        raise PriceOutOfRange(f"{field}: expected at least {floor}, got {price}", field=field,
                              value=price)
    step = config.price_step
    if step is not None and price.amount % step.amount:
        raise PriceOutOfRange(
            f"{field}: expected a multiple of {step}, got {price}", field=field, value=price
        )
    caps = [c for c in (config.max_price, category.max_price if category else None) if c]
    if caps and price > min(caps):
        raise PriceOutOfRange(
            f"{field}: expected at most {min(caps)}, got {price}", field=field, value=price
        )
    return price


class Quote:
    """Lines, subtotal, buyer fee, total, delivery days and the commission split of a purchase."""

    __slots__ = ("buyer_fee", "commission", "days", "lines", "seller_share", "subtotal", "total")

    def __init__(self, lines: tuple[OrderLine, ...], days: int, config: MarketConfig) -> None:
        self.lines = lines
        self.days = days
        subtotal = Money(sum(line.amount.amount for line in lines), config.currency)
        self.subtotal = subtotal
        self.buyer_fee = percent_of(subtotal, config.buyer_fee_rate, config.commission_rounding)
        self.total = subtotal + self.buyer_fee
        # The commission is computed once and rounded; the seller's net is the exact rest.
        self.commission = config.commission(subtotal)
        self.seller_share = subtotal - self.commission


def chosen_upgrades(upgrades: Sequence[str] | Mapping[str, int]) -> dict[str, int]:
    """Upgrade ids (an id repeated is a quantity; one str is one id) or a mapping of id
    to quantity, as id → quantity in the order given. Raises ValidationError."""
    if isinstance(upgrades, str):
        upgrades = (upgrades,)
    if not isinstance(upgrades, Mapping | Sequence):
        raise ValidationError(
            f"upgrades: expected upgrade ids or a mapping of id to quantity, got"
            f" {upgrades!r:.80}", field="upgrades", value=upgrades)
    chosen: dict[str, int] = {}
    for upgrade_id in upgrades:
        if not isinstance(upgrade_id, str):
            raise ValidationError(f"upgrades: expected upgrade ids (str), got"
                                  f" {upgrade_id!r:.80}", field="upgrades", value=upgrade_id)
        chosen[upgrade_id] = chosen.get(upgrade_id, 0) + 1
    return dict(upgrades) if isinstance(upgrades, Mapping) else chosen


def quote(
    service: Service, upgrades: Sequence[str] | Mapping[str, int], config: MarketConfig
) -> Quote:
    """Price a purchase of ``service`` with the chosen upgrades (ids, or id → quantity).

    Raises:
        ValidationError: an unknown upgrade id, or a quantity outside 1..max_quantity.
    """
    chosen = chosen_upgrades(upgrades)
    lines = [OrderLine("service", service.title, service.price, 1, service.delivery_days)]
    days = service.delivery_days
    for upgrade_id, quantity in chosen.items():
        upgrade = service.upgrade(upgrade_id)
        if upgrade is None:
            raise ValidationError(
                f"upgrades: service {service.id} has no upgrade {upgrade_id!r}",
                field="upgrades",
                value=upgrade_id,
            )
        if type(quantity) is not int or not 1 <= quantity <= upgrade.max_quantity:
            raise ValidationError(
                f"upgrades: quantity of {upgrade_id!r} must be 1..{upgrade.max_quantity},"
                f" got {quantity!r}",
                field="upgrades",
                value=quantity,
            )
        lines.append(OrderLine(upgrade.id, upgrade.title, upgrade.price, quantity,
                               upgrade.extra_days))
        days += upgrade.extra_days * quantity
    return Quote(tuple(lines), max(1, days), config)
