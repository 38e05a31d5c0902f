"""What a market records about itself in its storage: its currency, checked on every open."""

from __future__ import annotations

import datetime as dt
from typing import Final

import attrs

from .errors import Conflict, InvalidConfig
from .money import Currency
from .storage.base import RecordKind, Storage, Tx

__all__ = ["CURRENCY", "SETTINGS", "MarketSetting", "check_currency"]

#: The key of the setting that holds the market's ISO 4217 currency code.
CURRENCY: Final = "currency"


@attrs.frozen
class MarketSetting:
    """One fact about the market that must not change between opens.

    .. versionadded:: 0.3
    """

    #: What it is, e.g. ``"currency"``.
    id: str
    #: Its value, e.g. ``"LYD"``.
    value: str
    #: When it was first recorded.
    recorded_at: dt.datetime
    version: int = 1


#: The market's settings, by name (migration 9).
SETTINGS: Final = RecordKind("market_settings", MarketSetting)


def _currency_in_use(tx: Tx) -> str | None:
    """The currency of a market that has money in it but no recorded currency (a database
    from before settings were recorded): read off its first service, order, payment,
    project, or category with a price bound."""
    from .storage.records import CATEGORIES, ORDERS, PAYMENTS, PROJECTS, SERVICES

    for service in tx.find(SERVICES, {}, limit=1):
        return service.price.currency.code
    for order in tx.find(ORDERS, {}, limit=1):
        return order.total.currency.code
    for payment in tx.find(PAYMENTS, {}, limit=1):
        return payment.amount.currency.code
    for project in tx.find(PROJECTS, {}, limit=1):
        return project.budget_min.currency.code
    for category in tx.find(CATEGORIES, {}, limit=1000):
        bound = category.min_price or category.max_price
        if bound is not None:
            return bound.currency.code
    return None


def check_currency(storage: Storage, currency: Currency, now: dt.datetime) -> None:
    """Record ``currency`` as the market's on its first open; refuse any other later.

    A storage without a recorded currency that already holds money (a market
    created before currencies were recorded) is taken to be in the currency of
    that money. Nothing is written when the currencies differ.

    Raises:
        InvalidConfig: the storage's market is in another currency (``field="currency"``).
    """
    with storage.read() as tx:
        found = tx.get(SETTINGS, CURRENCY)
    stored = None if found is None else found.value
    if stored is None:
        try:
            with storage.write() as tx:
                known = tx.get(SETTINGS, CURRENCY)
                stored = known.value if known is not None else _currency_in_use(tx)
                if known is None and stored in (None, currency.code):
                    tx.add(SETTINGS, MarketSetting(CURRENCY, currency.code, now))
                    stored = currency.code
        except Conflict:  # another process recorded it first (ConcurrentUpdate too)
            with storage.read() as tx:
                found = tx.get(SETTINGS, CURRENCY)
            stored = None if found is None else found.value
    if stored is not None and stored != currency.code:
        raise InvalidConfig(
            f"currency: this market's storage holds a {stored} market, but the config's"
            f" currency is {currency.code}; open it with a {stored} configuration",
            field="currency",
            value=currency.code,
        )
