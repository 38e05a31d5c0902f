"""PostgreSQL's statement path (``postgres._WireCursor``): each statement is prepared once
per connection and kept across rolled-back units; past the cap, statements run unprepared.
Either way a market story ends exactly as it does on ``memory://``."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest

import _pg
import microkit as mk
from _pg import market_with_service
from microkit import Actor
from microkit.clock import FrozenClock
from microkit.errors import Conflict, InvalidTransition, StorageError
from microkit.storage.records import SERVICES
from microkit.testing.storage import service

psycopg = pytest.importorskip("psycopg")
postgres = pytest.importorskip("microkit.storage.postgres")

AMAL, OMAR = Actor.user("amal"), Actor.user("omar")


@pytest.fixture
def pg_url() -> Iterator[str]:
    with _pg.fresh_schema_url(_pg.require_postgres()) as url:
        yield url


def story(url: str) -> dict[str, Any]:
    """Two orders (one accepted after a revision, one cancelled), a refused command
    between them, clearance; what a user of the market can see at the end."""
    clock = FrozenClock(dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    market, svc = market_with_service(url, clock)
    try:
        first = market.orders.place(svc.id, by=AMAL)
        market.payments.pay(first.id, by=AMAL, gateway="sandbox", idempotency_key="p1")
        with pytest.raises(InvalidTransition):
            market.orders.accept(first.id, by=AMAL)  # never delivered
        market.orders.start(first.id, by=OMAR)
        market.orders.deliver(first.id, by=OMAR, message="المسودة")
        market.orders.request_revision(first.id, by=AMAL, reason="لون آخر")
        market.orders.deliver(first.id, by=OMAR, message="النهائي")
        market.orders.accept(first.id, by=AMAL)
        second = market.orders.place(svc.id, by=AMAL)
        market.payments.pay(second.id, by=AMAL, gateway="sandbox", idempotency_key="p2")
        clock.advance(days=3)  # the seller let the start window pass
        market.orders.cancel(second.id, by=AMAL)
        clock.advance(days=30)
        market.tick()
        report = market.ledger.verify()
        return {
            "ok": report.ok,
            "transactions": report.transactions,
            "balances": {u: market.ledger.balance(u) for u in ("amal", "omar")},
            "states": [market.orders.get(o.id).state for o in (first, second)],
            "events": [(e.name, e.subject == first.id) for e in market.events.read(limit=1000)],
        }
    finally:
        market.close()


@pytest.mark.parametrize("cap", [0, 2048], ids=["unprepared", "prepared"])
def test_a_story_ends_as_on_memory(pg_url: str, cap: int,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres, "_MAX_PREPARED", cap)
    on_postgres = story(pg_url)
    assert on_postgres["ok"] and on_postgres["transactions"] > 0
    assert on_postgres == story("memory://")


def test_statements_stay_prepared_after_a_rolled_back_unit(pg_url: str) -> None:
    storage = postgres.PostgresStorage(pg_url)
    try:
        def prepared() -> int:
            with storage.read() as tx:
                tx.get(SERVICES, "sv1")
                cur = tx.cursor
                cur.execute("SELECT count(*) FROM pg_prepared_statements")
                return int(cur.fetchone()[0])

        with storage.write() as tx:
            tx.add(SERVICES, service("sv1", title="first"))
        before = prepared()
        with pytest.raises(Conflict), storage.write() as tx:
            tx.add(SERVICES, service("sv1", title="second"))
        assert before > 0 and prepared() >= before
        with storage.read() as tx:
            found = tx.get(SERVICES, "sv1")
        assert found is not None and found.title == "first"
    finally:
        storage.close()


def test_a_unit_whose_failed_statement_was_swallowed_commits_nothing(pg_url: str) -> None:
    storage = postgres.PostgresStorage(pg_url)
    try:
        with pytest.raises(StorageError, match="nothing was committed"), \
                storage.write() as tx:
            tx.add(SERVICES, service("sv1"))
            cur = tx.cursor  # sends the add
            with pytest.raises(psycopg.errors.DivisionByZero):
                cur.execute("SELECT 1 / 0")
        with storage.read() as tx:
            assert tx.get(SERVICES, "sv1") is None
    finally:
        storage.close()


def test_a_connection_the_server_dropped_is_replaced(pg_url: str) -> None:
    storage = postgres.PostgresStorage(pg_url)
    try:
        with storage.write() as tx:
            tx.add(SERVICES, service("sv1"))
        with storage.read() as tx:
            cur = tx.cursor
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(StorageError), storage.read() as tx:
            tx.get(SERVICES, "sv1")
        with storage.write() as tx:  # a new connection, its statements prepared afresh
            tx.add(SERVICES, service("sv2"))
        with storage.read() as tx:
            assert tx.get(SERVICES, "sv1") is not None and tx.get(SERVICES, "sv2") is not None
    finally:
        storage.close()


def first_reads(market: mk.Marketplace, order_id: str, monkeypatch: pytest.MonkeyPatch,
                steps: list[tuple[str, Actor, dict[str, Any]]]) -> dict[str, set[str]]:
    """The tables each order command's first statement reads (empty: it reads nothing
    before it writes)."""
    sent: list[str] = []
    execute = postgres._WireCursor.execute

    def record(self: Any, sql: str, params: Any = (), /) -> None:
        sent.append(sql)
        execute(self, sql, params)

    read: dict[str, set[str]] = {}
    with monkeypatch.context() as patched:
        patched.setattr(postgres._WireCursor, "execute", record)
        for command, by, params in steps:
            sent.clear()
            getattr(market.orders, command)(order_id, by=by, **params)
            read[command] = (set(re.findall(r"FROM (\w+) WHERE", sent[0]))
                             if sent[0].startswith("SELECT") else set())
    return read


LIFECYCLE_END: list[tuple[str, Actor, dict[str, Any]]] = [
    ("start", OMAR, {}), ("deliver", OMAR, {"message": "تم"}), ("accept", AMAL, {})]


def test_an_order_command_recalls_the_order_and_reads_ahead_what_its_events_need(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The order this process committed last is recalled, not read (its compare-and-set
    save checks it): starting reads nothing before it writes; a delivery reads the
    seller's metrics (and user); acceptance also the seller's level and the
    seller-buyer pair, all in one statement. (A process keeps copies of a table's
    records from its first recall on: here, the first order's start.)"""
    market, svc = market_with_service(pg_url, FrozenClock(dt.datetime(2026, 3, 1, tzinfo=dt.UTC)))
    try:
        first = market.orders.place(svc.id, by=AMAL)
        market.payments.pay(first.id, by=AMAL, gateway="sandbox", idempotency_key="p0")
        market.orders.start(first.id, by=OMAR)
        order = market.orders.place(svc.id, by=AMAL)
        market.payments.pay(order.id, by=AMAL, gateway="sandbox", idempotency_key="p1")
        read = first_reads(market, order.id, monkeypatch, LIFECYCLE_END)
        assert market.orders.get(order.id).state == "completed"
        assert market.ledger.verify().ok
    finally:
        market.close()
    assert read == {"start": set(), "deliver": {"seller_metrics", "users"},
                    "accept": {"seller_metrics", "users", "seller_levels", "seller_buyers"}}


def test_an_order_another_process_changed_last_is_read_with_what_its_events_need(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where another process (here: another storage on the same database) took the
    order as far as it is, this one holds no copy of it: the command reads the order,
    and what its events need with it, in its first statement."""
    clock = FrozenClock(dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    market, svc = market_with_service(pg_url, clock)
    other = mk.Marketplace.open(pg_url, config=mk.MarketConfig.khamsat(), clock=clock,
                                load_entry_points=False)
    read: dict[str, set[str]] = {}
    try:
        for i, (command, by, params) in enumerate(LIFECYCLE_END):
            order = other.orders.place(svc.id, by=AMAL)
            other.payments.pay(order.id, by=AMAL, gateway="sandbox", idempotency_key=f"p{i}")
            for earlier, earlier_by, earlier_params in LIFECYCLE_END[:i]:
                getattr(other.orders, earlier)(order.id, by=earlier_by, **earlier_params)
            read |= first_reads(market, order.id, monkeypatch, [(command, by, params)])
        assert market.orders.get(order.id).state == "completed"
        assert market.ledger.verify().ok
    finally:
        other.close()
        market.close()
    assert read == {"start": {"orders"}, "deliver": {"orders", "seller_metrics", "users"},
                    "accept": {"orders", "seller_metrics", "users", "seller_levels",
                               "seller_buyers"}}
