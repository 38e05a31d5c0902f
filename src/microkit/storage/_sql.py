"""The unit of work shared by the SQL backends (SQLite and PostgreSQL).

Statements are written once with ``?`` placeholders; a backend whose driver
takes the server's own ``$1, $2, …`` gives ``paramstyle="numeric"`` and they
are rewritten once.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol, TypeVar, final

from ..catalog.indexing import SearchDoc, SearchRow, SearchSpec, StatsDelta
from ..catalog.model import ServiceStats
from ..errors import ConcurrentUpdate, Conflict, NotFound
from ..escrow.ledger import LedgerTransaction, Posting, deltas, limits_of
from ..events import Event
from ..money import Currency, currency
from ..projects.search import ProjectDoc, ProjectRow, ProjectSpec
from . import _projects_sql, _search_sql
from ._codec import codec_for, dumps_json, iso
from ._recent import RecentRecords
from .base import KeyFrom, RecordKind, Timer
from .migrations import MIGRATIONS

__all__ = ["Cursor", "DecodedRecords", "SqlTx", "apply_migrations", "epoch_us"]

T = TypeVar("T")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def epoch_us(when: dt.datetime) -> int:
    """Microseconds since the epoch: timers sort and compare as integers in SQL."""
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class Cursor(Protocol):
    """The part of a DB-API cursor the SQL unit of work uses."""

    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Any: ...
    def executemany(self, sql: str, params: Any, /) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Dialect:
    """How one SQL engine differs: placeholders and DDL tokens."""

    def __init__(
        self, name: str, *, paramstyle: str, serial: str, bigint: str, without_rowid: str,
        append_lock: str | None = None, batched: bool = False,
    ) -> None:
        #: ``"sqlite"`` or ``"postgresql"``: picks per-dialect migration statements.
        self.name = name
        self.paramstyle = paramstyle
        #: Run before events are appended, where writers run concurrently (PostgreSQL:
        #: an advisory transaction lock), so ``seq`` order is commit order and a reader
        #: paging with ``after=seq`` never skips an event that commits later.
        self.append_lock = append_lock
        #: Send a ledger posting (transaction, postings, balances) and an append of events
        #: as one statement each (PostgreSQL CTEs): a client/server engine pays a network
        #: round trip per statement.
        self.batched = batched
        self.tokens = {"serial": serial, "bigint": bigint, "without_rowid": without_rowid}
        self._cache: dict[str, str] = {}

    def q(self, sql: str) -> str:
        """``sql`` in this engine's placeholder style (cached)."""
        out = self._cache.get(sql)
        if out is None:
            if self.paramstyle == "numeric":
                first, *rest = sql.split("?")
                out = first + "".join(f"${i}{part}" for i, part in enumerate(rest, 1))
            else:
                out = sql
            self._cache[sql] = out
        return out

    def ddl(self, statement: str | Mapping[str, str]) -> str | None:
        """The statement for this dialect with its tokens filled, or None to skip it."""
        sql = statement if isinstance(statement, str) else statement.get(self.name)
        return None if sql is None else sql.format(**self.tokens)


def apply_migrations(cur: Cursor, dialect: Dialect, now: str) -> int:
    """Bring the schema up to date inside the caller's transaction; returns the version."""
    q = dialect.q
    cur.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
        " description TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    cur.execute("SELECT version FROM schema_migrations")
    applied = {int(row[0]) for row in cur.fetchall()}
    # By missing number, not "above the highest": features reserve numbers and may
    # land in any order, so a database can have 4 before 3 exists.
    for migration in sorted(MIGRATIONS, key=lambda m: m.version):
        if migration.version in applied:
            continue
        for statement in migration.statements:
            sql = dialect.ddl(statement)
            if sql is not None:
                cur.execute(sql)
        cur.execute(
            q("INSERT INTO schema_migrations (version, description, applied_at) VALUES (?,?,?)"),
            (migration.version, migration.description, now),
        )
        applied.add(migration.version)
    return max(applied, default=0)


_SQL_TIMER = (
    "INSERT INTO timers (due_us, id, subject, name, due_at, version)"
    " VALUES (?,?,?,?,?,?) ON CONFLICT (due_us, id) DO NOTHING"
)

@functools.cache
def _rows(head: str, row: str, n: int, tail: str) -> str:
    """``head`` + ``n`` copies of ``row``, comma-separated, + ``tail`` (built once per n)."""
    return head + ", ".join([row] * n) + tail


def _sql_accounts(n: int) -> str:
    """Add ``n`` deltas to their accounts (created at 0 if new) in one statement."""
    return _rows(
        "INSERT INTO accounts (name, currency, balance) VALUES ", "(?,?,?)", n,
        " ON CONFLICT (name) DO UPDATE SET balance = accounts.balance + excluded.balance"
        " RETURNING name, balance, currency",
    )


def _sql_events(n: int) -> str:
    """Append ``n`` events in one statement, returning their numbers."""
    return _rows("INSERT INTO events (name, subject, actor, at, data) VALUES ",
                 "(?,?,?,?,?)", n, " RETURNING seq")


#: Above this many events, one SQLite append numbers them itself and inserts them in bulk.
_BULK_EVENTS = 8
#: Events per statement on a batched dialect (six parameters each; PostgreSQL takes 65,535).
_APPEND_CHUNK = 1000


@functools.cache
def _sql_prefetch(shape: tuple[tuple[str, tuple[str, tuple[str, ...], str] | None], ...]
                  ) -> str:
    """One SELECT of a record from each table of ``shape`` by key, each row tagged by
    position; ``(table, (source, columns, sep))`` takes the key from a ``source`` row
    (:class:`KeyFrom`)."""
    def key(via: tuple[str, tuple[str, ...], str] | None) -> str:
        if via is None:
            return "?"
        source, columns, sep = via
        joined = f" || '{sep}' || ".join(columns)  # sep: a constant of the code, not input
        return f"(SELECT {joined} FROM {source} WHERE key = ?)"

    return " UNION ALL ".join(f"SELECT {i}, data FROM {table} WHERE key = {key(via)}"
                              for i, (table, via) in enumerate(shape))


_STATEMENTS: dict[str, tuple[str, str, str]] = {}


def _statements(kind: RecordKind[Any]) -> tuple[str, str, str]:
    """The INSERT, the compare-and-set UPDATE and the SELECT by key of one record kind
    (built once)."""
    found = _STATEMENTS.get(kind.table)
    if found is None:
        cols = ", ".join(["key", "version", *kind.index, "data"])
        marks = ", ".join("?" * (len(kind.index) + 3))
        changing = [c for c in kind.index if c not in kind.fixed]
        sets = ", ".join(f"{c} = ?" for c in ["version", *changing, "data"])
        found = _STATEMENTS[kind.table] = (
            f"INSERT INTO {kind.table} ({cols}) VALUES ({marks}) ON CONFLICT (key) DO NOTHING",
            f"UPDATE {kind.table} SET {sets} WHERE key = ? AND version = ?",
            f"SELECT data FROM {kind.table} WHERE key = ?",
        )
    return found


class DecodedRecords:
    """Records decoded from their stored text, kept across units of work of one storage.

    A row read back with the very text this process last decoded (or wrote) is the
    same immutable record, so it is not decoded again: a command usually reads the
    record the previous command wrote. The text is compared on every read, so a row
    changed by another process is always decoded afresh. Bounded: emptied when full.
    """

    __slots__ = ("_kept", "limit")

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._kept: dict[tuple[str, str], tuple[str, Any]] = {}

    def decode(self, kind: RecordKind[T], key: str, text: str) -> T:
        at = (kind.table, key)
        hit = self._kept.get(at)
        if hit is not None and hit[0] == text:
            found: T = hit[1]
            return found
        record: T = codec_for(kind.type).loads(text)
        self.keep(at, text, record)
        return record

    def keep(self, at: tuple[str, str], text: str, record: Any) -> None:
        kept = self._kept
        if len(kept) >= self.limit:
            kept.clear()
        kept[at] = (text, record)


@final
class SqlTx:
    """A unit of work over one open SQL transaction (the backend begins and ends it)."""

    __slots__ = ("_absent", "_cur", "_decoded", "_grading", "_pending", "_q", "_recalled",
                 "_recent", "_seen", "before_write", "dialect")

    def __init__(self, cur: Cursor, dialect: Dialect,
                 decoded: DecodedRecords | None = None,
                 recent: RecentRecords | None = None) -> None:
        self._cur = cur
        #: The storage's decoded records, or a private set for this unit alone.
        self._decoded = decoded if decoded is not None else DecodedRecords(64)
        #: Records this process committed last, which :meth:`recall` may take unread
        #: (None: this unit recalls nothing), the ones it took, and the ones it was
        #: offered but read instead: (table, key) → the version it would have taken.
        self._recent = recent
        self._recalled: list[tuple[str, str]] = []
        self._grading: dict[tuple[str, str], int] = {}
        self._q = dialect.q
        self.dialect = dialect
        #: (table, key) this unit of work read as missing: if ``add`` then finds it, a
        #: concurrent command inserted it meanwhile (a retry sees it), not a duplicate.
        self._absent: set[tuple[str, str]] = set()
        #: (table, key) → the record as this unit of work last read or wrote it (None: read
        #: as missing). Records are immutable and nothing else writes this transaction's rows
        #: through it, so a second ``get`` of the same key needs neither SELECT nor decode.
        self._seen: dict[tuple[str, str], Any] = {}
        #: Inserts, compare-and-set saves and timers not sent yet, in order: sent before
        #: anything that could read them and before COMMIT (see :meth:`flush`); on a
        #: batched dialect a few ride along with the next ledger posting or event append.
        #: Nothing reads them back by key meanwhile: ``get`` answers from ``_seen``.
        self._pending = _Pending()
        #: Called before any statement that writes (or whose raw SQL may): a backend
        #: that reads outside a transaction until then begins one here.
        self.before_write: Callable[[], None] | None = None

    @property
    def cursor(self) -> Cursor:
        """The open cursor, for feature modules with their own SQL (search, aggregates)."""
        self.flush()
        self._writing()
        return self._cur

    def _writing(self) -> None:
        if self.before_write is not None:
            self.before_write()

    def held_alone(self) -> bool:
        """Whether what is held back goes as one statement whose checks can all run in
        the server, so that statement may commit by itself (see :meth:`finish`)."""
        pending = self._pending
        return (self.dialect.batched and pending.foldable()
                and (pending.appending is None or len(pending.appending[0]) <= _APPEND_CHUNK))

    def finish(self) -> None:
        """Send what is held back as the unit's one and last statement, without
        ``before_write``: only when :meth:`held_alone`.

        A held posting then carries its :class:`~microkit.escrow.ledger.Limits` (and
        that its id is new) into the statement. Where they fail, nothing was written:
        the same statement goes again inside a transaction (``before_write``), where
        the posting's check says what was wrong, as it would have.
        """
        if not self._pending:
            return
        held = self._pending.take()
        try:
            self._send_batched(held, alone=True)
        except _LimitsFailed:
            self._send_batched(held)

    def flush(self) -> None:
        """Send the writes held back so far (the backend calls this before COMMIT too).

        A few go as one statement of CTEs on a batched dialect, with a held ledger
        posting and append; otherwise each run of writes with one statement text goes
        as one ``executemany`` (a bulk import is one). Either way what a write must
        change is checked, and a held posting's check runs.
        """
        pending = self._pending
        if not pending:
            return
        if not (self.dialect.batched and pending.foldable()):
            self._writing()
            pending.send(self._cur, self._q)
            if not pending:
                return
        self._send_batched(pending.take())

    def _send_batched(self, held: _Held, alone: bool = False) -> None:
        """The held writes, posting and append as CTEs of one statement (a bulk append:
        one per thousand events, the first carrying the rest).

        Each write that must change one row is checked in the statement: if one did
        not, ``microkit_fail`` aborts it (nothing it did stays) naming the write, and
        its error is raised here. Rows are ``(tag, name, number, currency)``: ``'a'`` a
        posted account's balance, ``'e'`` an appended event's number. ``alone``: the
        statement commits by itself, its posting's limits checked in it
        (:class:`_LimitsFailed` if they fail).
        """
        if not alone:
            self._writing()
        writes, posting, appending = held
        params: list[Any] = [p for _, args, _ in writes for p in args]
        limits = alone and posting is not None
        shape: tuple[int, int] | None = None
        if posting is not None:
            shape, posting_params = _posting_args(posting[0])
            params += posting_params
            if limits:
                params.append(posting[0].currency.code)
        events: Sequence[Event] = () if appending is None else appending[0]
        stored: list[Event] = []
        for start in range(0, max(len(events), 1), _APPEND_CHUNK):
            part = events[start:start + _APPEND_CHUNK]
            for i, e in enumerate(part):
                params += (i, e.name, e.subject, e.actor, iso(e.at), dumps_json(e.data))
            sql = _sql_batched(
                tuple(sql for sql, _, _ in writes), tuple(c is not None for _, _, c in writes),
                shape, limits, len(part), self.dialect.append_lock)
            try:
                self._cur.execute(self._q(sql), params)
            except Exception as exc:
                failed = _failed_write(exc)
                if failed is None:
                    raise
                if failed == _LIMITS:
                    raise _LimitsFailed from None
                check = writes[failed][2]
                assert check is not None
                raise _failure(check) from None
            rows = self._cur.fetchall()
            if posting is not None:
                after = {r[1]: (int(r[2]), currency(r[3])) for r in rows if r[0] == "a"}
                posting[1](after or None)  # None: the id is in the journal already
            # Rows are inserted (and numbered) in VALUES order.
            seqs = sorted(int(r[2]) for r in rows if r[0] == "e")
            stored += [Event(e.name, e.subject, e.actor, e.at, e.data, seq)
                       for e, seq in zip(part, seqs, strict=True)]
            writes, posting, shape, params, limits = [], None, None, [], False
        if appending is not None:
            appending[1](stored)

    def sql(self, text: str) -> str:
        """``text`` (written with ``?``) in this dialect's placeholder style."""
        return self._q(text)

    # -- records -------------------------------------------------------------

    def get(self, kind: RecordKind[T], key: str) -> T | None:
        seen = self._seen
        at = (kind.table, key)
        if at in seen:
            found: T | None = seen[at]
            return found
        cur = self._cur
        cur.execute(self._q(_statements(kind)[2]), (key,))
        row = cur.fetchone()
        return self._read(kind, key, None if row is None else row[0])

    def _read(self, kind: RecordKind[T], key: str, text: str | None) -> T | None:
        """Remember what this unit read at ``key``: the record, or that it is missing."""
        record: T | None = None if text is None else self._decoded.decode(kind, key, text)
        at = (kind.table, key)
        self._saw(at, record)
        if self._grading and (offered := self._grading.pop(at, None)) is not None:
            assert self._recent is not None
            self._recent.grade(kind.table, getattr(record, "version", None) != offered)
        return record

    def _saw(self, at: tuple[str, str], record: Any) -> None:
        if record is None:
            self._absent.add(at)
        self._seen[at] = record

    def recall(self, kind: RecordKind[T], key: str, use: bool) -> bool:
        """See :func:`microkit.storage.base.recall`: take the record as this process last
        committed it, if it holds one and ``kind``'s copies have mostly been current."""
        recent = self._recent
        if recent is None:
            return False
        table = kind.table
        recent.tables.add(table)
        at = (table, key)
        if at in self._seen:
            return False
        kept = recent.get(at)  # only versioned records are kept (see committed)
        if kept is None:
            return False
        if use and recent.trusted(table):
            self._saw(at, kept)
            self._recalled.append(at)
            return True
        self._grading[at] = kept.version  # graded when it is read
        return False

    def committed(self) -> None:
        """The unit committed: what it read and wrote in recalled tables is now the
        latest this process knows, and what it recalled was current."""
        recent = self._recent
        if recent is None or not recent.tables:
            return
        tables = recent.tables
        recent.keep([(at, record) for at, record in self._seen.items()
                     if record is not None and at[0] in tables
                     and isinstance(getattr(record, "version", None), int)])
        for table, _ in self._recalled:
            recent.grade(table, False)

    def assume_read(self, kind: RecordKind[T], key: str, record: T | None) -> None:
        """See :func:`microkit.storage.base.assume_read`: as if :meth:`get` had read it."""
        at = (kind.table, key)
        if at not in self._seen:
            self._saw(at, record)

    def prefetch(self, wanted: Sequence[tuple[RecordKind[Any], str | KeyFrom]]) -> None:
        """Read several records in one statement, so the ``get`` of each that follows is
        answered from this unit of work (a client/server engine pays per statement).

        A :class:`KeyFrom` key is looked up in the statement; the record it is read from
        must be among ``wanted`` or read before, else that one is left to its ``get``
        (on SQLite, always).
        """
        seen = self._seen
        # In process (SQLite) a statement costs little: a record read ahead through a
        # KeyFrom that the command may not need costs more than reading it when needed.
        ahead = self.dialect.batched
        shape: list[tuple[str, tuple[str, tuple[str, ...], str] | None]] = []
        params: list[str] = []
        plain: list[tuple[int, RecordKind[Any], str]] = []
        follow: list[tuple[int, RecordKind[Any], KeyFrom]] = []
        for kind, key in wanted:
            if isinstance(key, str):
                if (kind.table, key) not in seen:
                    plain.append((len(shape), kind, key))
                    shape.append((kind.table, None))
                    params.append(key)
            elif ahead:
                source = seen.get((key.kind.table, key.key))
                if source is None:
                    follow.append((len(shape), kind, key))
                    shape.append((kind.table, (key.kind.table, key.columns, key.sep)))
                    params.append(key.key)
                    continue
                # Its source is known (read before, or recalled): read it by its key.
                found = key.of(source)
                if found is not None and (kind.table, found) not in seen:
                    plain.append((len(shape), kind, found))
                    shape.append((kind.table, None))
                    params.append(found)
        if len(shape) < 2:
            return
        self._cur.execute(self._q(_sql_prefetch(tuple(shape))), params)
        rows = dict(self._cur.fetchall())
        for i, kind, key in plain:
            self._read(kind, key, rows.get(i))
        for i, kind, via in follow:
            source = seen.get((via.kind.table, via.key))
            found = None if source is None else via.of(source)
            if found is not None and (kind.table, found) not in seen:
                self._read(kind, found, rows.get(i))

    def add(self, kind: RecordKind[T], record: T) -> None:
        key = kind.key(record)
        sql = _statements(kind)[0]
        values = [get(record) for get in kind.index.values()]
        data = codec_for(kind.type).dumps(record)
        at = (kind.table, key)
        if self._seen.get(at) is not None:
            raise Conflict(f"{kind.table} {key!r} exists already", key=key)
        # Read as missing earlier in this unit: if the key is taken now, another command
        # inserted it meanwhile (a retry sees it), not a duplicate.
        concurrent = at in self._absent
        self._pending.add_record(
            at, sql, [key, getattr(record, "version", None), *values, data], concurrent)
        self._seen[at] = record
        self._decoded.keep(at, data, record)

    def save(self, kind: RecordKind[T], record: T, expected_version: int) -> None:
        key = kind.key(record)
        sql = _statements(kind)[1]
        values = [get(record) for c, get in kind.index.items() if c not in kind.fixed]
        data = codec_for(kind.type).dumps(record)
        version = getattr(record, "version", None)
        at = (kind.table, key)
        before = self._seen.get(at)
        if before is not None:
            kind.check_fixed(before, record)
        if self._pending.added(at):  # still to be inserted: insert this version instead
            add_values = [get(record) for get in kind.index.values()]
            self._pending.add_record(at, _statements(kind)[0],
                                     [key, version, *add_values, data], False)
        else:
            self._pending.save(at, sql, [version, *values, data, key, expected_version])
        self._seen[at] = record
        self._decoded.keep(at, data, record)

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
        self.flush()
        clauses: list[str] = []
        params: list[Any] = []
        for col, value in where.items():
            if col not in kind.index:
                raise KeyError(f"{kind.table} has no column {col!r}")
            if value is None:
                clauses.append(f"{col} IS NULL")
            else:
                clauses.append(f"{col} = ?")
                params.append(value)
        if order_by != "key" and order_by not in kind.index:
            raise KeyError(f"{kind.table} has no column {order_by!r}")
        if after is not None:
            clauses.append(f"{order_by} {'<' if descending else '>'} ?")
            params.append(after)
        sql = f"SELECT data FROM {kind.table}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += f" ORDER BY {order_by}{' DESC' if descending else ''} LIMIT ?"
        params.append(limit)
        self._cur.execute(self._q(sql), params)
        codec = codec_for(kind.type)
        return [codec.loads(row[0]) for row in self._cur.fetchall()]

    # -- ledger --------------------------------------------------------------

    def ledger_transaction(self, txn_id: str) -> LedgerTransaction | None:
        self.flush()
        cur = self._cur
        cur.execute(
            self._q("SELECT kind, currency, at, postings FROM ledger_transactions WHERE id = ?"),
            (txn_id,),
        )
        head = cur.fetchone()
        if head is None:
            return None
        postings = tuple(Posting(a, int(n)) for a, n in json.loads(head[3]))
        return LedgerTransaction(
            txn_id, head[0], currency(head[1]), postings, dt.datetime.fromisoformat(head[2])
        )

    def balances(self, accounts: Sequence[str]) -> tuple[dict[str, int], dict[str, Currency]]:
        self.flush()
        marks = ",".join("?" * len(accounts))
        self._cur.execute(
            self._q(f"SELECT name, balance, currency FROM accounts WHERE name IN ({marks})"),
            list(accounts),
        )
        rows = self._cur.fetchall()
        return {r[0]: int(r[1]) for r in rows}, {r[0]: currency(r[2]) for r in rows}

    def post(self, txn: LedgerTransaction) -> dict[str, tuple[int, Currency]] | None:
        if self.dialect.batched:
            return self._post_batched(txn)
        cur, q = self._cur, self._q
        at = iso(txn.at)
        cur.execute(
            q("INSERT INTO ledger_transactions (id, kind, currency, at, body, postings)"
              " VALUES (?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING"),
            _journal_row(txn),
        )
        if cur.rowcount != 1:
            return None  # the id is in the journal already: nothing written
        cur.executemany(
            q("INSERT INTO postings (account, txn_id, line, amount, at) VALUES (?,?,?,?,?)"),
            [(p.account, txn.id, i, p.amount, at) for i, p in enumerate(txn.postings)],
        )
        code = txn.currency.code
        # Accounts in one global order: concurrent postings lock rows without deadlocks.
        moves = sorted(deltas(txn).items())
        params: list[Any] = []
        for account, delta in moves:
            params += (account, code, delta)
        cur.execute(q(_sql_accounts(len(moves))), params)
        return {name: (int(balance), currency(held)) for name, balance, held in cur.fetchall()}

    def post_then(
        self, txn: LedgerTransaction,
        then: Callable[[dict[str, tuple[int, Currency]] | None], None],
    ) -> None:
        """:meth:`post`, perhaps later: on a batched dialect the posting is held back and
        rides along with the next statement (at the latest before COMMIT), and ``then``
        gets what :meth:`post` would have returned once it is sent. One posting is held
        at a time: two in one statement would see the same balances."""
        if not self.dialect.batched:
            then(self.post(txn))
            return
        pending = self._pending
        if pending.posting is not None or not pending.foldable():
            self.flush()
        pending.posting = (txn, then)

    def _post_batched(self, txn: LedgerTransaction) -> dict[str, tuple[int, Currency]] | None:
        """:meth:`post` in one statement, with the writes held back so far."""
        box: list[dict[str, tuple[int, Currency]] | None] = []
        self.post_then(txn, box.append)
        self.flush()
        return box[0]

    def journal(self) -> Iterator[tuple[str, str, int]]:
        self.flush()
        self._cur.execute("SELECT txn_id, account, amount FROM postings ORDER BY txn_id, line")
        for txn_id, account, amount in self._cur.fetchall():
            yield txn_id, account, int(amount)

    def all_balances(self) -> dict[str, int]:
        self.flush()
        self._cur.execute("SELECT name, balance FROM accounts")
        return {name: int(balance) for name, balance in self._cur.fetchall()}

    # -- timers --------------------------------------------------------------

    def schedule(self, timer: Timer) -> None:
        params = [epoch_us(timer.due_at), timer.id, timer.subject, timer.name,
                  iso(timer.due_at), timer.version]
        self._pending.add(_SQL_TIMER, params)

    def update_one(self, sql: str, params: list[Any], missing: tuple[str, str]) -> None:
        """Hold back an UPDATE (written with ``?``) that must change exactly one row; if it
        changes none, :class:`NotFound` ``(*missing)`` is raised when it is sent.

        ``params`` end with the row's key. A second update of a row still held goes in
        another statement: two updates of one row in one statement lose one.
        """
        row = (sql, params[-1])
        if row in self._pending.rows:
            self.flush()
        self._pending.rows.add(row)
        self._pending.add(sql, params, ("one", *missing, None, ""))

    def due_timers(self, now: dt.datetime, limit: int) -> list[Timer]:
        self.flush()
        self._cur.execute(
            self._q(
                "SELECT id, subject, name, due_at, version FROM timers"
                " WHERE due_us <= ? ORDER BY due_us, id LIMIT ?"
            ),
            (epoch_us(now), limit),
        )
        return [
            Timer(r[0], r[1], r[2], dt.datetime.fromisoformat(r[3]), r[4])
            for r in self._cur.fetchall()
        ]

    def delete_timer(self, timer: Timer) -> bool:
        self.flush()
        self._writing()
        self._cur.execute(
            self._q("DELETE FROM timers WHERE due_us = ? AND id = ?"),
            (epoch_us(timer.due_at), timer.id),
        )
        return bool(self._cur.rowcount == 1)

    # -- events --------------------------------------------------------------

    def append(self, events: Sequence[Event]) -> list[Event]:
        if self.dialect.batched:
            stored: list[Event] = []
            self.append_then(events, stored.extend)
            self.flush()
            return stored
        if not events:
            return []
        cur = self._cur
        if self.dialect.append_lock:
            cur.execute(self.dialect.append_lock)
        if len(events) > _BULK_EVENTS and self.dialect.name == "sqlite":
            return self._append_many_sqlite(events)
        params: list[Any] = []
        for e in events:
            params += (e.name, e.subject, e.actor, iso(e.at), dumps_json(e.data))
        cur.execute(self._q(_sql_events(len(events))), params)
        # Rows are inserted, and numbered, in VALUES order; RETURNING's order is not promised.
        seqs = sorted(int(r[0]) for r in cur.fetchall())
        return [Event(e.name, e.subject, e.actor, e.at, e.data, seq)
                for e, seq in zip(events, seqs, strict=True)]

    def append_then(self, events: Sequence[Event], then: Callable[[list[Event]], None]) -> None:
        """:meth:`append`, perhaps later: on a batched dialect the events are held back
        and ride along with the next statement (at the latest the unit's last), and
        ``then`` gets them numbered once they are sent."""
        if not self.dialect.batched:
            then(self.append(events))
            return
        if not events:
            then([])
            return
        pending = self._pending
        if pending.appending is not None:
            self.flush()
        pending.appending = (list(events), then)

    def _append_many_sqlite(self, events: Sequence[Event]) -> list[Event]:
        """Many events in two statements. SQLite numbers a new rowid max + 1, and a
        write unit of work holds the database's write lock, so the numbers are known."""
        cur = self._cur
        cur.execute("SELECT coalesce(max(seq), 0) FROM events")
        last = int(cur.fetchone()[0])
        cur.executemany(
            "INSERT INTO events (seq, name, subject, actor, at, data) VALUES (?,?,?,?,?,?)",
            [(last + i, e.name, e.subject, e.actor, iso(e.at),
              dumps_json(e.data))
             for i, e in enumerate(events, 1)],
        )
        return [Event(e.name, e.subject, e.actor, e.at, e.data, last + i)
                for i, e in enumerate(events, 1)]

    def events(self, after: int, limit: int, subject: str | None = None) -> list[Event]:
        self.flush()
        sql = "SELECT seq, name, subject, actor, at, data FROM events WHERE seq > ?"
        params: list[Any] = [after]
        if subject is not None:
            sql += " AND subject = ?"
            params.append(subject)
        self._cur.execute(self._q(sql + " ORDER BY seq LIMIT ?"), [*params, limit])
        return [
            Event(r[1], r[2], r[3], dt.datetime.fromisoformat(r[4]), json.loads(r[5]), int(r[0]))
            for r in self._cur.fetchall()
        ]

    # -- catalog search (storage/_search_sql.py) ---------------------------------

    def index_services(self, docs: Sequence[SearchDoc]) -> None:
        _search_sql.index_services(self, docs)

    def search_services(self, spec: SearchSpec) -> list[SearchRow]:
        return _search_sql.search_services(self, spec)

    def service_stats(self, service_ids: Sequence[str]) -> dict[str, ServiceStats]:
        return _search_sql.service_stats(self, service_ids)

    def seller_stats(self, seller_id: str) -> ServiceStats:
        return _search_sql.seller_stats(self, seller_id)

    def add_service_stats(self, service_id: str, delta: StatsDelta) -> None:
        _search_sql.add_service_stats(self, service_id, delta)

    # -- project browsing (storage/_projects_sql.py) ------------------------------

    def index_projects(self, docs: Sequence[ProjectDoc]) -> None:
        _projects_sql.index_projects(self, docs)

    def search_projects(self, spec: ProjectSpec) -> list[ProjectRow]:
        return _projects_sql.search_projects(self, spec)


#: At most this many held-back writes ride along in one statement of CTEs; more (a bulk
#: import) go as ``executemany`` runs.
_FOLD_MAX = 32

#: (kind of check, table, key, detail, stored text): "add" (detail: the key was read
#: as missing in this unit), "cas" (detail: the version the row must still have) or
#: "one" (an update of one row; table and key: what :class:`NotFound` names).
_Check = tuple[str, str, str, Any, str]
#: A held write: statement, parameters, check (None: nothing to check, a timer).
_Write = tuple[str, list[Any], _Check | None]
#: A held ledger posting and what to call with the balances it left (None: not posted).
_Posting = tuple[LedgerTransaction, Callable[[dict[str, tuple[int, Currency]] | None], None]]
#: Held events and what to call with them once numbered.
_Appending = tuple[list[Event], Callable[[list[Event]], None]]
#: What a unit holds back, taken to be sent: writes, posting, append.
_Held = tuple[list[_Write], _Posting | None, _Appending | None]


#: The SQLSTATE ``microkit_fail`` raises (migration 8): a held-back write failed its check.
_WRITE_FAILED = "MK001"


#: The index ``microkit_fail`` names when a posting's limits failed, not a write.
_LIMITS = -1


class _LimitsFailed(Exception):
    """A posting's limits failed in a statement meant to commit alone: nothing was
    written; send it again in a transaction, where Python's check names the problem."""


def _failed_write(exc: BaseException) -> int | None:
    """The index of the held-back write a ``microkit_fail`` error names, else None."""
    if getattr(exc, "sqlstate", None) != _WRITE_FAILED:
        return None
    detail = getattr(getattr(exc, "diag", None), "message_detail", None)
    return int(detail) if detail is not None else None


@functools.lru_cache(maxsize=1024)
def _sql_batched(writes: tuple[str, ...], checked: tuple[bool, ...],
                 posting: tuple[int, int] | None, limits: bool, events: int,
                 lock: str | None) -> str:
    """The statement :meth:`SqlTx._send_batched` sends (built once per shape).

    ``writes``: the held writes' statements, each a CTE ``w{i}`` (``checked``: it must
    change one row); ``posting``: the held posting's number of lines and of accounts
    (CTEs ``t``, ``p``, ``a``), with ``limits``: its id must be new and its accounts
    within :class:`~microkit.escrow.ledger.Limits`, else ``microkit_fail(-1)``;
    ``events``: how many to append (``e``, after ``lock``). Placeholders in that order:
    each write's, the posting's (see :func:`_posting_args`), the limits' currency,
    the events'.
    """
    ctes = [f"w{i} AS ({sql} RETURNING 1)" for i, sql in enumerate(writes)]
    # Every write runs (a CTE nobody reads runs too); the checked ones are counted, and
    # the first that changed no row aborts the statement, named in the error.
    must = [i for i, c in enumerate(checked) if c]
    rows = []
    if must:
        counts = ", ".join(f"(SELECT count(*) FROM w{i})" for i in must)
        ok = " AND ".join(f"n[{j}] = 1" for j in range(1, len(must) + 1))
        first = " ".join(f"WHEN n[{j}] <> 1 THEN {i}" for j, i in enumerate(must, 1))
        # MATERIALIZED: inlined, every n[j] below would repeat the array of subqueries,
        # each planned and set up per execution (accept's statement took twice as long).
        ctes.append(f"c AS MATERIALIZED (SELECT ARRAY[{counts}]::bigint[] AS n)")
        rows.append(f"SELECT 'c', NULL, CASE WHEN {ok} THEN 0::bigint"
                    f" ELSE microkit_fail(CASE {first} END) END, NULL FROM c")
    if posting is not None:
        lines = ", ".join(["(?::text, ?::int, ?::bigint)"] * posting[0])
        moves = ", ".join(["(?::text, ?::bigint, ?::boolean)"] * posting[1])
        ctes.append(
            "t AS (INSERT INTO ledger_transactions (id, kind, currency, at, body, postings)"
            " VALUES (?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING RETURNING id),"
            " p AS (INSERT INTO postings (account, txn_id, line, amount, at)"
            f" SELECT v.a, t.id, v.l, v.n, ? FROM t, (VALUES {lines}) AS v(a, l, n)),"
            f" m AS (SELECT * FROM (VALUES {moves}) AS v(a, n, floored)),"
            " a AS (INSERT INTO accounts (name, currency, balance)"
            " SELECT m.a, ?, m.n FROM t, m ORDER BY m.a"
            " ON CONFLICT (name) DO UPDATE SET balance = accounts.balance + excluded.balance"
            " RETURNING name, balance, currency)"
        )
        rows.append("SELECT 'a', name, balance, currency FROM a")
        if limits:
            ctes.append(
                "g AS (SELECT EXISTS (SELECT 1 FROM t) AND NOT EXISTS (SELECT 1 FROM a, m"
                " WHERE m.a = a.name AND (a.currency <> ?::text OR (a.balance < 0 AND m.floored)))"
                " AS ok)")
            rows.append(f"SELECT 'g', NULL, CASE WHEN ok THEN 0::bigint"
                        f" ELSE microkit_fail({_LIMITS}) END, NULL FROM g")
    if events:
        values = ", ".join(["(?::int, ?::text, ?::text, ?::text, ?::text, ?::text)"] * events)
        ctes.append(
            (f"l AS ({lock}), " if lock else "")
            + "e AS (INSERT INTO events (name, subject, actor, at, data)"
            " SELECT v.name, v.subject, v.actor, v.at, v.data"
            f" FROM {'l, ' if lock else ''}(VALUES {values})"
            " AS v(i, name, subject, actor, at, data) ORDER BY v.i RETURNING seq)"
        )
        rows.append("SELECT 'e', NULL, seq, NULL FROM e")
    if not rows:  # unchecked writes only (timers): count them, so each runs
        rows.append("SELECT 'c', NULL, "
                    + " + ".join(f"(SELECT count(*) FROM w{i})" for i in range(len(writes)))
                    + ", NULL")
    return "WITH " + ", ".join(ctes) + " " + " UNION ALL ".join(rows)


def _journal_row(txn: LedgerTransaction) -> list[Any]:
    """A ``ledger_transactions`` row: id, kind, currency, at, body, postings (as JSON)."""
    lines = dumps_json([[p.account, p.amount] for p in txn.postings])
    return [txn.id, txn.kind, txn.currency.code, iso(txn.at), txn.body, lines]


def _posting_args(txn: LedgerTransaction) -> tuple[tuple[int, int], list[Any]]:
    """A posting's shape for :func:`_sql_batched` (its number of lines and of accounts)
    and the parameters of its CTEs, in placeholder order: the transaction, ``at``, the
    lines, the moves (each with whether its account is floored:
    :func:`~microkit.escrow.ledger.limits_of`), the currency."""
    params = [*_journal_row(txn), iso(txn.at)]  # ``at`` again, for the postings
    for i, p in enumerate(txn.postings):
        params += (p.account, i, p.amount)
    floored = limits_of(txn).floored
    moves = sorted(deltas(txn).items())  # one global lock order: no deadlocks
    for account, delta in moves:
        params += (account, delta, account in floored)
    params.append(txn.currency.code)
    return (len(txn.postings), len(moves)), params


class _Pending:
    """Writes a unit of work holds back, sent later in as few statements as will do.

    Each write keeps what to check once it is sent: an insert must write its row, a
    compare-and-set must find the version it expects; a timer needs nothing. Row counts
    show which failed, and :class:`ConcurrentUpdate` or :class:`Conflict` is raised then,
    as it would have been at once.
    """

    __slots__ = ("_by_key", "_writes", "appending", "posting", "rows")

    def __init__(self) -> None:
        #: (statement, parameters, check or None), in the order they were made.
        self._writes: list[_Write] = []
        #: (table, key) → index in ``_writes`` of its record write.
        self._by_key: dict[tuple[str, str], int] = {}
        #: A ledger posting held back (batched dialects) and what to call with its result.
        self.posting: _Posting | None = None
        #: (statement, key) of each ``update_one`` held.
        self.rows: set[tuple[str, Any]] = set()
        #: Events held back (batched dialects) and what to call with them numbered.
        self.appending: _Appending | None = None

    def __bool__(self) -> bool:
        return bool(self._writes) or self.posting is not None or self.appending is not None

    def foldable(self) -> bool:
        """Few enough to send as CTEs of one statement."""
        return len(self._writes) <= _FOLD_MAX

    def add(self, sql: str, params: list[Any], check: _Check | None = None) -> None:
        """A write that is not a record's: a timer (nothing to check), an ``update_one``."""
        self._writes.append((sql, params, check))

    def added(self, at: tuple[str, str]) -> bool:
        i = self._by_key.get(at)
        check = None if i is None else self._writes[i][2]
        return check is not None and check[0] == "add"

    def add_record(self, at: tuple[str, str], sql: str, params: list[Any],
                   concurrent: bool) -> None:
        """An insert that must write its row (a second call replaces the row to insert)."""
        i = self._by_key.get(at)
        if i is not None:
            first = self._writes[i][2]
            assert first is not None
            self._writes[i] = (sql, params, (*first[:4], params[-1]))
            return
        self._by_key[at] = len(self._writes)
        self._writes.append((sql, params, ("add", at[0], at[1], concurrent, params[-1])))

    def save(self, at: tuple[str, str], sql: str, params: list[Any]) -> None:
        """A compare-and-set; a second save of the same record replaces the first, keeping
        the version the stored row must still have. ``params`` end with data, key, version.
        """
        i = self._by_key.get(at)
        if i is not None:
            first = self._writes[i]
            assert first[2] is not None
            params[-1] = first[1][-1]
            self._writes[i] = (sql, params, (*first[2][:4], params[-3]))
            return
        self._by_key[at] = len(self._writes)
        self._writes.append((sql, params, ("cas", at[0], at[1], params[-1], params[-3])))

    def take(self) -> _Held:
        """The held writes, posting and append, forgotten here: the caller sends them."""
        posting, appending = self.posting, self.appending
        self.posting = self.appending = None
        return self._take_writes(), posting, appending

    def _take_writes(self) -> list[_Write]:
        writes = self._writes
        self._writes, self._by_key, self.rows = [], {}, set()
        return writes

    # -- as executemany runs ------------------------------------------------------

    def send(self, cur: Cursor, q: Callable[[str], str]) -> None:
        """Each run of writes with one statement as one ``executemany``; a run that wrote
        fewer rows than it checks is searched for the write that failed."""
        writes = self._take_writes()
        start = 0
        while start < len(writes):
            sql = writes[start][0]
            end = start + 1
            while end < len(writes) and writes[end][0] == sql:
                end += 1
            run = writes[start:end]
            start = end
            first = run[0][2]
            if first is not None and first[0] == "one":  # one by one: to name a missing row
                for _, params, check in run:
                    cur.execute(q(sql), params)
                    if cur.rowcount != 1:
                        raise _failure(first if check is None else check)
                continue
            cur.executemany(q(sql), [params for _, params, _ in run])
            checks = [check for _, _, check in run if check is not None]
            if checks and cur.rowcount != len(checks):
                if len(checks) == 1:  # the one that missed: a stored row equal to it
                    raise _failure(checks[0])  # (a duplicate add) is no proof of a race
                for check in checks:
                    cur.execute(q(f"SELECT data FROM {check[1]} WHERE key = ?"), (check[2],))
                    row = cur.fetchone()
                    if row is None or row[0] != check[4]:  # not what this unit wrote
                        raise _failure(check)
                # Every row holds what this unit wrote, yet a write missed: a row was
                # changed and changed back meanwhile. Run the command again.
                raise ConcurrentUpdate(f"{sql.split()[2]}: a row changed concurrently",
                                       key=str(checks[0][2]))


def _failure(check: _Check) -> Exception:
    what, table, key, detail, _ = check
    if what == "one":
        return NotFound(table, key)
    if what == "cas":
        return ConcurrentUpdate(
            f"{table} {key!r} changed concurrently (expected version {detail})", key=key)
    if detail:
        return ConcurrentUpdate(f"{table} {key!r} was added concurrently", key=key)
    return Conflict(f"{table} {key!r} exists already", key=key)
