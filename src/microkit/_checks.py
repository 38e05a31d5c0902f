"""Input checks every facade uses: each returns the value (normalized) or raises a typed
error naming the field and the value."""

from __future__ import annotations

import datetime as dt
import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from .actors import Actor
from .config import MarketConfig
from .errors import CurrencyMismatch, InvalidAmount, ValidationError
from .money import Money

__all__ = ["actor_checked", "aware_time", "check_cursor", "collection", "money_bound", "text",
           "whole_number"]

C = TypeVar("C", bound=type)


def actor_checked(cls: C) -> C:
    """Check the ``by`` of every public method of ``cls`` that takes one, before the
    method runs: an :class:`~microkit.actors.Actor` (or None where None is its default),
    else ValidationError naming ``by`` and the value. A class decorator, so that each
    facade says it once, not in each of its commands."""
    for name, method in list(vars(cls).items()):
        if name.startswith("_") or not inspect.isfunction(method):
            continue
        params = inspect.signature(method).parameters
        by = params.get("by")
        if by is None:
            continue
        position = (list(params).index("by")
                    if by.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD else None)
        setattr(cls, name, _checking_by(method, position, optional=by.default is None))
    return cls


def _checking_by(method: Callable[..., Any], position: int | None, *,
                 optional: bool) -> Callable[..., Any]:
    @functools.wraps(method)
    def checked(*args: Any, **kwargs: Any) -> Any:
        if position is not None and len(args) > position:
            given, by = True, args[position]
        else:
            given, by = "by" in kwargs, kwargs.get("by")
        if given and not isinstance(by, Actor) and not (by is None and optional):
            raise ValidationError(
                f"by: expected an Actor (Actor.user(id), Actor.staff(id) or"
                f" Actor.system()), got {by!r:.80}",
                field="by",
                value=by,
            )
        return method(*args, **kwargs)

    return checked


def text(field: str, value: object, *, max_len: int, required: bool = True,
         strip: bool = True) -> str:
    """``value`` (stripped, unless not ``strip``), if it is text of at most ``max_len``
    characters (non-blank if ``required``). Raises ValidationError."""
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > max_len:
        raise ValidationError(
            f"{field}: expected {'non-empty ' if required else ''}text of at most {max_len}"
            f" characters, got {value!r:.80}",
            field=field,
            value=value,
        )
    return value.strip() if strip else value


def collection(field: str, value: object, *, one_str: bool = False) -> tuple[Any, ...]:
    """``value`` as a tuple, if it is an iterable of items and not a string (whose
    letters would become the items); with ``one_str``, one string is one item (an
    attachment reference given alone). Each item is checked by the caller. Raises
    ValidationError."""
    if one_str and isinstance(value, str):
        return (value,)
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValidationError(
            f"{field}: expected a list or tuple, got {value!r:.80}",
            field=field,
            value=value,
        )
    return tuple(value)


def check_cursor(field: str, value: object) -> str | None:
    """``value`` if it is None or a str: where a listing goes on from (a page's
    ``next_cursor``, or the last id seen). Raises ValidationError."""
    if value is not None and not isinstance(value, str):
        raise ValidationError(f"{field}: expected a page's next_cursor or the last id seen"
                              f" (a str) or None, got {value!r:.80}", field=field, value=value)
    return value


def aware_time(field: str, value: object) -> dt.datetime:
    """``value`` if it is a timezone-aware datetime (a naive one cannot be compared with
    the clock's). Raises ValidationError."""
    if not isinstance(value, dt.datetime) or value.utcoffset() is None:
        raise ValidationError(f"{field}: expected a timezone-aware datetime, got {value!r:.80}",
                              field=field, value=value)
    return value


def money_bound(field: str, value: object, config: MarketConfig) -> Money:
    """``value`` if it is Money in the market's currency and not negative: a search or
    browse filter, not a price being set, so no minimum, step or cap applies.

    Raises:
        InvalidAmount: not Money, or negative.  CurrencyMismatch: another currency.
    """
    if not isinstance(value, Money):
        raise InvalidAmount(f"{field}: expected Money or None, got {value!r:.80}", field=field,
                            value=value)
    if value.currency != config.currency:
        raise CurrencyMismatch(f"{field}: expected {config.currency.code}, got {value}",
                               field=field, value=value)
    if value.amount < 0:
        raise InvalidAmount(f"{field}: expected an amount of at least 0, got {value}",
                            field=field, value=value)
    return value


def whole_number(field: str, value: object, *, low: int, high: int) -> int:
    """``value`` if it is a whole number in ``low..high``. Raises ValidationError."""
    if type(value) is not int or not low <= value <= high:
        raise ValidationError(
            f"{field}: expected a whole number in {low}..{high}, got {value!r}",
            field=field,
            value=value,
        )
    return value
