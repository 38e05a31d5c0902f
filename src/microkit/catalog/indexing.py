"""What the catalog hands a storage backend to index and search: documents, queries, rows.

A backend implements four :class:`~microkit.storage.base.Tx` methods over these
records (``index_services``, ``search_services``, ``service_stats``,
``add_service_stats``); the catalog does all text work (normalization, terms)
before they reach storage, so every backend matches the same terms the same way.

Ranking is the same on every backend, so the same query returns the same page
everywhere:

- ``relevance``: services whose *title* holds every query term first (tier 0),
  then those holding them across title, description and tags (tier 1); within
  a tier, newest first.
- ``newest``: newest first.  ``price`` / ``-price``: cheapest / dearest first.
- ``rating``: highest average first, then most ratings.  ``best_selling``:
  most completed orders first.

Ties always break newest first, by ``seq``: a number the backend gives a service
the first time it is indexed, increasing, never reused, kept across re-indexing.
"""

from __future__ import annotations

import datetime as dt
from typing import Final, Literal, get_args

import attrs

from .model import Service, ServiceStats

__all__ = [
    "SORTS",
    "Key",
    "SearchDoc",
    "SearchRow",
    "SearchSpec",
    "Sort",
    "StatsDelta",
    "keyset_after",
    "rating_avg",
    "sort_key",
]

#: The orders a search can return hits in.
Sort = Literal["relevance", "newest", "price", "-price", "rating", "best_selling"]
SORTS: Final[tuple[str, ...]] = get_args(Sort)

#: A hit's position in its sort order (see :func:`sort_key`); a cursor holds the last one.
Key = tuple[float | int, ...]


@attrs.frozen
class SearchDoc:
    """One service as the search index holds it. Text fields are already normalized.

    .. versionadded:: 0.1
    """

    service_id: str
    seller_id: str
    #: The service's category and every ancestor, nearest first: ``("logos", "design")``.
    categories: tuple[str, ...]
    #: Approved and not paused: only listed services are ever returned.
    listed: bool
    #: Base price in minor units of the market currency.
    price: int
    delivery_days: int
    created_at: dt.datetime
    #: ``index_terms`` of the title, joined by single spaces.
    title: str
    #: ``index_terms`` of the description and tags, joined by single spaces.
    body: str


@attrs.frozen
class SearchSpec:
    """A validated search, in storage terms.

    .. versionadded:: 0.1
    """

    #: Base-form terms (``query_terms``); every one must occur. Empty: no text filter.
    terms: tuple[str, ...]
    #: Only services in this category or below it ...
    category: str | None = None
    #: ... that is, whose own category is one of these (``category`` and its descendants).
    within: tuple[str, ...] = ()
    min_price: int | None = None
    max_price: int | None = None
    max_delivery_days: int | None = None
    #: Minimum average rating in hundredths of a star (450 = 4.5 stars): a service
    #: passes when ``rating_points >= min_rating * rating_count`` and, for
    #: ``min_rating > 0``, it has a rating at all.
    min_rating: int | None = None
    seller: str | None = None
    sort: Sort = "relevance"
    #: Rows wanted (the catalog asks for one more than a page to know if there is a next).
    limit: int = 20
    #: Only rows strictly after this key in the sort order (keyset paging).
    after: Key | None = None


@attrs.frozen
class SearchRow:
    """A hit as storage returns it: the service id and its sort key, and the service
    record and aggregates when the backend read them in the same pass (else the
    catalog looks them up).

    .. versionadded:: 0.1
    """

    service_id: str
    key: Key
    service: Service | None = None
    stats: ServiceStats | None = None


@attrs.frozen
class StatsDelta:
    """Increments to a service's sales and rating aggregates.

    .. versionadded:: 0.1
    """

    orders_completed: int = 0
    #: Sum of stars given, in hundredths of a star (4.5 stars -> 450).
    rating_points: int = 0
    rating_count: int = 0


def rating_avg(points: int, count: int) -> float:
    """Average stars from summed hundredths; 0.0 with no ratings. Every backend uses this
    formula (SQL: ``points / 100.0 / count``) so floats compare equal across backends."""
    return points / 100.0 / count if count else 0.0


def sort_key(
    sort: Sort, *, tier: int, seq: int, price: int, rating: float, ratings: int, orders: int
) -> Key:
    """The key a hit sorts by, ascending; descending fields are negated.

    Backends need not build it this way, but must return rows in this order and
    these values in :attr:`SearchRow.key` (the cursor compares them).
    """
    if sort == "relevance":
        return (tier, -seq)
    if sort == "newest":
        return (-seq,)
    if sort == "price":
        return (price, -seq)
    if sort == "-price":
        return (-price, -seq)
    if sort == "rating":
        return (-rating, -ratings, -seq)
    return (-orders, -seq)


def keyset_after(key: Key, after: Key | None) -> bool:
    """Whether a row with ``key`` comes strictly after the cursor position ``after``."""
    return after is None or key > after
