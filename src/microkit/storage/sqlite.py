"""The SQLite backend: one embedded file, WAL, one transaction per command."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading
from contextlib import AbstractContextManager
from types import TracebackType
from typing import final
from urllib.parse import urlsplit

from ..errors import StorageError, ValidationError
from ._sql import DecodedRecords, Dialect, SqlTx, apply_migrations

__all__ = ["SQLiteStorage", "path_from_url"]

DIALECT = Dialect(
    "sqlite",
    paramstyle="qmark", serial="INTEGER PRIMARY KEY", bigint="INTEGER",
    without_rowid=" WITHOUT ROWID",
)


def path_from_url(url: str) -> str:
    """``sqlite:///market.db`` → ``market.db``; ``sqlite:////abs/m.db`` → ``/abs/m.db``."""
    parts = urlsplit(url)
    if parts.scheme != "sqlite" or parts.netloc or not parts.path.startswith("/"):
        raise ValidationError(
            f"url: expected sqlite:///relative/path or sqlite:////absolute/path, got {url!r}",
            field="url",
            value=url,
        )
    path = parts.path[1:]
    if not path:
        raise ValidationError(f"url: no file path in {url!r}", field="url", value=url)
    return path


@final
class SQLiteStorage:
    """An embedded SQLite database in WAL mode.

    Write units of work start with ``BEGIN IMMEDIATE``, so the guard reads a
    command makes hold until it commits, across threads and processes. One
    connection is shared by the threads of a process under a lock; each
    process opens its own.

    .. versionadded:: 0.1
    """

    def __init__(self, url: str, *, busy_timeout_ms: int = 10_000) -> None:
        self.url = url
        self.path = path_from_url(url)
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise ValidationError(
                f"url: folder {directory!r} does not exist", field="url", value=url
            )
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA wal_autocheckpoint = 10000")
            conn.execute("PRAGMA foreign_keys = ON")
            # 64 MiB page cache (default 2 MiB): index-heavy writes thrash the small one.
            conn.execute("PRAGMA cache_size = -65536")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open SQLite database {self.path!r}: {exc}") from exc
        self._conn = conn
        self._lock = threading.RLock()
        self._decoded = DecodedRecords()
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            now = dt.datetime.now(dt.UTC).isoformat()
            self._version = apply_migrations(cur, DIALECT, now)
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")

    def write(self) -> AbstractContextManager[SqlTx]:
        return _Unit(self, "BEGIN IMMEDIATE")

    def read(self) -> AbstractContextManager[SqlTx]:
        return _Unit(self, "BEGIN")

    def schema_version(self) -> int:
        return self._version

    def close(self) -> None:
        with self._lock:
            self._conn.close()


@final
class _Unit:
    """``with storage.write() as tx``: take the lock and begin; commit, or roll back on an
    error. A plain context manager (not ``@contextmanager``): entered once per command."""

    __slots__ = ("_begin", "_cur", "_s", "_tx")

    def __init__(self, storage: SQLiteStorage, begin: str) -> None:
        self._s = storage
        self._begin = begin
        self._cur: sqlite3.Cursor | None = None
        self._tx: SqlTx | None = None

    def __enter__(self) -> SqlTx:
        s = self._s
        s._lock.acquire()
        try:
            cur = self._cur = s._conn.cursor()
            cur.execute(self._begin)
        except sqlite3.Error as exc:
            s._lock.release()
            raise StorageError(f"SQLite: {self._begin} failed: {exc}") from exc
        except BaseException:
            s._lock.release()
            raise
        self._tx = SqlTx(cur, DIALECT, s._decoded)
        return self._tx

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        conn, cur, tx = self._s._conn, self._cur, self._tx
        assert cur is not None and tx is not None
        try:
            if exc_type is not None:
                if conn.in_transaction:
                    cur.execute("ROLLBACK")
                return
            try:
                tx.flush()  # the writes it held back
                cur.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    cur.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StorageError(f"SQLite: COMMIT failed: {exc}") from exc
                raise
        finally:
            self._s._lock.release()
