"""The in-memory backend: dicts, an undo log for rollback, one lock for isolation."""

from __future__ import annotations

import datetime as dt
import heapq
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar, final

import attrs

from ..catalog.indexing import SearchDoc, SearchRow, SearchSpec, StatsDelta
from ..catalog.model import ServiceStats
from ..errors import ConcurrentUpdate, Conflict, NotFound
from ..escrow.ledger import LedgerTransaction, deltas
from ..events import Event
from ..money import Currency
from ..projects.search import ProjectDoc, ProjectRow, ProjectSpec
from ._projects_memory import MemoryProjectSearch
from ._search_memory import MemorySearch
from .base import RecordKind, Timer

__all__ = ["MemoryStorage"]

T = TypeVar("T")
_MISSING: Any = object()


@final
class _MemoryTx:
    """A unit of work over :class:`MemoryStorage`; every change records how to undo it."""

    __slots__ = ("_s", "_undo")

    def __init__(self, storage: MemoryStorage) -> None:
        self._s = storage
        #: How to undo each change, newest last: ``(table, key, old value or _MISSING)``
        #: for a dict entry (a tuple: one small object, where a closure is four for the
        #: garbage collector to track), or a callable for anything else.
        self._undo: list[tuple[dict[Any, Any], Any, Any] | Callable[[], None]] = []

    def _set(self, table: dict[Any, Any], key: Any, value: Any) -> None:
        self._undo.append((table, key, table.get(key, _MISSING)))
        table[key] = value

    def _pop(self, table: dict[Any, Any], key: Any) -> None:
        old = table.pop(key, _MISSING)
        if old is not _MISSING:
            self._undo.append((table, key, old))

    def rollback(self) -> None:
        for undo in reversed(self._undo):
            if isinstance(undo, tuple):
                table, key, old = undo
                if old is _MISSING:
                    table.pop(key)
                else:
                    table[key] = old
            else:
                undo()
        self._undo.clear()

    # -- records -------------------------------------------------------------

    def get(self, kind: RecordKind[T], key: str) -> T | None:
        table = self._s.records.get(kind.table)
        return None if table is None else table.get(key)

    def add(self, kind: RecordKind[T], record: T) -> None:
        table = self._s.records.setdefault(kind.table, {})
        key = kind.key(record)
        if key in table:
            raise Conflict(f"{kind.table} {key!r} exists already", key=key)
        self._set(table, key, record)
        for column, keys in self._s.by_fixed.get(kind.table, {}).items():
            keys.setdefault(kind.index[column](record), set()).add(key)

    def save(self, kind: RecordKind[T], record: T, expected_version: int) -> None:
        table = self._s.records.setdefault(kind.table, {})
        key = kind.key(record)
        current = table.get(key)
        if current is None or getattr(current, "version", None) != expected_version:
            raise ConcurrentUpdate(
                f"{kind.table} {key!r} changed concurrently (expected version"
                f" {expected_version}, found {getattr(current, 'version', None)})",
                key=key,
            )
        kind.check_fixed(current, record)
        self._set(table, key, record)

    def find(
        self,
        kind: RecordKind[T],
        where: Mapping[str, str | int | None],
        *,
        order_by: str = "key",
        descending: bool = False,
        after: str | int | None = None,
        limit: int = 100,
    ) -> list[T]:
        table: dict[str, T] = self._s.records.get(kind.table, {})
        getters = [(kind.index[col], value) for col, value in where.items()]
        sort_key = kind.key if order_by == "key" else kind.index[order_by]
        candidates: Iterable[T] = table.values()
        fixed = next((col for col in where if col in kind.fixed), None)
        if fixed is not None:  # a seller's services, a buyer's orders: not a full scan
            keys = self._s.keys_by_fixed(kind, fixed).get(where[fixed], ())
            candidates = [table[k] for k in keys if k in table]
        rows = [r for r in candidates if all(g(r) == v for g, v in getters)]
        rows.sort(key=lambda r: (sort_key(r) is None, sort_key(r)), reverse=descending)
        if after is not None:
            bound: Any = after
            rows = [
                r for r in rows
                if (v := sort_key(r)) is not None and ((v < bound) if descending else (v > bound))
            ]
        return rows[:limit]

    # -- ledger --------------------------------------------------------------

    def ledger_transaction(self, txn_id: str) -> LedgerTransaction | None:
        return self._s.journal.get(txn_id)

    def balances(self, accounts: Sequence[str]) -> tuple[dict[str, int], dict[str, Currency]]:
        kept = self._s.accounts
        found = {a: kept[a] for a in accounts if a in kept}
        return {a: v[0] for a, v in found.items()}, {a: v[1] for a, v in found.items()}

    def post(self, txn: LedgerTransaction) -> dict[str, tuple[int, Currency]] | None:
        if txn.id in self._s.journal:
            return None
        self._set(self._s.journal, txn.id, txn)
        accounts = self._s.accounts
        after: dict[str, tuple[int, Currency]] = {}
        for account, delta in deltas(txn).items():
            balance, cur = accounts.get(account, (0, txn.currency))
            after[account] = (balance + delta, cur)
            self._set(accounts, account, after[account])
        return after

    def journal(self) -> Iterator[tuple[str, str, int]]:
        for txn in list(self._s.journal.values()):
            for p in txn.postings:
                yield txn.id, p.account, p.amount

    def all_balances(self) -> dict[str, int]:
        return {a: v[0] for a, v in self._s.accounts.items()}

    # -- timers --------------------------------------------------------------

    def schedule(self, timer: Timer) -> None:
        if timer.id in self._s.timers:
            return
        self._set(self._s.timers, timer.id, timer)
        # A heap entry whose timer is gone from the dict is dead and skipped (lazy delete).
        heapq.heappush(self._s.timer_heap, (timer.due_at, timer.id))

    def due_timers(self, now: dt.datetime, limit: int) -> list[Timer]:
        heap, timers = self._s.timer_heap, self._s.timers
        if len(heap) > 2 * len(timers) + 64:
            heap[:] = [entry for entry in heap if timers.get(entry[1]) is not None]
            heapq.heapify(heap)
        live = {e for e in heap if e[0] <= now and e[1] in timers}  # a set: re-pushed ids
        return [timers[tid] for _, tid in heapq.nsmallest(limit, live)]

    def delete_timer(self, timer: Timer) -> bool:
        if timer.id not in self._s.timers:
            return False
        self._pop(self._s.timers, timer.id)
        return True

    # -- events --------------------------------------------------------------

    def append(self, events: Sequence[Event]) -> list[Event]:
        log = self._s.event_log
        start = len(log)
        stored = [
            Event(e.name, e.subject, e.actor, e.at, e.data, start + i + 1)
            for i, e in enumerate(events)
        ]
        log.extend(stored)
        self._undo.append(lambda: log.__delitem__(slice(start, None)))
        return stored

    def events(self, after: int, limit: int, subject: str | None = None) -> list[Event]:
        log = self._s.event_log
        if subject is None:
            return log[max(after, 0): max(after, 0) + limit]
        return [e for e in log[max(after, 0):] if e.subject == subject][:limit]

    # -- catalog search (storage/_search_memory.py) ---------------------------

    def index_services(self, docs: Sequence[SearchDoc]) -> None:
        self._s.search.index(docs, self._undo.append)

    def search_services(self, spec: SearchSpec) -> list[SearchRow]:
        return self._s.search.search(spec)

    def service_stats(self, service_ids: Sequence[str]) -> dict[str, ServiceStats]:
        return self._s.search.stats(service_ids)

    def seller_stats(self, seller_id: str) -> ServiceStats:
        return self._s.search.seller_stats(seller_id)

    def add_service_stats(self, service_id: str, delta: StatsDelta) -> None:
        if not self._s.search.add_stats(service_id, delta, self._undo.append):
            raise NotFound("service", service_id)

    # -- project browsing (storage/_projects_memory.py) ---------------------------

    def index_projects(self, docs: Sequence[ProjectDoc]) -> None:
        self._s.projects.index(docs, self._undo.append)

    def search_projects(self, spec: ProjectSpec) -> list[ProjectRow]:
        rows = self._s.projects.search(spec)
        table = self._s.records.get("projects", {})
        return [attrs.evolve(r, project=table.get(r.project_id)) for r in rows]


@final
class _MemoryUnit:
    """``with storage.write() as tx``: take the lock; on an error undo, then release.

    A plain context manager (not ``@contextmanager``): entered once per command.
    """

    __slots__ = ("_s", "_tx")

    def __init__(self, storage: MemoryStorage) -> None:
        self._s = storage
        self._tx: _MemoryTx | None = None

    def __enter__(self) -> _MemoryTx:
        tx = self._tx = _MemoryTx(self._s)
        self._s._lock.acquire()
        return tx

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if exc_type is not None and self._tx is not None:
                self._tx.rollback()
        finally:
            self._s._lock.release()


@final
class MemoryStorage:
    """Everything in process memory; gone when the process ends. For tests and benchmarks.

    One re-entrant lock serializes units of work, so it is safe to share
    between threads; a failed unit of work is undone step by step.

    .. versionadded:: 0.1
    """

    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self.records: dict[str, dict[str, Any]] = {}
        self.journal: dict[str, LedgerTransaction] = {}
        self.accounts: dict[str, tuple[int, Currency]] = {}
        self.timers: dict[str, Timer] = {}
        self.timer_heap: list[tuple[dt.datetime, str]] = []
        self.event_log: list[Event] = []
        #: Catalog search index and service aggregates.
        self.search = MemorySearch()
        #: Project browse index.
        self.projects = MemoryProjectSearch()
        #: table → fixed column → value → keys of the records with it; built on the first
        #: ``find`` by that column, then kept by ``add``. A rolled-back add leaves its key
        #: behind, so ``find`` checks every candidate (a fixed column never changes).
        self.by_fixed: dict[str, dict[str, dict[Any, set[str]]]] = {}
        self._lock = threading.RLock()

    def write(self) -> _MemoryUnit:
        return _MemoryUnit(self)

    def keys_by_fixed(self, kind: RecordKind[Any], column: str) -> dict[Any, set[str]]:
        """The keys of ``kind``'s records by their value of the fixed ``column``."""
        indexes = self.by_fixed.setdefault(kind.table, {})
        found = indexes.get(column)
        if found is None:
            found = indexes[column] = {}
            value_of = kind.index[column]
            for key, record in self.records.get(kind.table, {}).items():
                found.setdefault(value_of(record), set()).add(key)
        return found

    read = write

    def schema_version(self) -> int:
        return 0

    def close(self) -> None:
        pass
