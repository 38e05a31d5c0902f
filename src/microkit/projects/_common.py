"""Checks and small helpers shared by the projects, requests and offers facades."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Final, TypeVar

import attrs

from .._checks import collection
from .._core import Unit
from ..actors import Actor
from ..catalog.model import UpgradeSpec
from ..catalog.pricing import check_price
from ..config import MarketConfig
from ..errors import PermissionDenied, ValidationError
from ..messaging.model import Conversation
from ..money import Money
from ..storage.records import CONVERSATIONS
from .model import OfferUpgrade

__all__ = [
    "MAX_DAYS",
    "MAX_TEXT",
    "MAX_TITLE",
    "check_days",
    "check_money",
    "check_upgrades",
    "evolve",
    "open_conversation",
    "user_only",
]

R = TypeVar("R")

MAX_TITLE: Final = 200
MAX_TEXT: Final = 20_000
#: Longest duration, bid or offer delivery time, in days.
MAX_DAYS: Final = 365
MAX_OFFER_UPGRADES: Final = 10


def user_only(by: Actor, action: str) -> None:
    """Raises PermissionDenied unless ``by`` is a marketplace user."""
    if not isinstance(by, Actor) or by.kind != "user":
        raise PermissionDenied(f"{by} may not {action}: users only", actor=str(by),
                               action=action)


def check_days(field: str, value: object) -> int:
    if type(value) is not int or not 1 <= value <= MAX_DAYS:
        raise ValidationError(f"{field}: expected a whole number of days in 1..{MAX_DAYS},"
                              f" got {value!r}", field=field, value=value)
    return value


def check_money(field: str, value: object, config: MarketConfig, *, upgrade: bool = False
                ) -> Money:
    """A price under the market's policy: currency, minimum, step, maximum.

    Raises: InvalidAmount, CurrencyMismatch, PriceOutOfRange.
    """
    return check_price(value, field=field, config=config, category=None, upgrade=upgrade)


def check_upgrades(specs: Sequence[UpgradeSpec], config: MarketConfig
                   ) -> tuple[OfferUpgrade, ...]:
    """An offer's upgrades, numbered ``u1``, ``u2``, … Raises ValidationError."""
    given = collection("upgrades", specs)
    if len(given) > MAX_OFFER_UPGRADES:
        raise ValidationError(f"upgrades: expected at most {MAX_OFFER_UPGRADES} UpgradeSpec",
                              field="upgrades", value=specs)
    out = []
    for i, spec in enumerate(given, 1):
        if not isinstance(spec, UpgradeSpec):
            raise ValidationError(f"upgrades: expected UpgradeSpec records, got {spec!r:.80}",
                                  field="upgrades", value=spec)
        title = spec.title.strip() if isinstance(spec.title, str) else ""
        if not title or len(title) > MAX_TITLE:
            raise ValidationError(f"upgrades: expected a title of 1..{MAX_TITLE} characters,"
                                  f" got {spec.title!r:.80}", field="upgrades", value=spec)
        if type(spec.extra_days) is not int or not -MAX_DAYS <= spec.extra_days <= MAX_DAYS:
            raise ValidationError(f"upgrades: extra_days must be a whole number of days, got"
                                  f" {spec.extra_days!r}", field="upgrades", value=spec)
        price = check_money("upgrades.price", spec.price, config, upgrade=True)
        out.append(OfferUpgrade(f"u{i}", title, price, spec.extra_days))
    return tuple(out)


def open_conversation(
    u: Unit, conv_id: str, *, subject_id: str, buyer_id: str, seller_id: str
) -> Conversation:
    """The pre-purchase conversation ``conv_id`` between a buyer and a seller, created if
    missing (kind ``"inquiry"``: about a project or a request rather than a service)."""
    conv = u.tx.get(CONVERSATIONS, conv_id)
    if conv is None:
        conv = Conversation(conv_id, "inquiry", subject_id, buyer_id, seller_id, u.now, u.now)
        u.tx.add(CONVERSATIONS, conv)
        u.emit("conversation.opened", f"conversation:{conv_id}", f"user:{buyer_id}", {
            "conversation_id": conv_id, "subject_id": subject_id, "buyer_id": buyer_id,
            "seller_id": seller_id,
        })
    return conv


def evolve(record: R, now: dt.datetime, **changes: Any) -> R:
    """``record`` with ``changes``, ``updated_at`` now and its version bumped."""
    version: int = getattr(record, "version")  # noqa: B009 - any versioned record
    out: R = attrs.evolve(record, updated_at=now, version=version + 1,  # type: ignore[misc]
                          **changes)
    return out
