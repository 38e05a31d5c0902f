"""Catalog search for the in-memory backend: an inverted index plus plain filters.

Matching uses :class:`~microkit.catalog._textindex.InvertedIndex` (every term must
occur); ranking follows :mod:`microkit.catalog.indexing`, exactly as the SQL
backends do, so the same search returns the same page on every backend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import final

import attrs

from ..catalog._textindex import InvertedIndex
from ..catalog.indexing import (
    SearchDoc,
    SearchRow,
    SearchSpec,
    StatsDelta,
    keyset_after,
    rating_avg,
    sort_key,
)
from ..catalog.model import ServiceStats

__all__ = ["MemorySearch"]

Undo = Callable[[Callable[[], None]], None]


@attrs.define
class _Entry:
    seq: int
    doc: SearchDoc
    title_terms: frozenset[str]
    orders: int = 0
    points: int = 0
    ratings: int = 0


@final
class MemorySearch:
    """The search state of one :class:`~microkit.storage.memory.MemoryStorage`.

    Each mutating method takes ``undo``, the unit of work's undo-log append, and
    records how to reverse what it did.
    """

    def __init__(self) -> None:
        self.text = InvertedIndex()  # listed documents only: title + body
        self.entries: dict[str, _Entry] = {}
        self.next_seq = 1

    # -- writes ---------------------------------------------------------------

    def index(self, docs: Sequence[SearchDoc], undo: Undo) -> None:
        for doc in docs:
            self._index_one(doc, undo)

    def _index_one(self, doc: SearchDoc, undo: Undo) -> None:
        old = self.entries.get(doc.service_id)
        if old is None:
            entry = _Entry(self.next_seq, doc, frozenset(doc.title.split()))
            self.next_seq += 1
        else:
            entry = attrs.evolve(old, doc=doc, title_terms=frozenset(doc.title.split()))
        self.entries[doc.service_id] = entry
        self._sync_text(entry)

        def restore() -> None:
            if old is None:
                self.entries.pop(doc.service_id, None)
                self.text.remove(doc.service_id)
            else:
                self.entries[doc.service_id] = old
                self._sync_text(old)

        undo(restore)

    def _sync_text(self, entry: _Entry) -> None:
        if entry.doc.listed:
            self.text.add(entry.doc.service_id, f"{entry.doc.title} {entry.doc.body}")
        else:
            self.text.remove(entry.doc.service_id)

    def add_stats(self, service_id: str, delta: StatsDelta, undo: Undo) -> bool:
        entry = self.entries.get(service_id)
        if entry is None:
            return False
        before = (entry.orders, entry.points, entry.ratings)
        entry.orders += delta.orders_completed
        entry.points += delta.rating_points
        entry.ratings += delta.rating_count

        def restore() -> None:
            entry.orders, entry.points, entry.ratings = before

        undo(restore)
        return True

    # -- reads ----------------------------------------------------------------

    def stats(self, service_ids: Sequence[str]) -> dict[str, ServiceStats]:
        found = {}
        for service_id in service_ids:
            e = self.entries.get(service_id)
            if e is not None:
                avg = rating_avg(e.points, e.ratings)
                found[service_id] = ServiceStats(e.orders, e.ratings, avg)
        return found

    def seller_stats(self, seller_id: str) -> ServiceStats:
        mine = [e for e in self.entries.values() if e.doc.seller_id == seller_id]
        points = sum(e.points for e in mine)
        ratings = sum(e.ratings for e in mine)
        return ServiceStats(sum(e.orders for e in mine), ratings, rating_avg(points, ratings))

    def search(self, spec: SearchSpec) -> list[SearchRow]:
        if spec.terms:
            ids: Iterable[str] = self.text.search(spec.terms)
        else:
            ids = (sid for sid, e in self.entries.items() if e.doc.listed)
        within = frozenset(spec.within) if spec.category is not None else None
        terms = frozenset(spec.terms)
        rows: list[SearchRow] = []
        for service_id in ids:
            e = self.entries[service_id]
            d = e.doc
            if (
                (within is not None and d.categories[0] not in within)
                or (spec.min_price is not None and d.price < spec.min_price)
                or (spec.max_price is not None and d.price > spec.max_price)
                or (spec.max_delivery_days is not None and d.delivery_days > spec.max_delivery_days)
                or (spec.seller is not None and d.seller_id != spec.seller)
                or (spec.min_rating is not None and not _rated_at_least(e, spec.min_rating))
            ):
                continue
            key = sort_key(
                spec.sort, tier=0 if terms <= e.title_terms else 1, seq=e.seq, price=d.price,
                rating=rating_avg(e.points, e.ratings), ratings=e.ratings, orders=e.orders,
            )
            if keyset_after(key, spec.after):
                stats = ServiceStats(e.orders, e.ratings, rating_avg(e.points, e.ratings))
                rows.append(SearchRow(service_id, key, None, stats))
        rows.sort(key=lambda r: r.key)
        return rows[: spec.limit]


def _rated_at_least(e: _Entry, min_points: int) -> bool:
    if min_points <= 0:
        return True
    return e.ratings > 0 and e.points >= min_points * e.ratings
