"""Records a process committed last, which its next command on them may recall unread.

A command on an order usually follows this process's previous command on that
order (pay, start, deliver, accept), and on a client/server engine reading it
again costs a round trip. A recalled record is only a guess at what is stored:
the command's compare-and-set save of it is the check (see
:func:`microkit.storage.base.recall`). A guess that turns out stale costs the
command a second run, so each table's guesses are graded, and a table whose
guesses go stale too often (its records are changed by other processes: buyer
and seller served by different app servers) is read as usual until they come
right again.
"""

from __future__ import annotations

from collections import OrderedDict
from contextlib import suppress
from typing import Any, Final, final

__all__ = ["RecentRecords"]

#: Weight of the newest outcome in a table's stale rate (a moving average).
_WEIGHT: Final = 1 / 16
#: Recall from a table only while fewer than this share of its guesses went stale: a
#: stale one costs the command about three times the read it saves.
_STALE_MAX: Final = 1 / 8


@final
class RecentRecords:
    """``(table, key) → record`` as this process's units of work last committed or read
    it, for the tables some command recalls from; bounded, the least recently kept first
    out. Shared by the threads of a storage: a record's own check makes any entry safe."""

    __slots__ = ("_kept", "_stale", "limit", "tables")

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._kept: OrderedDict[tuple[str, str], Any] = OrderedDict()
        #: Table → moving share of its recalls that were stale.
        self._stale: dict[str, float] = {}
        #: Tables some command asked to recall from: only their records are kept.
        self.tables: set[str] = set()

    def get(self, at: tuple[str, str]) -> Any | None:
        return self._kept.get(at)

    def keep(self, records: list[tuple[tuple[str, str], Any]]) -> None:
        """Remember ``records`` (committed, or read as committed) in place of older ones."""
        kept = self._kept
        # No lock: each call on the OrderedDict is atomic, and a race between threads
        # can only change which copy is kept or which goes first.
        for at, record in records:
            older = kept.pop(at, None)
            if older is not None and older.version > record.version:
                record = older  # two threads: the one that committed later kept first
            kept[at] = record
        with suppress(KeyError):  # another thread emptied it meanwhile
            while len(kept) > self.limit:
                kept.popitem(last=False)

    def trusted(self, table: str) -> bool:
        """Whether a guess from ``table`` is worth taking now."""
        return self._stale.get(table, 0.0) < _STALE_MAX

    def grade(self, table: str, stale: bool) -> None:
        """Count one guess from ``table``: taken and confirmed, or found stale (when
        taken, or when not taken and compared with what was read instead)."""
        rate = self._stale.get(table, 0.0)
        self._stale[table] = rate + ((1.0 if stale else 0.0) - rate) * _WEIGHT
