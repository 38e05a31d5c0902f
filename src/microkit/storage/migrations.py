"""Versioned schema migrations, shared by the SQL backends.

Each migration is a number, a description and statements in portable SQL
with a few dialect tokens: ``{serial}`` (an auto-numbered primary key),
``{bigint}`` and ``{without_rowid}`` (SQLite keeps a text-keyed table in one
B-tree instead of two: one page write less per insert). Applied migrations
are recorded in ``schema_migrations``; a database is brought up to date when
it is opened. Never edit a released
migration: add a new one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import attrs

from .._settings import SETTINGS
from ._projects_sql import MIGRATION_STATEMENTS as _PROJECT_SEARCH
from ._search_sql import MIGRATION_7_STATEMENTS as _CATALOG_SEARCH_7
from ._search_sql import MIGRATION_STATEMENTS as _CATALOG_SEARCH
from .base import RecordKind
from .records import (
    BIDS,
    BUYER_REQUESTS,
    CARTS,
    CATEGORIES,
    CHECKOUTS,
    CONVERSATIONS,
    LEVEL_SCHEDULE,
    MESSAGES,
    OFFERS,
    ORDERS,
    PAYMENT_LINKS,
    PAYMENTS,
    PAYOUTS,
    PROJECTS,
    RATINGS,
    REFUNDS,
    REQUEST_RESPONSES,
    RESPONSE_STATS,
    REVIEWS,
    SELLER_BUYERS,
    SELLER_LEVELS,
    SELLER_METRICS,
    SERVICES,
    USERS,
    WEBHOOKS,
)

__all__ = ["MIGRATIONS", "Migration", "record_table"]

#: Raised by a statement of held-back writes when one changed no row (``SQLSTATE MK001``,
#: the write's index as the detail): the statement, and so all it wrote, is undone.
_MICROKIT_FAIL = """CREATE OR REPLACE FUNCTION microkit_fail(failed integer) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE EXCEPTION 'microkit: held-back write % changed no row', failed
        USING ERRCODE = 'MK001', DETAIL = failed::text;
END
$$"""


#: A statement for every dialect, or one per dialect name (a dialect left out skips it).
Statement = str | Mapping[str, str]


@attrs.frozen
class Migration:
    """One schema step. Numbers are reserved per feature so parallel work never collides:
    1 core, 2 catalog search, 3 order rules/messages/reviews, 4 payments/payouts,
    5 levels, 6 projects, 7 catalog search tuning, 8 held-back write checks,
    9 market settings."""

    version: int
    description: str
    statements: tuple[Statement, ...]


def record_table(kind: RecordKind[object], **column_types: str) -> tuple[str, ...]:
    """DDL for a record kind: key, version, its index columns, the JSON body; an index per
    indexed column. Index columns are TEXT unless ``column_types`` says otherwise.

    Record rows are large (the JSON body), so they stay rowid tables: inserts
    append, and only the small key index takes a random page.
    """
    cols = "".join(f", {c} {column_types.get(c, 'TEXT')}" for c in kind.index)
    ddl = [f"CREATE TABLE {kind.table} (key TEXT PRIMARY KEY, version INTEGER{cols},"
           " data TEXT NOT NULL)"]
    ddl += [
        f"CREATE INDEX ix_{kind.table}_{c} ON {kind.table} ({c}, key)"
        for c in kind.index
        if c in kind.indexed_columns
    ]
    return tuple(ddl)


MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(
        1,
        "records, ledger, timers, events",
        (
            *record_table(USERS),  # type: ignore[arg-type]
            *record_table(CATEGORIES),  # type: ignore[arg-type]
            *record_table(SERVICES),  # type: ignore[arg-type]
            *record_table(ORDERS),  # type: ignore[arg-type]
            *record_table(PAYMENTS),  # type: ignore[arg-type]
            "CREATE TABLE accounts (name TEXT PRIMARY KEY, currency TEXT NOT NULL,"
            " balance {bigint} NOT NULL){without_rowid}",
            # body: the canonical text a retry is compared with; postings: the lines as JSON.
            "CREATE TABLE ledger_transactions (id TEXT PRIMARY KEY, kind TEXT NOT NULL,"
            " currency TEXT NOT NULL, at TEXT NOT NULL, body TEXT NOT NULL,"
            " postings TEXT NOT NULL){without_rowid}",
            # The journal, clustered by account: statements read one account's range.
            "CREATE TABLE postings (account TEXT NOT NULL, txn_id TEXT NOT NULL,"
            " line INTEGER NOT NULL, amount {bigint} NOT NULL, at TEXT NOT NULL,"
            " PRIMARY KEY (account, txn_id, line)){without_rowid}",
            # Clustered by due time; a timer's id fixes its due time, so (due_us, id) is unique.
            "CREATE TABLE timers (due_us {bigint} NOT NULL, id TEXT NOT NULL,"
            " subject TEXT NOT NULL, name TEXT NOT NULL, due_at TEXT NOT NULL, version INTEGER,"
            " PRIMARY KEY (due_us, id)){without_rowid}",
            "CREATE TABLE events (seq {serial}, name TEXT NOT NULL, subject TEXT NOT NULL,"
            " actor TEXT NOT NULL, at TEXT NOT NULL, data TEXT NOT NULL)",
            "CREATE INDEX ix_events_subject ON events (subject, seq)",
        ),
    ),
    # Catalog search: filter/sort columns and aggregates per service, plus full text
    # (SQLite FTS5 / PostgreSQL tsvector + GIN). See storage/_search_sql.py.
    Migration(2, "catalog search index and service aggregates", _CATALOG_SEARCH),
    Migration(
        3,
        "order rules: conversations, messages, response times, reviews, ratings, cart",
        (
            *record_table(CONVERSATIONS),  # type: ignore[arg-type]
            *record_table(MESSAGES),  # type: ignore[arg-type]
            *record_table(RESPONSE_STATS),  # type: ignore[arg-type]
            *record_table(REVIEWS, published="INTEGER"),  # type: ignore[arg-type]
            *record_table(RATINGS),  # type: ignore[arg-type]
            *record_table(CARTS),  # type: ignore[arg-type]
            *record_table(CHECKOUTS),  # type: ignore[arg-type]
        ),
    ),
    Migration(
        4,
        "payments: refunds, processed webhooks, gateway-reference links; payouts",
        (
            *record_table(REFUNDS),  # type: ignore[arg-type]
            *record_table(WEBHOOKS),  # type: ignore[arg-type]
            *record_table(PAYMENT_LINKS),  # type: ignore[arg-type]
            *record_table(PAYOUTS),  # type: ignore[arg-type]
        ),
    ),
    Migration(
        5,
        "seller levels: metrics, buyers served, standing, evaluation schedule",
        (
            *record_table(SELLER_METRICS),  # type: ignore[arg-type]
            *record_table(SELLER_BUYERS),  # type: ignore[arg-type]
            *record_table(SELLER_LEVELS),  # type: ignore[arg-type]
            *record_table(LEVEL_SCHEDULE),  # type: ignore[arg-type]
        ),
    ),
    # Projects: records, plus the browse index (storage/_projects_sql.py).
    Migration(
        6,
        "projects, bids, buyer requests, request responses, custom offers; project browsing",
        (
            *record_table(PROJECTS),  # type: ignore[arg-type]
            *record_table(BIDS),  # type: ignore[arg-type]
            *record_table(BUYER_REQUESTS),  # type: ignore[arg-type]
            *record_table(REQUEST_RESPONSES),  # type: ignore[arg-type]
            *record_table(OFFERS),  # type: ignore[arg-type]
            *_PROJECT_SEARCH,
        ),
    ),
    # Catalog search: catalog_fts with the ascii tokenizer and a larger write buffer.
    Migration(7, "catalog full-text index: ascii tokenizer over normalized text,"
              " 16 MiB write buffer", _CATALOG_SEARCH_7),
    # PostgreSQL checks held-back writes inside the statement that sends them (storage/_sql).
    Migration(8, "microkit_fail(): aborts a statement, naming the held-back write that"
              " failed", ({"postgresql": _MICROKIT_FAIL},)),
    # What a market records about itself (microkit/_settings.py): its currency, written on
    # the first open and checked on every later one.
    Migration(9, "market settings: the market's currency",
              record_table(SETTINGS)),  # type: ignore[arg-type]
)
