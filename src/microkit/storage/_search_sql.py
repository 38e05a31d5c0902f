"""Catalog search for the SQL backends: SQLite FTS5, PostgreSQL tsvector + GIN.

``catalog_search`` holds one row per service: the filter and sort columns, the
aggregates (zero by default), and the normalized title/body text. SQLite indexes
that text in ``catalog_fts``, an FTS5 table over it (external content) holding
*listed* services only; PostgreSQL keeps generated ``tsvector`` columns with a
GIN index. Ranking follows :mod:`microkit.catalog.indexing` exactly.

Why no BM25: FTS5's ``bm25()`` scores every match before ``LIMIT`` applies (21 ms
p95 at 35,000 services, 276 ms at 1,000,000 on the reference floor). The tiered
order here is read straight off the index in rowid order, so FTS5 stops after
``limit`` rows: the cost is bounded by the page, not by how common a word is.

Query text never becomes SQL: terms are FTS5 strings (``fts5_match``) or a
``plainto_tsquery`` argument, always bound as parameters.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Final

from ..catalog._normalize import fts5_match
from ..catalog.indexing import Key, SearchDoc, SearchRow, SearchSpec, StatsDelta, rating_avg
from ..catalog.model import Service, ServiceStats
from ._codec import codec_for, iso
from ._feature import FeatureTx, is_sqlite, keyset_after

__all__ = [
    "MIGRATION_7_STATEMENTS",
    "MIGRATION_STATEMENTS",
    "add_service_stats",
    "index_services",
    "search_services",
    "seller_stats",
    "service_stats",
]

_CHUNK: Final = 500

_COLUMNS_SQLITE: Final = (
    "rid INTEGER PRIMARY KEY, service_id TEXT NOT NULL UNIQUE, seller_id TEXT NOT NULL,"
    " category TEXT NOT NULL, cats TEXT NOT NULL, listed INTEGER NOT NULL,"
    " price INTEGER NOT NULL, delivery_days INTEGER NOT NULL, created_at TEXT NOT NULL,"
    " orders_completed INTEGER NOT NULL DEFAULT 0, rating_points INTEGER NOT NULL DEFAULT 0,"
    " rating_count INTEGER NOT NULL DEFAULT 0, title TEXT NOT NULL, body TEXT NOT NULL"
)
_COLUMNS_PG: Final = (
    "rid BIGINT PRIMARY KEY DEFAULT (-nextval('catalog_search_seq')),"
    " service_id TEXT NOT NULL UNIQUE, seller_id TEXT NOT NULL,"
    " category TEXT NOT NULL, cats TEXT NOT NULL, listed BOOLEAN NOT NULL,"
    " price BIGINT NOT NULL, delivery_days INTEGER NOT NULL, created_at TEXT NOT NULL,"
    " orders_completed BIGINT NOT NULL DEFAULT 0, rating_points BIGINT NOT NULL DEFAULT 0,"
    " rating_count BIGINT NOT NULL DEFAULT 0, title TEXT NOT NULL, body TEXT NOT NULL,"
    " tsv_title tsvector GENERATED ALWAYS AS (to_tsvector('simple', title)) STORED,"
    " tsv_all tsvector GENERATED ALWAYS AS (to_tsvector('simple', title || ' ' || body)) STORED"
)

#: Migration 2's statements (per dialect where they differ).
MIGRATION_STATEMENTS: Final[tuple[str | dict[str, str], ...]] = (
    {"postgresql": "CREATE SEQUENCE catalog_search_seq"},
    {
        "sqlite": f"CREATE TABLE catalog_search ({_COLUMNS_SQLITE})",
        "postgresql": f"CREATE TABLE catalog_search ({_COLUMNS_PG})",
    },
    # The text is normalized already: the tokenizer only splits on spaces; '-' is kept
    # inside category slugs. columnsize=0: no per-row size table (no bm25 is used).
    {
        "sqlite": "CREATE VIRTUAL TABLE catalog_fts USING fts5(title, body, cats,"
        " content='catalog_search', content_rowid='rid', columnsize=0,"
        " tokenize=\"unicode61 remove_diacritics 0 tokenchars '-'\")",
        "postgresql": "CREATE INDEX ix_catalog_search_tsv ON catalog_search USING GIN (tsv_all)",
    },
    "CREATE INDEX ix_catalog_search_category ON catalog_search (category, rid)",
    "CREATE INDEX ix_catalog_search_seller ON catalog_search (seller_id, rid)",
)


#: FTS5 buffers a write transaction's new terms in memory and writes them out as a new
#: index segment whenever the buffer passes ``hashsize`` (default 1 MiB), merging
#: segments as they pile up. An import of 20,000 services holds ~2.5 million terms:
#: with the default it writes a dozen small segments and merges them again within
#: the same transaction. 16 MiB lets one such unit of work write about one segment
#: (and leaves fewer segments for a query to read). A persistent FTS5 setting; it
#: changes neither what is indexed nor what a query matches.
FTS_HASHSIZE: Final = 16 << 20

#: Migration 7's statements: catalog_fts again, with the ``ascii`` tokenizer, and
#: refilled from catalog_search (its listed rows, as :func:`index_services` keeps it).
#: The text is normalized already (``index_text``): terms of letters, digits and
#: spacing marks separated by single spaces, so splitting on spaces (and ASCII
#: punctuation, of which there is none) is all the tokenizer has to do; ``ascii``
#: does exactly that, byte by byte, where ``unicode61`` decoded and classified every
#: character again (about half of the indexing time). It also makes one term one
#: token always, as the in-memory index has it (``unicode61`` split a term at the
#: code points its older Unicode tables do not count as letters, e.g. spacing marks).
#: '-' is a token character so category slugs stay whole.
MIGRATION_7_STATEMENTS: Final[tuple[str | dict[str, str], ...]] = (
    {"sqlite": "DROP TABLE catalog_fts"},
    {"sqlite": "CREATE VIRTUAL TABLE catalog_fts USING fts5(title, body, cats,"
               " content='catalog_search', content_rowid='rid', columnsize=0,"
               " tokenize=\"ascii tokenchars '-'\")"},
    {"sqlite": "INSERT INTO catalog_fts (catalog_fts, rank)"
               f" VALUES ('hashsize', {FTS_HASHSIZE})"},
    {"sqlite": "INSERT INTO catalog_fts (rowid, title, body, cats)"
               " SELECT rid, title, body, cats FROM catalog_search WHERE listed ORDER BY rid"},
)


def _chunks(items: Sequence[str]) -> list[Sequence[str]]:
    return [items[i: i + _CHUNK] for i in range(0, len(items), _CHUNK)]


# -- writes -------------------------------------------------------------------


def index_services(tx: FeatureTx, docs: Sequence[SearchDoc]) -> None:
    """See :meth:`microkit.storage.base.Tx.index_services`."""
    latest = {d.service_id: d for d in docs}  # a service twice in one batch: last wins
    if not latest:
        return
    cur, q, sqlite = tx.cursor, tx.sql, is_sqlite(tx)
    existing: dict[str, tuple[int, bool, str, str, str]] = {}
    for chunk in _chunks(list(latest)):
        marks = ",".join("?" * len(chunk))
        cur.execute(
            q(f"SELECT service_id, rid, listed, title, body, cats FROM catalog_search"
              f" WHERE service_id IN ({marks})"),
            list(chunk),
        )
        for sid, rid, listed, title, body, cats in cur.fetchall():
            existing[sid] = (int(rid), bool(listed), title, body, cats)

    fts_delete: list[tuple[int, str, str, str]] = []
    fts_insert: list[tuple[int, str, str, str]] = []
    updates: list[tuple[Any, ...]] = []
    inserts: list[tuple[Any, ...]] = []
    # rid = -seq: the newest service has the smallest rowid, so FTS5 reads newest first
    # in its fast (ascending) direction. Writers are serialized, so min - 1 is free.
    first_rid = next_rid = 0
    if sqlite and len(existing) < len(latest):
        cur.execute("SELECT coalesce(min(rid), 0) FROM catalog_search")
        first_rid = next_rid = int(cur.fetchone()[0])
    for doc in latest.values():
        cats = " ".join(doc.categories)
        created = iso(doc.created_at)
        old = existing.get(doc.service_id)
        if old is None:
            if sqlite:
                next_rid -= 1
                inserts.append((next_rid, doc.service_id, doc.seller_id, doc.categories[0], cats,
                                doc.listed, doc.price, doc.delivery_days, created, doc.title,
                                doc.body))
            else:
                inserts.append((doc.service_id, doc.seller_id, doc.categories[0], cats,
                                doc.listed, doc.price, doc.delivery_days, created, doc.title,
                                doc.body))
            continue
        rid, was_listed, title, body, old_cats = old
        updates.append((doc.seller_id, doc.categories[0], cats, doc.listed, doc.price,
                        doc.delivery_days, created, doc.title, doc.body, rid))
        same_text = (title, body, old_cats) == (doc.title, doc.body, cats)
        if was_listed and not (doc.listed and same_text):
            fts_delete.append((rid, title, body, old_cats))
        if doc.listed and not (was_listed and same_text):
            fts_insert.append((rid, doc.title, doc.body, cats))

    cols = ("seller_id, category, cats, listed, price, delivery_days, created_at, title, body")
    if sqlite and fts_delete:  # external content: delete with the old values, before they change
        cur.executemany(
            "INSERT INTO catalog_fts (catalog_fts, rowid, title, body, cats)"
            " VALUES ('delete', ?, ?, ?, ?)",
            fts_delete,
        )
    if updates:
        sets = ", ".join(f"{c.strip()} = ?" for c in cols.split(","))
        cur.executemany(q(f"UPDATE catalog_search SET {sets} WHERE rid = ?"), updates)
    if inserts:
        head = "rid, " if sqlite else ""
        marks = ",".join("?" * len(inserts[0]))
        if sqlite:
            # Ascending rowids: appended in order, B-tree pages fill up instead of being
            # split half-empty as each new smallest rid lands on the left edge.
            inserts.reverse()
        cur.executemany(
            q(f"INSERT INTO catalog_search ({head}service_id, {cols}) VALUES ({marks})"), inserts
        )
    if sqlite and inserts:
        # The new rows' text goes to FTS5 straight from the rows just written (one
        # statement, no second pass of the text through Python), in ascending rowid
        # order: FTS5 flushes its in-memory buffer whenever a rowid is not above the last.
        cur.execute(
            "INSERT INTO catalog_fts (rowid, title, body, cats) SELECT rid, title, body, cats"
            " FROM catalog_search WHERE rid >= ? AND rid < ? AND listed ORDER BY rid",
            (next_rid, first_rid),
        )
    if sqlite and fts_insert:
        fts_insert.sort()
        cur.executemany(
            "INSERT INTO catalog_fts (rowid, title, body, cats) VALUES (?, ?, ?, ?)", fts_insert
        )


def add_service_stats(tx: FeatureTx, service_id: str, delta: StatsDelta) -> None:
    """See :meth:`microkit.storage.base.Tx.add_service_stats`."""
    tx.update_one(
        "UPDATE catalog_search SET orders_completed = orders_completed + ?,"
        " rating_points = rating_points + ?, rating_count = rating_count + ?"
        " WHERE service_id = ?",
        [delta.orders_completed, delta.rating_points, delta.rating_count, service_id],
        ("service", service_id),
    )


# -- reads --------------------------------------------------------------------


def service_stats(tx: FeatureTx, service_ids: Sequence[str]) -> dict[str, ServiceStats]:
    """See :meth:`microkit.storage.base.Tx.service_stats`."""
    found: dict[str, ServiceStats] = {}
    cur = tx.cursor
    for chunk in _chunks(list(dict.fromkeys(service_ids))):
        marks = ",".join("?" * len(chunk))
        cur.execute(
            tx.sql(
                "SELECT service_id, orders_completed, rating_points, rating_count"
                f" FROM catalog_search WHERE service_id IN ({marks})"
            ),
            list(chunk),
        )
        for sid, orders, points, count in cur.fetchall():
            found[sid] = ServiceStats(int(orders), int(count), rating_avg(int(points), int(count)))
    return found


def seller_stats(tx: FeatureTx, seller_id: str) -> ServiceStats:
    """See :meth:`microkit.storage.base.Tx.seller_stats`."""
    cur = tx.cursor
    cur.execute(
        tx.sql(
            "SELECT coalesce(sum(orders_completed), 0), coalesce(sum(rating_points), 0),"
            " coalesce(sum(rating_count), 0) FROM catalog_search WHERE seller_id = ?"
        ),
        (seller_id,),
    )
    orders, points, count = cur.fetchone()
    return ServiceStats(int(orders), int(count), rating_avg(int(points), int(count)))


_AVG: Final = (
    "(CASE WHEN s.rating_count > 0 THEN CAST(s.rating_points AS DOUBLE PRECISION) / 100.0"
    " / s.rating_count ELSE 0.0 END)"
)
# The hit's search columns and its service record (one statement, no lookup per hit).
_SELECT: Final = (
    "SELECT s.rid, s.service_id, s.price, s.rating_points, s.rating_count,"
    " s.orders_completed, sv.data"
)
_JOIN_SERVICE: Final = " JOIN services sv ON sv.key = s.service_id"


@functools.lru_cache(maxsize=4096)
def _decode(data: str) -> Service:
    """A service record from its stored JSON; cached, since the same hits recur."""
    return codec_for(Service).loads(data)


def _filters(spec: SearchSpec, *, category: bool) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if category and spec.category is not None:
        clauses.append(f"s.category IN ({','.join('?' * len(spec.within))})")
        params += spec.within
    for clause, value in (
        ("s.price >= ?", spec.min_price),
        ("s.price <= ?", spec.max_price),
        ("s.delivery_days <= ?", spec.max_delivery_days),
        ("s.seller_id = ?", spec.seller),
    ):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    if spec.min_rating is not None and spec.min_rating > 0:
        clauses.append("s.rating_count > 0 AND s.rating_points >= ? * s.rating_count")
        params.append(spec.min_rating)
    return clauses, params


def _row(r: Sequence[Any], key: Key) -> SearchRow:
    orders, points, count = int(r[5]), int(r[3]), int(r[4])
    return SearchRow(str(r[1]), key, _decode(r[6]),
                     ServiceStats(orders, count, rating_avg(points, count)))


def search_services(tx: FeatureTx, spec: SearchSpec) -> list[SearchRow]:
    """See :meth:`microkit.storage.base.Tx.search_services`."""
    if spec.terms and spec.sort == "relevance" and is_sqlite(tx):
        return _sqlite_relevance(tx, spec)
    return _generic(tx, spec)


def _fts_string(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _sqlite_relevance(tx: FeatureTx, spec: SearchSpec) -> list[SearchRow]:
    """Tier 0 (every term in the title) then tier 1, each read newest first off FTS5."""
    m = fts5_match(spec.terms)
    cat = f" AND cats : {_fts_string(spec.category)}" if spec.category is not None else ""
    tiers = (
        (0, f"{{title}} : ({m}){cat}"),
        (1, f"({{title body}} : ({m}){cat}) NOT ({{title}} : ({m}))"),
    )
    clauses, params = _filters(spec, category=False)
    where = "".join(f" AND {c}" for c in clauses)
    rows: list[SearchRow] = []
    cur = tx.cursor
    for tier, match in tiers:
        after_rid: int | None = None
        if spec.after is not None:
            if spec.after[0] > tier:
                continue
            if spec.after[0] == tier:
                after_rid = int(spec.after[1])
        want = spec.limit - len(rows)
        if want <= 0:
            break
        sql = (
            f"{_SELECT} FROM catalog_fts JOIN catalog_search s ON s.rid = catalog_fts.rowid"
            f"{_JOIN_SERVICE} WHERE catalog_fts MATCH ?{where}"
            + (" AND catalog_fts.rowid > ?" if after_rid is not None else "")
            + " ORDER BY catalog_fts.rowid LIMIT ?"
        )
        args = [match, *params, *(() if after_rid is None else (after_rid,)), want]
        cur.execute(sql, args)
        rows += [_row(r, (tier, int(r[0]))) for r in cur.fetchall()]
    return rows


def _generic(tx: FeatureTx, spec: SearchSpec) -> list[SearchRow]:
    """Any sort, any filters: match, filter, then order by the sort's columns."""
    sqlite = is_sqlite(tx)
    clauses, params = _filters(spec, category=not (sqlite and spec.terms))
    tier_sql = "0"
    if spec.terms and sqlite:
        cat = f" AND cats : {_fts_string(spec.category)}" if spec.category is not None else ""
        source = "catalog_fts JOIN catalog_search s ON s.rid = catalog_fts.rowid"
        clauses.insert(0, "catalog_fts MATCH ?")
        params.insert(0, f"{{title body}} : ({fts5_match(spec.terms)}){cat}")
    elif spec.terms:  # PostgreSQL: the query's tsquery, computed once
        source = "catalog_search s CROSS JOIN plainto_tsquery('simple', ?) AS tq"
        params.insert(0, " ".join(spec.terms))
        clauses.insert(0, "s.listed = TRUE AND s.tsv_all @@ tq")
        tier_sql = "(CASE WHEN s.tsv_title @@ tq THEN 0 ELSE 1 END)"
    else:
        source = "catalog_search s"
        clauses.insert(0, "s.listed = TRUE")
    # (expression, descending) per key component; the key negates descending ones.
    order: list[tuple[str, bool]] = {
        "relevance": [(tier_sql, False), ("s.rid", False)],
        "newest": [("s.rid", False)],
        "price": [("s.price", False), ("s.rid", False)],
        "-price": [("s.price", True), ("s.rid", False)],
        "rating": [(_AVG, True), ("s.rating_count", True), ("s.rid", False)],
        "best_selling": [("s.orders_completed", True), ("s.rid", False)],
    }[spec.sort]
    if spec.after is not None:
        clause, values = keyset_after(order, spec.after)
        clauses.append(clause)
        params += values
    sql = (
        f"{_SELECT}, {tier_sql} FROM {source}{_JOIN_SERVICE} WHERE " + " AND ".join(clauses)
        + " ORDER BY " + ", ".join(f"{e}{' DESC' if d else ''}" for e, d in order if e != "0")
        + " LIMIT ?"
    )
    cur = tx.cursor
    cur.execute(tx.sql(sql), [*params, spec.limit])
    out = []
    for r in cur.fetchall():
        rid, price, points, count, orders, tier = (int(r[0]), int(r[2]), int(r[3]), int(r[4]),
                                                   int(r[5]), int(r[7]))
        key: Key = {
            "relevance": (tier, rid),
            "newest": (rid,),
            "price": (price, rid),
            "-price": (-price, rid),
            "rating": (-rating_avg(points, count), -count, rid),
            "best_selling": (-orders, rid),
        }[spec.sort]
        out.append(_row(r, key))
    return out
