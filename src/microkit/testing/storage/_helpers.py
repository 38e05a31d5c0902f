"""Shared pieces of the storage conformance suite: sample records, constants, threads."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

from ...catalog.model import Service
from ...escrow.ledger import LedgerTransaction, Posting
from ...events import Event
from ...money import Money, currency
from ...storage.base import Storage

__all__ = [
    "LYD",
    "T0",
    "USD",
    "Boom",
    "StorageFactory",
    "attr_without_seq",
    "event",
    "run_threads",
    "service",
    "txn",
]

#: Opens the store under test; every call opens the same database again.
StorageFactory = Callable[[], Storage]

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
USD = currency("USD")
LYD = currency("LYD")


def service(
    key: str,
    *,
    seller: str = "s1",
    category: str = "design",
    state: str = "approved",
    version: int = 1,
    title: str = "تصميم شعار",
) -> Service:
    """A small valid service record (the suite stores microkit's own record kinds)."""
    return Service(
        id=key, seller_id=seller, category=category, title=title, description="وصف",
        price=Money.of("5", "USD"), delivery_days=2, upgrades=(), state=state,  # type: ignore[arg-type]
        created_at=T0, updated_at=T0 + dt.timedelta(minutes=version), version=version,
    )


def txn(
    txn_id: str, *moves: tuple[str, int], code: str = "USD", kind: str = "test"
) -> LedgerTransaction:
    """A balanced transaction: each ``(account, amount)`` plus the balancing ``world`` line."""
    postings = [Posting(a, n) for a, n in moves]
    postings.append(Posting("gateway:world", -sum(n for _, n in moves)))
    return LedgerTransaction(txn_id, kind, currency(code), tuple(postings), T0)


def event(subject: str, n: int) -> Event:
    return Event("thing.happened", subject, "system", T0 + dt.timedelta(seconds=n),
                 {"n": n, "text": "مرحبا"})


def run_threads(target: Callable[[int], Any], count: int, timeout: float = 60) -> list[Any]:
    """Run ``target(i)`` in ``count`` threads; their results, or the exceptions they raised."""
    results: list[Any] = [None] * count

    def body(i: int) -> None:
        try:
            results[i] = target(i)
        except BaseException as exc:  # reported to the test, not lost in the thread
            results[i] = exc

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "a thread of the race did not finish"
    return results


class Boom(Exception):
    """Raised inside a unit of work to force its rollback."""


def attr_without_seq(e: Event) -> tuple[str, str, str, dt.datetime, Any]:
    return (e.name, e.subject, e.actor, e.at, dict(e.data))
