"""Project browsing for the in-memory backend: an inverted index plus plain filters.

Matching and order follow :mod:`microkit.projects.search`, exactly as the SQL
backends do, so the same browse returns the same page on every backend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import final

import attrs

from ..catalog._textindex import InvertedIndex
from ..projects.search import ProjectDoc, ProjectRow, ProjectSpec, sort_key

__all__ = ["MemoryProjectSearch"]

Undo = Callable[[Callable[[], None]], None]


@attrs.frozen
class _Entry:
    rid: int
    doc: ProjectDoc
    skills: frozenset[str]


@final
class MemoryProjectSearch:
    """The project browse state of one :class:`~microkit.storage.memory.MemoryStorage`."""

    def __init__(self) -> None:
        self.text = InvertedIndex()  # listed projects only: title + body + skill tokens
        self.entries: dict[str, _Entry] = {}
        self.next_rid = -1

    def index(self, docs: Sequence[ProjectDoc], undo: Undo) -> None:
        for doc in docs:
            old = self.entries.get(doc.project_id)
            rid = old.rid if old is not None else self.next_rid
            if old is None:
                self.next_rid -= 1
            entry = _Entry(rid, doc, frozenset(doc.skills.split()))
            self.entries[doc.project_id] = entry
            self._sync(entry)

            def restore(pid: str = doc.project_id, old: _Entry | None = old) -> None:
                if old is None:
                    self.entries.pop(pid, None)
                    self.text.remove(pid)
                    self.next_rid += 1
                else:
                    self.entries[pid] = old
                    self._sync(old)

            undo(restore)

    def _sync(self, entry: _Entry) -> None:
        d = entry.doc
        if d.listed:
            self.text.add(d.project_id, f"{d.title} {d.body} {d.skills}")
        else:
            self.text.remove(d.project_id)

    def search(self, spec: ProjectSpec) -> list[ProjectRow]:
        if spec.terms:
            ids: Iterable[str] = self.text.search(spec.terms)
        else:
            ids = (pid for pid, e in self.entries.items() if e.doc.listed)
        within = frozenset(spec.within) if spec.category is not None else None
        skills = frozenset(spec.skills)
        rows: list[ProjectRow] = []
        for pid in ids:
            e = self.entries[pid]
            d = e.doc
            if (
                (within is not None and d.categories[0] not in within)
                or (skills and not skills & e.skills)
                or (spec.min_budget is not None and d.budget_max < spec.min_budget)
                or (spec.max_budget is not None and d.budget_min > spec.max_budget)
                or (spec.max_duration_days is not None
                    and d.duration_days > spec.max_duration_days)
            ):
                continue
            key = sort_key(spec.sort, rid=e.rid, budget_min=d.budget_min,
                           budget_max=d.budget_max, bids=d.bids)
            if spec.after is None or key > spec.after:
                rows.append(ProjectRow(pid, key))
        rows.sort(key=lambda r: r.key)
        return rows[: spec.limit]
