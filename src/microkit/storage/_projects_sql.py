"""Project browsing for the SQL backends: SQLite FTS5, PostgreSQL tsvector + GIN.

``project_search`` holds one row per project: filter and sort columns and the
normalized text. SQLite indexes the text, the skill tokens and the category
path in ``project_fts`` (external content, *listed* projects only) and reads
matches in rowid order, newest first, stopping after the page; PostgreSQL keeps
generated ``tsvector`` columns with GIN indexes. Order follows
:mod:`microkit.projects.search` exactly.

Query text never becomes SQL: terms and skill tokens are bound parameters.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Final

from ..catalog._normalize import fts5_match
from ..projects.model import Project
from ..projects.search import Key, ProjectDoc, ProjectRow, ProjectSpec
from ._codec import codec_for
from ._feature import FeatureTx, is_sqlite, keyset_after

__all__ = ["MIGRATION_STATEMENTS", "index_projects", "search_projects"]

_COLUMNS: Final = (
    " project_id TEXT NOT NULL UNIQUE, category TEXT NOT NULL, cats TEXT NOT NULL,"
    " listed {bool} NOT NULL, budget_min {bigint} NOT NULL, budget_max {bigint} NOT NULL,"
    " duration_days INTEGER NOT NULL, bids INTEGER NOT NULL, created_at TEXT NOT NULL,"
    " title TEXT NOT NULL, body TEXT NOT NULL, skills TEXT NOT NULL"
)

#: Migration 6's search statements (per dialect where they differ).
MIGRATION_STATEMENTS: Final[tuple[str | dict[str, str], ...]] = (
    {"postgresql": "CREATE SEQUENCE project_search_seq"},
    {
        "sqlite": "CREATE TABLE project_search (rid INTEGER PRIMARY KEY,"
        + _COLUMNS.replace("{bool}", "INTEGER").replace("{bigint}", "INTEGER") + ")",
        "postgresql": "CREATE TABLE project_search (rid BIGINT PRIMARY KEY"
        " DEFAULT (-nextval('project_search_seq')),"
        + _COLUMNS.replace("{bool}", "BOOLEAN").replace("{bigint}", "BIGINT")
        + ", tsv_all tsvector GENERATED ALWAYS AS (to_tsvector('simple', title || ' ' || body"
        " || ' ' || skills)) STORED, tsv_skills tsvector GENERATED ALWAYS AS"
        " (to_tsvector('simple', skills)) STORED)",
    },
    {
        "sqlite": "CREATE VIRTUAL TABLE project_fts USING fts5(title, body, skills, cats,"
        " content='project_search', content_rowid='rid', columnsize=0,"
        " tokenize=\"unicode61 remove_diacritics 0 tokenchars '-'\")",
        "postgresql": "CREATE INDEX ix_project_search_tsv ON project_search USING GIN (tsv_all)",
    },
    {"postgresql": "CREATE INDEX ix_project_search_skills ON project_search"
                   " USING GIN (tsv_skills)"},
    "CREATE INDEX ix_project_search_category ON project_search (category, rid)",
    "CREATE INDEX ix_project_search_budget_max ON project_search (budget_max DESC, rid)",
    "CREATE INDEX ix_project_search_budget_min ON project_search (budget_min, rid)",
    "CREATE INDEX ix_project_search_bids ON project_search (bids, rid)",
    # Facet posting lists of *listed* projects: one row per category on the path
    # ("c:logos", "c:design") and per skill ("k:<token>"), with the sort columns, so a
    # facet filter reads any order straight off an index and stops after the page.
    "CREATE TABLE project_facets (facet TEXT NOT NULL, rid {bigint} NOT NULL,"
    " budget_min {bigint} NOT NULL, budget_max {bigint} NOT NULL, bids INTEGER NOT NULL,"
    " PRIMARY KEY (facet, rid)){without_rowid}",
    "CREATE INDEX ix_project_facets_budget_max ON project_facets (facet, budget_max DESC, rid)",
    "CREATE INDEX ix_project_facets_budget_min ON project_facets (facet, budget_min, rid)",
    "CREATE INDEX ix_project_facets_bids ON project_facets (facet, bids, rid)",
)


def _fts_string(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


_COLS: Final = ("category", "cats", "listed", "budget_min", "budget_max", "duration_days",
                "bids", "created_at", "title", "body", "skills")


def _values(doc: ProjectDoc) -> tuple[Any, ...]:
    return (doc.categories[0], " ".join(doc.categories), doc.listed, doc.budget_min,
            doc.budget_max, doc.duration_days, doc.bids, doc.created_at.isoformat(),
            doc.title, doc.body, doc.skills)


def _facets(doc: ProjectDoc) -> list[str]:
    return [f"c:{c}" for c in doc.categories] + [f"k:{k}" for k in doc.skills.split()]


def _sync_facets(tx: FeatureTx, rid: int, old: ProjectDoc | None, doc: ProjectDoc) -> None:
    """Keep ``project_facets`` in step: rows only while listed, sort columns current."""
    cur, q = tx.cursor, tx.sql
    was = set(_facets(old)) if old is not None and old.listed else set()
    now = set(_facets(doc)) if doc.listed else set()
    gone, kept, new = was - now, was & now, now - was
    if gone:
        cur.executemany(q("DELETE FROM project_facets WHERE facet = ? AND rid = ?"),
                        [(f, rid) for f in sorted(gone)])
    if kept and old is not None and (old.budget_min, old.budget_max, old.bids) != (
            doc.budget_min, doc.budget_max, doc.bids):
        cur.executemany(q("UPDATE project_facets SET budget_min = ?, budget_max = ?, bids = ?"
                          " WHERE facet = ? AND rid = ?"),
                        [(doc.budget_min, doc.budget_max, doc.bids, f, rid)
                         for f in sorted(kept)])
    if new:
        cur.executemany(q("INSERT INTO project_facets (facet, rid, budget_min, budget_max, bids)"
                          " VALUES (?,?,?,?,?)"),
                        [(f, rid, doc.budget_min, doc.budget_max, doc.bids)
                         for f in sorted(new)])


def index_projects(tx: FeatureTx, docs: Sequence[ProjectDoc]) -> None:
    """Add or replace the documents of these projects (see ``Tx.index_projects``)."""
    cur, q, sqlite = tx.cursor, tx.sql, is_sqlite(tx)
    for doc in {d.project_id: d for d in docs}.values():
        cur.execute(q("SELECT rid, listed, title, body, skills, cats, budget_min, budget_max,"
                      " bids, duration_days, created_at FROM project_search"
                      " WHERE project_id = ?"), (doc.project_id,))
        old = cur.fetchone()
        values = _values(doc)
        fts_new = (doc.title, doc.body, doc.skills, " ".join(doc.categories))
        if old is None:
            if sqlite:
                # rid = -seq: FTS5 reads newest first in its fast (ascending) direction.
                cur.execute("SELECT coalesce(min(rid), 0) - 1 FROM project_search")
                rid = int(cur.fetchone()[0])
                cur.execute(
                    f"INSERT INTO project_search (rid, project_id, {', '.join(_COLS)})"
                    f" VALUES ({','.join('?' * (len(_COLS) + 2))})",
                    (rid, doc.project_id, *values),
                )
                if doc.listed:
                    cur.execute("INSERT INTO project_fts (rowid, title, body, skills, cats)"
                                " VALUES (?,?,?,?,?)", (rid, *fts_new))
            else:
                cur.execute(
                    q(f"INSERT INTO project_search (project_id, {', '.join(_COLS)})"
                      f" VALUES ({','.join('?' * (len(_COLS) + 1))}) RETURNING rid"),
                    (doc.project_id, *values),
                )
                rid = int(cur.fetchone()[0])
            _sync_facets(tx, rid, None, doc)
            continue
        rid, was_listed = int(old[0]), bool(old[1])
        fts_old = (old[2], old[3], old[4], old[5])
        before = ProjectDoc(doc.project_id, tuple(str(old[5]).split()), was_listed,
                            int(old[6]), int(old[7]), int(old[9]), int(old[8]),
                            doc.created_at, old[2], old[3], old[4])
        _sync_facets(tx, rid, before, doc)
        same = fts_old == fts_new
        if sqlite and was_listed and not (doc.listed and same):
            cur.execute("INSERT INTO project_fts (project_fts, rowid, title, body, skills, cats)"
                        " VALUES ('delete', ?, ?, ?, ?, ?)", (rid, *fts_old))
        sets = ", ".join(f"{c} = ?" for c in _COLS)
        cur.execute(q(f"UPDATE project_search SET {sets} WHERE rid = ?"), (*values, rid))
        if sqlite and doc.listed and not (was_listed and same):
            cur.execute("INSERT INTO project_fts (rowid, title, body, skills, cats)"
                        " VALUES (?,?,?,?,?)", (rid, *fts_new))


@functools.lru_cache(maxsize=4096)
def _decode(data: str) -> Project:
    """A project record from its stored JSON; cached, since the same hits recur."""
    return codec_for(Project).loads(data)


def search_projects(tx: FeatureTx, spec: ProjectSpec) -> list[ProjectRow]:
    """Listed projects matching ``spec``, in its order, after ``spec.after``."""
    if not spec.terms and (spec.category is not None or len(spec.skills) == 1) and (
        spec.sort != "newest" or not is_sqlite(tx)
    ):
        return _by_facet(tx, spec)
    sqlite = is_sqlite(tx)
    clauses: list[str] = []
    params: list[Any] = []
    match: list[str] = []
    if sqlite:
        if spec.terms:
            match.append(f"{{title body skills}} : ({fts5_match(spec.terms)})")
        if spec.skills:
            match.append("skills : (" + " OR ".join(_fts_string(k) for k in spec.skills) + ")")
    # SQLite: the category path is an FTS5 column too, read in rowid (newest) order,
    # so a category filter stops after the page instead of sorting every match.
    if (match or sqlite) and spec.category is not None:
        match.append(f"cats : {_fts_string(spec.category)}")
    if match:
        source = "project_fts JOIN project_search s ON s.rid = project_fts.rowid"
        clauses.append("project_fts MATCH ?")
        params.append(" AND ".join(match))
        rid_col = "project_fts.rowid" if spec.sort == "newest" else "s.rid"
    else:
        source = "project_search s"
        clauses.append("s.listed = " + ("1" if sqlite else "TRUE"))
        rid_col = "s.rid"
        if spec.category is not None:
            clauses.append(f"s.category IN ({','.join('?' * len(spec.within))})")
            params += spec.within
        if not sqlite and spec.terms:
            clauses.append("s.tsv_all @@ plainto_tsquery('simple', ?)")
            params.append(" ".join(spec.terms))
        if not sqlite and spec.skills:
            clauses.append("s.tsv_skills @@ to_tsquery('simple', ?)")
            params.append(" | ".join(spec.skills))
    for clause, value in (
        ("s.budget_max >= ?", spec.min_budget),
        ("s.budget_min <= ?", spec.max_budget),
        ("s.duration_days <= ?", spec.max_duration_days),
    ):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    # (expression, descending) per key component; the key negates descending ones.
    order: list[tuple[str, bool]] = {
        "newest": [(rid_col, False)],
        "budget_high": [("s.budget_max", True), (rid_col, False)],
        "budget_low": [("s.budget_min", False), (rid_col, False)],
        "fewest_bids": [("s.bids", False), (rid_col, False)],
    }[spec.sort]
    if spec.after is not None:
        clause, values = keyset_after(order, spec.after)
        clauses.append(clause)
        params += values
    # Order and cut the page on the narrow index rows first; only the page's records
    # are then read (joining every match to its JSON body first costs a lookup each).
    inner = (
        f"SELECT s.rid AS rid, s.project_id AS project_id, s.budget_min AS budget_min,"
        f" s.budget_max AS budget_max, s.bids AS bids FROM {source}"
        " WHERE " + " AND ".join(clauses)
        + " ORDER BY " + ", ".join(f"{e}{' DESC' if d else ''}" for e, d in order)
        + " LIMIT ?"
    )
    outer = ", ".join(f"h.{e.split('.')[-1].replace('rowid', 'rid')}{' DESC' if d else ''}"
                      for e, d in order)
    sql = (
        "SELECT h.rid, h.project_id, h.budget_min, h.budget_max, h.bids, p.data"
        f" FROM ({inner}) h JOIN projects p ON p.key = h.project_id ORDER BY {outer}"
    )
    cur = tx.cursor
    cur.execute(tx.sql(sql), [*params, spec.limit])
    out = []
    for r in cur.fetchall():
        rid, low, high, bids = int(r[0]), int(r[2]), int(r[3]), int(r[4])
        key: Key = {
            "newest": (rid,),
            "budget_high": (-high, rid),
            "budget_low": (low, rid),
            "fewest_bids": (bids, rid),
        }[spec.sort]
        out.append(ProjectRow(str(r[1]), key, _decode(r[5])))
    return out


def _by_facet(tx: FeatureTx, spec: ProjectSpec) -> list[ProjectRow]:
    """A category (or one skill) filter in any order, read off ``project_facets``; other
    skills and the range filters are checked on the way, the page is cut first."""
    if spec.category is not None:
        facet, skills = f"c:{spec.category}", spec.skills
    else:
        facet, skills = f"k:{spec.skills[0]}", ()
    clauses = ["f.facet = ?"]
    params: list[Any] = [facet]
    source = "project_facets f"
    if skills or spec.max_duration_days is not None:
        source += " JOIN project_search s ON s.rid = f.rid"
        if skills:
            clauses.append("(" + " OR ".join(["(' ' || s.skills || ' ') LIKE ?"] * len(skills))
                           + ")")
            params += [f"% {k} %" for k in skills]
        if spec.max_duration_days is not None:
            clauses.append("s.duration_days <= ?")
            params.append(spec.max_duration_days)
    for clause, value in (("f.budget_max >= ?", spec.min_budget),
                          ("f.budget_min <= ?", spec.max_budget)):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    order: list[tuple[str, bool]] = {
        "newest": [("f.rid", False)],
        "budget_high": [("f.budget_max", True), ("f.rid", False)],
        "budget_low": [("f.budget_min", False), ("f.rid", False)],
        "fewest_bids": [("f.bids", False), ("f.rid", False)],
    }[spec.sort]
    if spec.after is not None:
        clause, values = keyset_after(order, spec.after)
        clauses.append(clause)
        params += values
    by = ", ".join(f"{e}{' DESC' if d else ''}" for e, d in order)
    inner = (f"SELECT f.rid AS rid, f.budget_min AS budget_min, f.budget_max AS budget_max,"
             f" f.bids AS bids FROM {source} WHERE {' AND '.join(clauses)} ORDER BY {by}"
             " LIMIT ?")
    outer = by.replace("f.", "h.")
    sql = ("SELECT h.rid, s.project_id, h.budget_min, h.budget_max, h.bids, p.data"
           f" FROM ({inner}) h JOIN project_search s ON s.rid = h.rid"
           f" JOIN projects p ON p.key = s.project_id ORDER BY {outer}")
    cur = tx.cursor
    cur.execute(tx.sql(sql), [*params, spec.limit])
    out = []
    for r in cur.fetchall():
        rid, low, high, bids = int(r[0]), int(r[2]), int(r[3]), int(r[4])
        key: Key = {"newest": (rid,), "budget_high": (-high, rid), "budget_low": (low, rid),
                    "fewest_bids": (bids, rid)}[spec.sort]
        out.append(ProjectRow(str(r[1]), key, _decode(r[5])))
    return out
