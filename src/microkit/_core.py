"""What every facade shares: storage, config, clock, plugins, and the command runner.

One command is one :class:`Unit`: a storage transaction, the time the
command runs at, and the events it appends. The runner commits, retries a
few times when another command won a race, and publishes the events to
``microkit_on_event`` only after the commit.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeVar, final

from .config import MarketConfig
from .errors import ConcurrentUpdate, NotFound, StorageError
from .escrow import ledger
from .events import Event
from .money import Currency
from .orders.process import ORDER_PROCESS
from .storage.base import (
    KeyFrom,
    RecordKind,
    Storage,
    Tx,
    append_then,
    post_then,
    prefetch,
    quick_read,
    recall,
)

if TYPE_CHECKING:
    import pluggy

    from .clock import Clock
    from .market import Marketplace
    from .payments.gateway import Gateway

__all__ = ["Core", "Unit", "new_id"]

R = TypeVar("R")
T = TypeVar("T")

#: ``(kind, columns, events)`` in :attr:`Core.read_with`: the record of ``kind`` keyed by
#: ``columns`` of the record being read, read along with it by commands that append any
#: of ``events`` (None: by every command).
ReadWith = tuple[RecordKind[Any], tuple[str, ...], frozenset[str] | None]

log = logging.getLogger("microkit")

#: Attempts of one command when another command changed the same record first.
ATTEMPTS: Final = 5


def new_id(prefix: str) -> str:
    """An opaque, unguessable id that sorts by creation time: ``"o_0640f3a1c2b4d_3f9a…"``.

    The time prefix keeps new keys at the right edge of storage indexes (one
    page touched per insert, not a random one); the random part keeps ids
    unguessable.
    """
    return f"{prefix}_{time.time_ns() // 1000:013x}{os.urandom(6).hex()}"


@final
class Unit:
    """One command in progress: its transaction, its time, the events it appends."""

    __slots__ = ("attempt", "events", "now", "recall", "recalled", "tx")

    def __init__(self, tx: Tx, now: dt.datetime, attempt: int = 1, *,
                 recall: bool = False) -> None:
        self.tx = tx
        self.now = now
        #: 1, then 2, … when a concurrent change made :meth:`Core.run` run it again.
        self.attempt = attempt
        self.events: list[Event] = []
        #: Whether :meth:`Core.need` may recall a record unread (:func:`recall`), and
        #: whether it did: then an error of the command makes it run again, reading.
        self.recall = recall
        self.recalled = False

    def emit(self, name: str, subject: str, actor: str, data: Mapping[str, Any]) -> None:
        """Append an event, stored with the command's changes."""
        self.events.append(Event(name, subject, actor, self.now, data))

    def prefetch(self, *wanted: tuple[RecordKind[Any], str | KeyFrom]) -> None:
        """Say which records the command is about to ``get`` (see :func:`prefetch`)."""
        prefetch(self.tx, *wanted)

    def need(self, kind: RecordKind[T], key: str, what: str) -> T:
        """The record, or :class:`NotFound` naming ``what``."""
        record = self.tx.get(kind, key)
        if record is None:
            raise NotFound(what, key)
        return record

    def post(self, txn: ledger.LedgerTransaction) -> None:
        """Post a journal transaction, keeping balances current; a same-body retry is a no-op.

        The storage may send it later in the unit of work (:func:`post_then`); then
        these errors are raised then, and the unit commits nothing either way.

        Raises:
            Conflict: the id was used for another body.
            InsufficientFunds: a user or escrow account would go negative.
        """
        post_then(self.tx, txn, functools.partial(self._posted, txn))

    def _posted(self, txn: ledger.LedgerTransaction,
                after: Mapping[str, tuple[int, Currency]] | None) -> None:
        if after is None:  # optimistic: a repeated id is rare, so look only then
            existing = self.tx.ledger_transaction(txn.id)
            if existing is None:  # posted by a command that has not committed yet
                raise ConcurrentUpdate(f"ledger transaction {txn.id!r} posted concurrently",
                                       key=txn.id)
            ledger.check_retry(existing, txn)
            return
        ledger.check_applied(txn, after)


@final
class Core:
    """The parts of one market, shared by its facades."""

    def __init__(
        self,
        *,
        storage: Storage,
        config: MarketConfig,
        clock: Clock,
        pm: pluggy.PluginManager,
        gateways: dict[str, Gateway],
    ) -> None:
        self.storage = storage
        self.config = config
        self.clock = clock
        self.pm = pm
        self.gateways = gateways
        self.process = ORDER_PROCESS
        #: Plugins are fixed once the market is open: look the listeners up once.
        self.has_listeners = bool(pm.hook.microkit_on_event.get_hookimpls())
        #: In-transaction read models: each is called with the unit and its events just
        #: before they are appended, and may update records in the same transaction
        #: (seller metrics, aggregates), so they are never out of step with the facts.
        self.projectors: list[Callable[[Unit, list[Event]], None]] = []
        #: Records that commands on a record of a table also read, keyed by one of its
        #: fixed columns (an order's: its seller's metrics and level), and the events of
        #: the commands that read them (None: every command): :meth:`need` reads them
        #: with it, in one statement where the storage can.
        self.read_with: dict[str, list[ReadWith]] = {}
        self.market: Marketplace | None = None

    def run(self, command: Callable[[Unit], R], *, now: dt.datetime | None = None) -> R:
        """Run ``command`` as one unit of work; retried when a concurrent change wins."""
        recalling = True
        for attempt in range(1, ATTEMPTS + 1):
            stored: list[Event] = []
            unit: Unit | None = None
            try:
                with self.storage.write() as tx:
                    unit = Unit(tx, now or self.clock.now(), attempt,
                                recall=recalling and attempt == 1)
                    result = command(unit)
                    if unit.events:
                        for project in self.projectors:
                            project(unit, unit.events)
                        # Numbered once sent: at the latest with the unit's last statement.
                        append_then(tx, unit.events, stored.extend)
            except ConcurrentUpdate:
                if attempt == ATTEMPTS:
                    raise
                continue
            except StorageError:
                raise  # may have committed: running it again could apply it twice
            except Exception:
                if unit is None or not unit.recalled:
                    raise
                # Perhaps decided on a stale copy: nothing was written; decide on fresh data.
                recalling = False
                continue
            self.publish(stored)
            return result
        raise AssertionError("unreachable")

    def need(self, u: Unit, kind: RecordKind[T], key: str, what: str,
             events: frozenset[str] | None = None, *, saved: bool = False) -> T:
        """``u.need(kind, key, what)``, reading what :attr:`read_with` lists for ``kind``
        along with it: what commands appending any of ``events`` read (None: all of it).

        Reading ahead only saves round trips; a record it skipped is read when needed.
        ``saved``: the command saves this record (compare-and-set) whenever it
        succeeds, so the storage may :func:`recall` it unread.
        """
        if saved and recall(u.tx, kind, key, use=u.recall):
            u.recalled = True
        related = [(other, columns) for other, columns, by in self.read_with.get(kind.table, ())
                   if events is None or by is None or not by.isdisjoint(events)]
        if related and hasattr(u.tx, "prefetch"):  # else reading ahead is no use
            u.prefetch((kind, key), *((other, KeyFrom(kind, key, columns))
                                      for other, columns in related))
        return u.need(kind, key, what)

    def get(self, kind: RecordKind[T], key: str, what: str) -> T:
        """One record by key, read outside any command, or :class:`NotFound` naming ``what``.

        The read side of every facade's ``get``; inside a command use :meth:`Unit.need`.
        """
        found = self.query(lambda tx: tx.get(kind, key))
        if found is None:
            raise NotFound(what, key)
        return found

    def query(self, reader: Callable[[Tx], R], *, snapshot: bool = True) -> R:
        """Run ``reader`` over a consistent read-only snapshot; with ``snapshot=False``
        its reads may each see the latest data (:func:`quick_read`: for a pre-check the
        command repeats in its unit of work)."""
        with self.storage.read() if snapshot else quick_read(self.storage) as tx:
            return reader(tx)

    def publish(self, events: list[Event]) -> None:
        """Tell ``microkit_on_event`` implementations, after commit; failures are logged."""
        if not events:
            return
        if not self.has_listeners:
            return
        # Each implementation on its own: one failing notifier must not starve the others.
        impls = self.pm.hook.microkit_on_event.get_hookimpls()[::-1]  # pluggy's call order
        for event in events:
            offered = {"event": event, "market": self.market}
            for impl in impls:
                try:
                    # Like pluggy: an implementation may take any subset of the arguments.
                    impl.function(**{name: offered[name] for name in impl.argnames})
                except Exception:
                    log.exception("microkit_on_event of %s failed for %s #%d",
                                  impl.plugin_name, event.name, event.seq)
