"""The Storage protocol: a unit of work over records, the ledger, timers and events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Generic, Protocol, TypeVar

import attrs

from ..catalog.indexing import SearchDoc, SearchRow, SearchSpec, StatsDelta
from ..catalog.model import ServiceStats
from ..escrow.ledger import LedgerTransaction
from ..events import Event
from ..money import Currency
from ..projects.search import ProjectDoc, ProjectRow, ProjectSpec

__all__ = [
    "KeyFrom", "RecordKind", "Storage", "Timer", "Tx", "append_then", "assume_read", "post_then",
    "prefetch", "quick_read", "recall",
]

T = TypeVar("T")


@attrs.frozen
class RecordKind(Generic[T]):
    """A kind of record storage keeps: its table, type, key and queryable columns.

    Backends store the record whole (SQL: as JSON beside the columns) and
    keep ``index`` columns beside it, so :meth:`Tx.find` can filter on them.

    .. versionadded:: 0.1
    """

    #: Table name, e.g. ``"orders"``.
    table: str
    type: type[T]
    #: Column name -> value extractor, for the columns ``find`` may filter and sort on.
    index: Mapping[str, Callable[[T], str | int | None]] = attrs.field(factory=dict)
    #: The record's key; ``record.id`` unless given.
    key: Callable[[T], str] = attrs.field(default=lambda r: r.id)
    #: Columns that get a database index (default: all). A column left out is
    #: still filterable; it only costs a scan of what the indexed filters select.
    indexed: frozenset[str] | None = None
    #: Columns set on insert that never change; saves skip them (fewer index writes).
    fixed: frozenset[str] = frozenset()

    @property
    def indexed_columns(self) -> frozenset[str]:
        return frozenset(self.index) if self.indexed is None else self.indexed

    def check_fixed(self, before: T, after: T) -> None:
        """Refuse a new version of a record that changes a :attr:`fixed` column.

        Backends call it in ``save`` where they hold the stored version: a changed
        column would be kept in the record's data but not where ``find`` looks.

        Raises:
            ValueError: naming the table, the key, the column and both values.
        """
        for column in self.fixed:
            get = self.index[column]
            if get(before) != get(after):
                raise ValueError(
                    f"{self.table} {self.key(after)!r}: {column} is fixed, cannot change"
                    f" {get(before)!r} to {get(after)!r}")


@attrs.frozen
class Timer:
    """A time-based job: run transition ``name`` on ``subject`` at ``due_at``.

    ``id`` is derived from what the timer is for (and so fixes ``due_at``),
    so scheduling twice is harmless. ``version`` pins the subject's version when it was scheduled:
    a timer whose subject has moved on since is dropped, not run.

    .. versionadded:: 0.1
    """

    id: str
    #: ``"order:o_1"``, ``"clearance:o_1"``, …
    subject: str
    name: str
    due_at: dt.datetime
    version: int | None = None


class Tx(Protocol):
    """One unit of work. Everything done through it commits or rolls back together.

    Record methods take a :class:`RecordKind`; the ledger, timers and events
    have their own methods because their rules (balances kept current,
    due-time order, sequence numbers) need more than a record store.

    A backend may hold writes back and send several in one statement (the
    PostgreSQL backend does, paying a round trip per statement): then an error
    of ``add`` or ``save`` is raised later in the same unit of work, at the
    latest when it ends, and the unit commits nothing. Reads in the unit
    always see its own writes.

    .. versionadded:: 0.1
    """

    def get(self, kind: RecordKind[T], key: str) -> T | None:
        """The record with this key, or None."""
        ...

    def add(self, kind: RecordKind[T], record: T) -> None:
        """Insert a new record. Raises :class:`~microkit.errors.Conflict` if the key exists."""
        ...

    def save(self, kind: RecordKind[T], record: T, expected_version: int) -> None:
        """Replace a record whose stored ``version`` is ``expected_version`` (compare-and-set).

        Raises :class:`~microkit.errors.Conflict` when another command changed it first,
        and ``ValueError`` when it changes a :attr:`RecordKind.fixed` column
        (:meth:`RecordKind.check_fixed`).
        """
        ...

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
        """Records whose index columns equal ``where``, sorted by ``order_by``, paged by
        ``after`` (the last seen value of ``order_by``)."""
        ...

    def ledger_transaction(self, txn_id: str) -> LedgerTransaction | None:
        """A posted journal transaction by id, or None."""
        ...

    def balances(self, accounts: Sequence[str]) -> tuple[dict[str, int], dict[str, Currency]]:
        """Current balances and currencies of the accounts that exist among ``accounts``."""
        ...

    def post(self, txn: LedgerTransaction) -> dict[str, tuple[int, Currency]] | None:
        """Append ``txn`` to the journal and add its postings to the balances.

        Balances change by increments (never read-then-write), so concurrent
        units of work cannot lose an update. A new account takes the
        transaction's currency.

        Returns:
            Each touched account's balance and currency afterwards; the caller
            checks them (:func:`microkit.escrow.ledger.check_applied`) and
            rolls back on a breach. None when a transaction with this id is in
            the journal already: nothing is written (the caller compares bodies,
            so a retried command is a no-op and a reused id a Conflict).
        """
        ...

    def journal(self) -> Iterator[tuple[str, str, int]]:
        """Every posting as ``(transaction id, account, amount)``."""
        ...

    def all_balances(self) -> dict[str, int]:
        """Every account's kept balance."""
        ...

    def schedule(self, timer: Timer) -> None:
        """Add a timer; one with the same id already there is left as it is."""
        ...

    def due_timers(self, now: dt.datetime, limit: int) -> list[Timer]:
        """Timers due at or before ``now``, earliest first."""
        ...

    def delete_timer(self, timer: Timer) -> bool:
        """Remove a timer (run or dropped); False if it was gone already (another runner)."""
        ...

    def append(self, events: Sequence[Event]) -> list[Event]:
        """Append events to the log; returns them with their ``seq``."""
        ...

    def events(self, after: int, limit: int, subject: str | None = None) -> list[Event]:
        """Events with ``seq > after`` (optionally of one subject), oldest first."""
        ...

    # -- catalog search (see microkit.catalog.indexing for the ranking rules) ---

    def index_services(self, docs: Sequence[SearchDoc]) -> None:
        """Add or replace the search documents of these services, keyed by ``service_id``.

        A service seen for the first time gets the next ``seq`` and zero stats; a
        re-indexed one keeps both. Only ``listed`` documents are ever searched.
        """
        ...

    def search_services(self, spec: SearchSpec) -> list[SearchRow]:
        """Listed services matching ``spec``, in its sort order, after ``spec.after``,
        at most ``spec.limit``."""
        ...

    def service_stats(self, service_ids: Sequence[str]) -> dict[str, ServiceStats]:
        """Sales and rating aggregates of the indexed services among ``service_ids``."""
        ...

    def seller_stats(self, seller_id: str) -> ServiceStats:
        """Aggregates over all of a seller's services (zeros when there are none)."""
        ...

    def add_service_stats(self, service_id: str, delta: StatsDelta) -> None:
        """Add ``delta`` to a service's aggregates by increments.

        Raises :class:`~microkit.errors.NotFound` ``("service", id)`` if it is not
        indexed; a storage that holds writes back may raise it later in the unit.

        .. versionchanged:: 0.2
           Raises instead of returning False, so the update can be held back.
        """
        ...

    # -- project browsing (see microkit.projects.search for the order rules) --

    def index_projects(self, docs: Sequence[ProjectDoc]) -> None:
        """Add or replace the browse documents of these projects, keyed by ``project_id``.

        A project seen for the first time gets the next sequence number (its ``rid``
        is minus it), kept across re-indexing. Only ``listed`` documents are returned.
        """
        ...

    def search_projects(self, spec: ProjectSpec) -> list[ProjectRow]:
        """Listed projects matching ``spec``, in its order, after ``spec.after``, at most
        ``spec.limit``."""
        ...


class Storage(Protocol):
    """A storage backend: opens units of work. Found through ``microkit_open_storage``.

    .. versionadded:: 0.1
    """

    #: The URL it was opened with, password removed.
    url: str

    def write(self) -> AbstractContextManager[Tx]:
        """A read-write unit of work: committed when the block ends, rolled back on error.

        Writers are serialized (SQLite ``BEGIN IMMEDIATE``; row locks and
        retries elsewhere) so a guard read inside holds until commit.
        """
        ...

    def read(self) -> AbstractContextManager[Tx]:
        """A read-only unit of work over a consistent snapshot."""
        ...

    def schema_version(self) -> int:
        """The applied migration number."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...


def describe(kind: RecordKind[Any]) -> str:
    """``"orders(buyer_id, seller_id, …)"``: for error messages and docs."""
    return f"{kind.table}({', '.join(kind.index)})"


@attrs.frozen
class KeyFrom:
    """A key to prefetch that comes from another record: "the seller of this order".

    The key is the record ``(kind, key)``'s ``columns``, joined by ``sep``. They must
    be among ``kind.fixed``: set on insert, never changed, so the stored row and any
    newer version of the record agree on them.

    .. versionadded:: 0.2
    """

    kind: RecordKind[Any]
    key: str
    columns: tuple[str, ...]
    sep: str = "|"

    def __attrs_post_init__(self) -> None:
        if not self.columns or not self.kind.fixed.issuperset(self.columns):
            loose = [c for c in self.columns if c not in self.kind.fixed] or "no columns"
            raise ValueError(f"{self.kind.table}: {loose} not fixed columns")
        if "'" in self.sep or "\\" in self.sep:  # it is written into SQL as a literal
            raise ValueError(f"sep: no quote or backslash, got {self.sep!r}")

    def of(self, record: Any) -> str | None:
        """The key, read from the record ``(kind, key)``; None where a column is None."""
        index = self.kind.index
        if len(self.columns) == 1:
            value = index[self.columns[0]](record)
            return None if value is None else str(value)
        values = [index[c](record) for c in self.columns]
        if None in values:
            return None
        return self.sep.join(map(str, values))


def prefetch(tx: Tx, *wanted: tuple[RecordKind[Any], str | KeyFrom]) -> None:
    """Say which records a unit of work is about to ``get``.

    A storage whose unit of work has the optional method ``prefetch(wanted)`` reads
    them in one statement and answers the ``get`` calls that follow from memory (a
    client/server engine pays a round trip per statement); for any other it does
    nothing. Reading is the same either way. A key may be a :class:`KeyFrom`: the
    storage then looks it up in the same statement.
    """
    fetch = getattr(tx, "prefetch", None)
    if fetch is not None:
        fetch(wanted)


def assume_read(tx: Tx, kind: RecordKind[T], key: str, record: T | None) -> None:
    """Let a unit of work take ``record`` (None: missing) as what it read at ``key``,
    without reading it: what a pre-check of the same command read just before.

    Only for a record the unit then writes with a check (adds it if missing, or
    saves it compare-and-set), or reads only for what never changes: if the record
    changed meanwhile, that write fails with
    :class:`~microkit.errors.ConcurrentUpdate`, and the command runs again, reading
    afresh. Give it only on a command's first attempt. A storage whose unit of work
    has the optional method ``assume_read(kind, key, record)`` skips the read (a
    client/server engine pays a round trip per statement); for any other this does
    nothing, and the unit reads as usual.
    """
    take = getattr(tx, "assume_read", None)
    if take is not None:
        take(kind, key, record)


def recall(tx: Tx, kind: RecordKind[T], key: str, *, use: bool = True) -> bool:
    """Let a unit of work take the record at ``key`` as this process last committed it,
    without reading it; True if it did (its ``get`` then answers that record).

    Only for a versioned record the unit then saves compare-and-set whenever it
    succeeds: that save is the check. If the record changed meanwhile, the save
    fails with :class:`~microkit.errors.ConcurrentUpdate` and the command runs
    again; a command that fails any other way after a recall must run again
    without one (its error may come from the stale copy). ``Core.run`` does
    both. ``use=False`` reads as usual, but lets the storage learn whether the
    copy it holds would have been stale (a storage stops recalling from a table
    whose copies often are).

    A storage whose unit of work has the optional method
    ``recall(kind, key, use)`` remembers records (a client/server engine pays a
    round trip per read); for any other this does nothing and returns False.
    """
    take = getattr(tx, "recall", None)
    return False if take is None else bool(take(kind, key, use))


def quick_read(storage: Storage) -> AbstractContextManager[Tx]:
    """A read-only unit of work whose statements need not share one snapshot.

    For a pre-check that a command repeats inside its own unit of work (``pay``
    checks its orders before it charges a card). A storage with the optional
    method ``quick_read()`` may run it without a transaction (a client/server
    engine pays a round trip each for ``BEGIN`` and ``COMMIT``); for any other
    this is ``storage.read()``.
    """
    quick = getattr(storage, "quick_read", None)
    found: AbstractContextManager[Tx] = storage.read() if quick is None else quick()
    return found


def append_then(tx: Tx, events: Sequence[Event], then: Callable[[list[Event]], None]) -> None:
    """:meth:`Tx.append` ``events`` and call ``then`` with them numbered, perhaps later.

    A storage whose unit of work has the optional method ``append_then(events, then)``
    may hold them back and send them with its next statement, at the latest the unit's
    last; for any other this is ``then(tx.append(events))``.
    """
    later = getattr(tx, "append_then", None)
    if later is not None:
        later(events, then)
    else:
        then(tx.append(events))


def post_then(
    tx: Tx, txn: LedgerTransaction,
    then: Callable[[dict[str, tuple[int, Currency]] | None], None],
) -> None:
    """:meth:`Tx.post` ``txn`` and call ``then`` with what it returns, perhaps later.

    A storage whose unit of work has the optional method ``post_then(txn, then)`` may
    hold the posting back and send it with its next statement, at the latest before the
    unit commits; ``then`` runs then, and what it raises rolls the unit back as it would
    have at once. For any other storage this is ``then(tx.post(txn))``.
    """
    later = getattr(tx, "post_then", None)
    if later is not None:
        later(txn, then)
    else:
        then(tx.post(txn))
