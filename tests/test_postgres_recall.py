"""A process recalls the orders it committed last instead of reading them (PostgreSQL).

Two markets over one database stand for two app servers. Each keeps copies of
the orders it committed; a copy the other server has since made stale must never
decide a command: the save of the order finds it changed, or the command's error
sends it to run again on what is stored. A server whose copies keep going stale
reads the orders again, until its copies come right again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

import _pg
import microkit as mk
from microkit import Actor
from microkit.clock import FrozenClock
from microkit.errors import InvalidTransition

psycopg = pytest.importorskip("psycopg")
postgres = pytest.importorskip("microkit.storage.postgres")

AMAL, OMAR = Actor.user("amal"), Actor.user("omar")


@pytest.fixture
def servers() -> Iterator[tuple[mk.Marketplace, mk.Marketplace, str]]:
    """Two markets on one fresh database, and a service amal may order from omar."""
    with _pg.fresh_schema_url(_pg.require_postgres()) as url:
        clock = FrozenClock(dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
        first, svc = _pg.market_with_service(url, clock)
        try:
            second = mk.Marketplace.open(url, config=mk.MarketConfig.khamsat(), clock=clock,
                                         load_entry_points=False)
            try:
                yield first, second, svc.id
            finally:
                second.close()
        finally:
            first.close()


def paid_order(market: mk.Marketplace, service_id: str, key: str) -> str:
    order = market.orders.place(service_id, by=AMAL)
    market.payments.pay(order.id, by=AMAL, gateway="sandbox", idempotency_key=key)
    return order.id


def events_of(market: mk.Marketplace, order_id: str) -> list[str]:
    return [e.name for e in market.orders.history(order_id)]


def test_a_command_a_stale_copy_would_refuse_runs_again_on_what_is_stored(
        servers: tuple[mk.Marketplace, mk.Marketplace, str]) -> None:
    one, two, service_id = servers
    order_id = paid_order(one, service_id, "k1")
    one.orders.start(order_id, by=OMAR)  # one's copy: in progress
    two.orders.deliver(order_id, by=OMAR, message="تم")

    accepted = one.orders.accept(order_id, by=AMAL)  # the copy says: not delivered yet

    assert accepted.state == "completed"
    assert one.orders.get(order_id) == accepted
    assert events_of(one, order_id) == ["order.placed", "order.paid", "order.started",
                                        "order.delivered", "order.completed"]
    assert one.ledger.verify().ok


def test_a_command_a_stale_copy_would_allow_fails_on_what_is_stored(
        servers: tuple[mk.Marketplace, mk.Marketplace, str]) -> None:
    one, two, service_id = servers
    order_id = paid_order(one, service_id, "k1")
    one.orders.start(order_id, by=OMAR)
    one.orders.deliver(order_id, by=OMAR, message="تم")  # one's copy: delivered
    two.orders.accept(order_id, by=AMAL)
    seller_before = one.ledger.balance("omar")

    with pytest.raises(InvalidTransition):
        one.orders.request_revision(order_id, by=AMAL, reason="لون آخر")

    assert one.orders.get(order_id).state == "completed"
    assert one.orders.get(order_id).revisions == 0
    assert events_of(one, order_id)[-1] == "order.completed"
    assert one.ledger.account_balance(f"escrow:order:{order_id}").amount == 0
    assert one.ledger.balance("omar") == seller_before
    assert one.ledger.verify().ok


def reads_order(market: mk.Marketplace, monkeypatch: pytest.MonkeyPatch,
                command: Any) -> bool:
    """Whether running ``command()`` read the orders table before its first write."""
    sent: list[str] = []
    execute = postgres._WireCursor.execute

    def record(self: Any, sql: str, params: Any = (), /) -> None:
        sent.append(sql)
        execute(self, sql, params)

    with monkeypatch.context() as patched:
        patched.setattr(postgres._WireCursor, "execute", record)
        command()
    return sent[0].startswith("SELECT") and " orders " in sent[0]


def test_a_server_whose_copies_go_stale_reads_orders_until_they_come_right(
        servers: tuple[mk.Marketplace, mk.Marketplace, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    one, two, service_id = servers
    warm = paid_order(one, service_id, "warm")
    one.orders.start(warm, by=OMAR)

    # Server two delivers each order between server one's start and accept.
    stale_streak = []
    for i in range(4):
        order_id = paid_order(one, service_id, f"s{i}")
        one.orders.start(order_id, by=OMAR)
        two.orders.deliver(order_id, by=OMAR, message="تم")
        stale_streak.append(reads_order(one, monkeypatch,
                                        lambda o=order_id: one.orders.accept(o, by=AMAL)))
        assert one.orders.get(order_id).state == "completed"
    assert stale_streak[0] is False  # at first, the copy is taken (and found stale)
    assert stale_streak[-1] is True  # then orders are read

    # Server one alone again: its copies are current, and it recalls them once more.
    resumed_after = None
    for i in range(10):
        order_id = paid_order(one, service_id, f"r{i}")
        if not reads_order(one, monkeypatch, lambda o=order_id: one.orders.start(o, by=OMAR)):
            resumed_after = i
            break
        one.orders.deliver(order_id, by=OMAR, message="تم")
    assert resumed_after is not None and resumed_after > 0
    assert one.ledger.verify().ok
