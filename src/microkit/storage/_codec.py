"""Turn frozen attrs records into JSON-ready dicts and back, by their field types.

A small, compiled-once converter (in the manner of cattrs) so every SQL
backend stores every record kind the same way: Money as ``[minor, "CODE"]``,
datetimes as ISO-8601 text, Decimals and timedeltas as text and seconds,
tuples as lists, nested records as dicts.
"""

from __future__ import annotations

import datetime as dt
import json
import types
import typing
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

import attrs

from ..money import Currency, Money, currency

__all__ = ["Codec", "codec_for"]

T = TypeVar("T")
_Conv = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


def _money_out(m: Money) -> list[Any]:
    return [m.amount, m.currency.code]


def _money_in(v: list[Any]) -> Money:
    return Money(v[0], currency(v[1]))


def _dt_in(v: str) -> dt.datetime:
    return dt.datetime.fromisoformat(v)


def _converters(tp: Any) -> tuple[_Conv, _Conv]:
    """(encode, decode) for one field type."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Money:
        return _money_out, _money_in
    if tp is Currency:
        return (lambda c: c.code), currency
    if tp is dt.datetime:
        return (lambda d: d.isoformat()), _dt_in
    if tp is dt.timedelta:
        return (lambda d: d.total_seconds()), (lambda s: dt.timedelta(seconds=s))
    if tp is Decimal:
        return str, Decimal
    if tp in (str, int, bool, float) or tp is Any or origin is typing.Literal:
        return _identity, _identity
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            enc, dec = _converters(inner[0])
            if enc is _identity:
                return _identity, _identity
            return (lambda v: None if v is None else enc(v)), (
                lambda v: None if v is None else dec(v)
            )
        return _identity, _identity
    if origin is tuple:
        item = args[0]
        enc, dec = _converters(item)
        if enc is _identity:
            return list, tuple
        return (lambda v: [enc(x) for x in v]), (lambda v: tuple(dec(x) for x in v))
    if origin in (Mapping, dict, typing.Mapping):
        enc, dec = _converters(args[1])
        return (lambda v: {k: enc(x) for k, x in v.items()}), (
            lambda v: {k: dec(x) for k, x in v.items()}
        )
    if attrs.has(tp):
        c = codec_for(tp)
        return c.to_dict, c.from_dict
    raise TypeError(f"no codec for field type {tp!r}")


@attrs.frozen
class Codec(typing.Generic[T]):
    """Compiled converters for one attrs class."""

    cls: type[T]
    fields: tuple[tuple[str, _Conv, _Conv], ...]

    def to_dict(self, record: T) -> dict[str, Any]:
        return {name: enc(getattr(record, name)) for name, enc, _ in self.fields}

    def from_dict(self, data: Mapping[str, Any]) -> T:
        return self.cls(**{name: dec(data[name]) for name, _, dec in self.fields if name in data})

    def dumps(self, record: T) -> str:
        return json.dumps(self.to_dict(record), ensure_ascii=False, separators=(",", ":"))

    def loads(self, text: str) -> T:
        return self.from_dict(json.loads(text))


_CODECS: dict[type[Any], Codec[Any]] = {}


def codec_for(cls: type[T]) -> Codec[T]:
    """The (cached) codec of an attrs class; field types are resolved once."""
    found = _CODECS.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls)
        fields = tuple(
            (f.name, *_converters(hints[f.name])) for f in attrs.fields(cls)  # type: ignore[arg-type]
        )
        found = _CODECS[cls] = Codec(cls, fields)
    return found
