"""``market.catalog.search``: validating a search, running it, and its page cursor.

The catalog normalizes the query (:func:`~microkit.catalog._normalize.query_terms`)
and hands storage a :class:`~microkit.catalog.indexing.SearchSpec`; the storage
backend matches and orders (see :mod:`microkit.catalog.indexing` for the ranking).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from decimal import Decimal, InvalidOperation
from typing import Final, cast

import attrs

from .._checks import money_bound
from ..config import MarketConfig
from ..errors import NotFound, ValidationError
from ..storage.base import Tx
from ..storage.records import CATEGORIES, SERVICES
from ._normalize import query_terms
from .indexing import SORTS, Key, SearchSpec, Sort
from .model import SearchHit, SearchPage

__all__ = ["MAX_LIMIT", "build_spec", "decode_cursor", "descendants", "empty_page",
           "encode_cursor", "run"]

#: Most hits one page may hold.
MAX_LIMIT: Final = 100
_KEY_LEN: Final = {"relevance": 2, "newest": 1, "price": 2, "-price": 2, "rating": 3,
                   "best_selling": 2}


def _bad(field: str, value: object, expected: str) -> ValidationError:
    return ValidationError(f"{field}: expected {expected}, got {value!r:.80}", field=field,
                           value=value)


def _money(field: str, value: object, config: MarketConfig) -> int | None:
    return None if value is None else money_bound(field, value, config).amount


def _rating(value: object) -> int | None:
    """Stars (0..5, at most 2 decimals used) as hundredths, rounded up."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise _bad("min_rating", value, "a number of stars 0..5 or None")
    try:
        stars = Decimal(str(value))
        ok = stars.is_finite() and 0 <= stars <= 5
    except InvalidOperation:
        ok = False
    if not ok:
        raise _bad("min_rating", value, "a number of stars 0..5 or None")
    return math.ceil(stars * 100)


def descendants(tx: Tx, slug: str) -> tuple[str, ...]:
    """``slug`` and every category below it."""
    out = [slug]
    i = 0
    while i < len(out):
        out += [c.slug for c in tx.find(CATEGORIES, {"parent": out[i]}, limit=10_000)]
        i += 1
    return tuple(out)


def build_spec(
    *,
    query: object,
    category: object,
    min_price: object,
    max_price: object,
    max_delivery_days: object,
    min_rating: object,
    seller: object,
    sort: object,
    limit: object,
    config: MarketConfig,
) -> tuple[SearchSpec, bool]:
    """Validate a search. Returns the spec (``within`` not yet filled) and whether it can
    match anything at all (False: the query has text but no terms, e.g. only punctuation).

    Raises:
        ValidationError: a wrong type or range (InvalidAmount, CurrencyMismatch for prices).
    """
    if query is not None and not isinstance(query, str):
        raise _bad("query", query, "text or None")
    terms = tuple(query_terms(query)) if query else ()
    searchable = not (query and query.strip() and not terms)
    for field, value in (("category", category), ("seller", seller)):
        if value is not None and (not isinstance(value, str) or not value or len(value) > 200):
            raise _bad(field, value, "an id (text) or None")
    if max_delivery_days is not None and (
        type(max_delivery_days) is not int or not 1 <= max_delivery_days <= 10_000
    ):
        raise _bad("max_delivery_days", max_delivery_days, "a whole number of days >= 1 or None")
    if sort not in SORTS:
        raise _bad("sort", sort, " | ".join(SORTS))
    if type(limit) is not int or not 1 <= limit <= MAX_LIMIT:
        raise _bad("limit", limit, f"an int 1..{MAX_LIMIT}")
    low = _money("min_price", min_price, config)
    high = _money("max_price", max_price, config)
    if low is not None and high is not None and low > high:
        searchable = False
    spec = SearchSpec(
        terms=terms,
        category=cast("str | None", category),
        min_price=low,
        max_price=high,
        max_delivery_days=max_delivery_days,
        min_rating=_rating(min_rating),
        seller=cast("str | None", seller),
        sort=cast("Sort", sort),
        limit=limit,
    )
    return spec, searchable


# -- cursor -------------------------------------------------------------------


def _fingerprint(spec: SearchSpec) -> str:
    what = attrs.evolve(spec, limit=0, after=None, within=())
    text = json.dumps(attrs.asdict(what), ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def encode_cursor(spec: SearchSpec, key: Key) -> str:
    """An opaque cursor: the search it belongs to and the last hit's sort key."""
    body = json.dumps({"f": _fingerprint(spec), "k": list(key)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def decode_cursor(cursor: object, spec: SearchSpec) -> Key:
    """The key in ``cursor``. Raises ValidationError unless it came from this same search."""
    if not isinstance(cursor, str) or len(cursor) > 500:
        raise _bad("cursor", cursor, "a cursor from a previous page of this search")
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        key = data["k"]
        fingerprint = data["f"]
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise _bad("cursor", cursor, "a cursor from a previous page of this search") from None
    ok = (
        fingerprint == _fingerprint(spec)
        and isinstance(key, list)
        and len(key) == _KEY_LEN[spec.sort]
        and all(type(v) is int or (type(v) is float and math.isfinite(v)) for v in key)
    )
    if not ok:
        raise _bad("cursor", cursor, "a cursor from a previous page of this same search")
    return tuple(key)


# -- running ------------------------------------------------------------------


def run(tx: Tx, spec: SearchSpec, cursor: object) -> SearchPage:
    """Run a validated search over ``tx`` and build the page.

    Raises:
        NotFound: unknown category.  ValidationError: a bad cursor.
    """
    if cursor is not None:
        spec = attrs.evolve(spec, after=decode_cursor(cursor, spec))
    if spec.category is not None:
        if tx.get(CATEGORIES, spec.category) is None:
            raise NotFound("category", spec.category)
        spec = attrs.evolve(spec, within=descendants(tx, spec.category))
    page = spec.limit
    rows = tx.search_services(attrs.evolve(spec, limit=page + 1))
    shown = rows[:page]
    missing = [r.service_id for r in shown if r.stats is None]
    stats = tx.service_stats(missing) if missing else {}
    hits = []
    for row in shown:
        service = row.service or tx.get(SERVICES, row.service_id)
        if service is not None and service.state == "approved":
            hits.append(SearchHit(service, row.stats or stats[row.service_id]))
    more = len(rows) > page
    return SearchPage(tuple(hits), encode_cursor(spec, shown[-1].key) if more else None)


def empty_page() -> SearchPage:
    """What a search that cannot match anything returns."""
    return SearchPage((), None)

