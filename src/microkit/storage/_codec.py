"""Turn frozen attrs records into JSON-ready dicts and back, by their field types.

A small converter compiled once per class (in the manner of cattrs and of
attrs' own generated ``__init__``) so every SQL backend stores every record
kind the same way: Money as ``[minor, "CODE"]``, datetimes as ISO-8601 text,
Decimals and timedeltas as text and seconds, tuples as lists, nested records
as dicts. Each class gets two generated functions, one expression per field,
because records are encoded and decoded on every command.
"""

from __future__ import annotations

import datetime as dt
import enum
import itertools
import json
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

import attrs

from ..money import Currency, Money, currency

__all__ = ["Codec", "codec_for", "dumps_json", "iso"]

T = TypeVar("T")

def _unencodable(value: Any) -> Any:
    """JSON for what JSON has no type for, alike in both encoders: an enum member is its
    value and a UUID its text (orjson writes them so by itself); anything else is refused."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _stdlib_dumps() -> Callable[[Any], str]:
    """Compact JSON, non-ASCII kept as is (Arabic text stays readable and small).

    ``JSONEncoder.encode`` builds a new C encoder on every call; records are encoded
    on every command, so one is built once here (without the circular-reference
    check: records are trees). Where the C encoder is missing, the encoder's own
    ``encode`` gives the same text.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    encode_str = getattr(json.encoder, "c_encode_basestring", None)
    fallback = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"),
                                default=_unencodable).encode
    if make is None or encode_str is None:
        return fallback
    try:
        chunks = make(None, _unencodable, encode_str, None, ":", ",", False, False, True)
    except TypeError:  # another signature in another Python: keep the plain encoder
        return fallback
    join = "".join

    def dumps(value: Any) -> str:
        if isinstance(value, str):
            return encode_str(value)  # type: ignore[no-any-return]
        return join(chunks(value, 0))

    if dumps(_SAMPLE) != fallback(_SAMPLE):
        return fallback
    return dumps


#: A value both encoders must write alike before the faster one is used.
_SAMPLE: Any = {"a": [1, "ب\n\"", None, True, -2.5, {"b": []}], "c": 9_223_372_036_854_775_807}


def _make_dumps() -> Callable[[Any], str]:
    """orjson's encoder where it is installed (the ``fast`` extra): the same text,
    several times faster; else the standard library's.

    Records reach it as JSON's own types (through their ``to_dict``); event data
    may hold enum members and UUIDs too, which both encoders write alike
    (:func:`_unencodable`). What orjson would not write the same way it refuses
    (an int past 64 bits, a lone surrogate, a subclass of str or dict, a key
    that is not a str), and the standard library's encoder writes it. Two
    differences remain, in floats, which microkit stores only as averages and
    durations: an exponent is not padded (``5.96e-8`` for ``5.96e-08``: the
    same number), and NaN or an infinity, which JSON has no word for, becomes
    ``null``. Decoding stays the standard library's: orjson reads an int past
    64 bits as a float.
    """
    stdlib = _stdlib_dumps()
    try:
        import orjson
    except ImportError:
        return stdlib
    options = (orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME
               | orjson.OPT_PASSTHROUGH_DATACLASS)
    encode = orjson.dumps

    def dumps(value: Any) -> str:
        try:
            return encode(value, _unencodable, options).decode()
        except TypeError:  # orjson.JSONEncodeError is one
            return stdlib(value)

    return dumps if dumps(_SAMPLE) == stdlib(_SAMPLE) else stdlib


dumps_json: Callable[[Any], str] = _make_dumps()

#: Decoded Money values, shared: they are immutable, and a market has few distinct prices.
_MONEY: dict[tuple[int, str], Money] = {}
_MONEY_CACHE_MAX = 8192


def _money_in(v: list[Any]) -> Money:
    key = (v[0], v[1])
    found = _MONEY.get(key)
    if found is None:
        if len(_MONEY) >= _MONEY_CACHE_MAX:
            _MONEY.clear()
        found = _MONEY[key] = Money(v[0], currency(v[1]))
    return found


#: ISO-8601 text of recent UTC datetimes: one command writes its time many times over
#: (the record, its events, postings, timers), and ``isoformat`` is slow by comparison.
_ISO: dict[dt.datetime, str] = {}
_UTC = dt.UTC


def iso(when: dt.datetime) -> str:
    """``when`` as ISO-8601 text in UTC, remembered.

    Stored times are compared as text (a statement's period, the event log), which
    orders them as time only in one offset: another offset is converted first.
    """
    if when.tzinfo is not _UTC:
        if when.tzinfo is None:  # never stored by microkit; kept as given
            return when.isoformat()
        when = when.astimezone(_UTC)
    text = _ISO.get(when)
    if text is None:
        if len(_ISO) >= 4096:
            _ISO.clear()
        text = _ISO[when] = when.isoformat()
    return text


class _Gen:
    """Builds the source of one class's encoder and decoder; names helpers it needs."""

    def __init__(self) -> None:
        self.names: dict[str, Any] = {
            "_money_in": _money_in, "_currency": currency, "_fromiso": dt.datetime.fromisoformat,
            "_iso": iso,
            "_td": dt.timedelta, "_Decimal": Decimal, "_str": str, "_tuple": tuple,
        }
        self._vars = itertools.count()

    def helper(self, value: Any) -> str:
        name = f"_h{next(self._vars)}"
        self.names[name] = value
        return name

    def var(self) -> str:
        return f"_v{next(self._vars)}"

    def exprs(self, tp: Any, src: str) -> tuple[str, str] | None:
        """(encode, decode) expressions of ``src`` for type ``tp``; None: the value as is."""
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if tp is Money:
            return f"[{src}.amount, {src}.currency.code]", f"_money_in({src})"
        if tp is Currency:
            return f"{src}.code", f"_currency({src})"
        if tp is dt.datetime:
            return f"_iso({src})", f"_fromiso({src})"
        if tp is dt.timedelta:
            return f"{src}.total_seconds()", f"_td(seconds={src})"
        if tp is Decimal:
            return f"_str({src})", f"_Decimal({src})"
        if tp in (str, int, bool, float) or tp is Any or origin is typing.Literal:
            return None
        if origin in (types.UnionType, typing.Union):
            inner = [a for a in args if a is not type(None)]
            if len(inner) != 1:
                return None
            found = self.exprs(inner[0], src)
            if found is None:
                return None
            enc, dec = found
            return f"(None if {src} is None else {enc})", f"(None if {src} is None else {dec})"
        if origin is tuple:
            item = self.var()
            found = self.exprs(args[0], item)
            if found is None:
                return f"list({src})", f"_tuple({src})"
            enc, dec = found
            return (f"[{enc} for {item} in {src}]",
                    f"_tuple([{dec} for {item} in {src}])")
        if origin in (Mapping, dict, typing.Mapping):
            key, item = self.var(), self.var()
            found = self.exprs(args[1], item)
            if found is None:
                return f"dict({src})", f"dict({src})"
            enc, dec = found
            return (f"{{{key}: {enc} for {key}, {item} in {src}.items()}}",
                    f"{{{key}: {dec} for {key}, {item} in {src}.items()}}")
        if attrs.has(tp):
            c = codec_for(tp)
            return f"{self.helper(c.to_dict)}({src})", f"{self.helper(c.from_dict)}({src})"
        raise TypeError(f"no codec for field type {tp!r}")


@attrs.frozen
class Codec(typing.Generic[T]):
    """Compiled converters for one attrs class."""

    cls: type[T]
    to_dict: Callable[[T], dict[str, Any]]
    #: Tolerates missing fields (records written before a field existed get its default).
    from_dict: Callable[[Mapping[str, Any]], T]

    def dumps(self, record: T) -> str:
        return dumps_json(self.to_dict(record))

    def loads(self, text: str) -> T:
        return self.from_dict(json.loads(text))


_CODECS: dict[type[Any], Codec[Any]] = {}


def codec_for(cls: type[T]) -> Codec[T]:
    """The (cached) codec of an attrs class; field types are resolved once."""
    found = _CODECS.get(cls)
    if found is None:
        found = _CODECS[cls] = _compile(cls)
    return found


def _compile(cls: type[T]) -> Codec[T]:
    hints = typing.get_type_hints(cls)
    fields = [f for f in attrs.fields(cls) if f.init]  # type: ignore[arg-type]
    gen = _Gen()
    gen.names["_cls"] = cls
    enc_items, dec_all, dec_some = [], [], []
    for f in fields:
        src_out, src_in = f"r.{f.name}", f"d[{f.name!r}]"
        found = gen.exprs(hints[f.name], "_x")
        enc, dec = found if found is not None else ("_x", "_x")
        # A single-use name is substituted textually: ``_x`` is never part of another name.
        enc_items.append(f"{f.name!r}: {_subst(enc, src_out)}")
        dec_all.append(f"{f.alias}={_subst(dec, src_in)}")
        dec_some.append(
            f"    if {f.name!r} in d:\n        kw[{f.alias!r}] = {_subst(dec, src_in)}\n"
        )
    source = (
        "def to_dict(r):\n"
        f"    return {{{', '.join(enc_items)}}}\n"
        "def from_dict(d):\n"
        "    try:\n"
        f"        return _cls({', '.join(dec_all)})\n"
        "    except KeyError:\n"
        "        pass\n"
        "    kw = {}\n"
        f"{''.join(dec_some)}"
        "    return _cls(**kw)\n"
    )
    exec(compile(source, f"<microkit codec {cls.__qualname__}>", "exec"), gen.names)
    return Codec(cls, gen.names["to_dict"], gen.names["from_dict"])


def _subst(expr: str, src: str) -> str:
    """``expr`` with its placeholder ``_x`` replaced by ``src`` (evaluated where it stands)."""
    return expr.replace("_x", src)
