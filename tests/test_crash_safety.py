"""Crash safety on SQLite: SIGKILL a process inside commands, reopen, find no half command.

A forked child opens one SQLite market file and runs a random mix of
commands (place, pay, start, deliver, accept, decline, tick across
clearance) until it is killed with SIGKILL: half of the rounds at a random
SQL statement inside a command (the child kills itself from SQLite's trace
callback, so the kill lands between any two statements of a unit of work,
COMMIT included), half from the parent after a random delay. After every
kill the parent reopens the file and checks that each command was applied
entirely or not at all:

* ``market.ledger.verify()`` is clean (journal and kept balances agree);
* each order's escrow and ledger transactions match its state (paid orders
  hold the total in escrow, completed ones have released it to the seller's
  pending earnings and the commission, cancelled ones refunded what was paid);
* each order's event history matches its state and version: one event per
  saved transition, the last one ending in the current state.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

import microkit as mk
from microkit import Actor
from microkit.clock import FrozenClock
from microkit.escrow import ledger
from microkit.storage.records import ORDERS

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
ROUNDS = 150
#: Every round checks the newest orders (where the workload acts); every FULL_EVERY, all.
RECENT = 40
FULL_EVERY = 25
SEED = 20260101

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def open_market(path: Path, when: dt.datetime) -> mk.Marketplace:
    return mk.Marketplace.open(f"sqlite:///{path}", config=mk.MarketConfig.khamsat(),
                               clock=FrozenClock(when), load_entry_points=False)


def seed(path: Path) -> str:
    market = open_market(path, START)
    staff = Actor.staff("ops")
    for user in ("amal", "omar", "sara"):
        market.users.register(user, display_name=user)
    market.catalog.add_category("design", names={"en": "Design"}, by=staff)
    svc = market.catalog.create_service(
        by=Actor.user("omar"), category="design", title="logo", description="a logo",
        price=mk.Money.of("10", "USD"), delivery_days=2,
    )
    market.catalog.approve(svc.id, by=staff)
    market.close()
    return svc.id


def workload(path: Path, service_id: str, round_no: int, kill_at: int | None) -> None:
    """The child: commands until killed (never returns into pytest)."""
    rnd = random.Random(SEED + round_no)
    clock = FrozenClock(START + dt.timedelta(days=round_no))
    market = open_market(path, clock.now())
    if kill_at is not None:
        statements = 0

        def trace(_sql: str) -> None:
            nonlocal statements
            statements += 1
            if statements >= kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

        conn: sqlite3.Connection = market.storage._conn  # type: ignore[attr-defined]
        conn.set_trace_callback(trace)
    buyers = [Actor.user("amal"), Actor.user("sara")]
    omar = Actor.user("omar")
    orders, payments = market.orders, market.payments
    for _ in range(10_000):
        with market.storage.read() as tx:
            known = tx.find(ORDERS, {}, order_by="key", descending=True, limit=20)
        move = rnd.random()
        try:
            if move < 0.2 or not known:
                orders.place(service_id, by=rnd.choice(buyers))
            elif move < 0.25:
                clock.advance(days=rnd.choice([1, 5, 15]))
                market.tick()
            else:
                order = rnd.choice(known)
                buyer = Actor.user(order.buyer_id)
                if order.state == "pending_payment":
                    payments.pay(order.id, by=buyer, gateway="sandbox",
                                 idempotency_key=f"pay-{order.id}")
                elif order.state == "paid":
                    if rnd.random() < 0.8:
                        orders.start(order.id, by=omar)
                    else:
                        orders.cancel(order.id, by=omar, reason="busy")
                elif order.state == "in_progress":
                    orders.deliver(order.id, by=omar, message="done")
                elif order.state == "delivered":
                    orders.accept(order.id, by=buyer)
        except mk.MicrokitError:
            pass


def run_round(path: Path, service_id: str, round_no: int, rnd: random.Random) -> None:
    if round_no % 2:
        kill_at: int | None = rnd.randrange(1, 200)
        delay = 5.0  # the child kills itself; this is only a safety net
    else:
        kill_at = None
        delay = rnd.uniform(0.002, 0.04)
    pid = os.fork()
    if pid == 0:  # the child
        try:
            workload(path, service_id, round_no, kill_at)
        finally:
            os._exit(0)
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.WIFSIGNALED(status), f"child exited without being killed: {status}"
            return
        time.sleep(0.001)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def check(path: Path, round_no: int, full: bool) -> dict[str, int]:
    """Every command fully applied or not at all; returns the states seen."""
    market = open_market(path, START + dt.timedelta(days=round_no))
    try:
        report = market.ledger.verify()
        assert report.ok, (round_no, report.problems)
        states: dict[str, int] = {}
        with market.storage.read() as tx:
            # Order ids sort by creation time: the newest are the ones still moving.
            orders = tx.find(ORDERS, {}, descending=True, limit=100_000 if full else RECENT)
            for order in orders:
                states[order.state] = states.get(order.state, 0) + 1
                problems = order_problems(tx, order)
                assert not problems, (round_no, order.id, order.state, problems)
        return states
    finally:
        market.close()


def order_problems(tx: Any, order: Any) -> list[str]:
    txns = {k: tx.ledger_transaction(f"order:{order.id}:{k}")
            for k in ("pay", "release", "refund", "clear")}
    escrow = tx.balances([ledger.escrow(order.id)])[0].get(ledger.escrow(order.id), 0)
    total = order.total.amount
    problems = []
    funded = txns["pay"] is not None
    closed = txns["release"] is not None or txns["refund"] is not None
    expect_escrow = total if funded and not closed else 0
    if escrow != expect_escrow:
        problems.append(f"escrow {escrow}, expected {expect_escrow}")
    if order.state == "pending_payment" and (funded or order.version != 1):
        problems.append("unpaid order with a payment or a transition")
    if order.state in ("paid", "in_progress", "delivered") and (not funded or closed):
        problems.append(f"pay={funded} closed={closed}")
    if order.state == "completed":
        release = txns["release"]
        if release is None:
            problems.append("completed without a release")
        else:
            lines = {p.account: p.amount for p in release.postings}
            if lines.get(ledger.user_pending(order.seller_id)) != order.seller_share.amount:
                problems.append(f"release lines {lines}")
    if order.state == "cancelled" and funded and txns["refund"] is None:
        problems.append("cancelled after payment without a refund")
    if txns["clear"] is not None and txns["release"] is None:
        problems.append("cleared without a release")
    history = tx.events(0, 10_000, subject=f"order:{order.id}")
    moves = [e for e in history if "to" in e.data]
    if len(moves) != order.version - 1:
        problems.append(f"{len(moves)} transition events for version {order.version}")
    if moves and moves[-1].data["to"] != order.state:
        problems.append(f"last event goes to {moves[-1].data['to']}")
    if not history or history[0].name != "order.placed":
        problems.append("no order.placed event first")
    return problems


def test_sigkill_inside_commands_never_leaves_half_a_command(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    service_id = seed(path)
    rnd = random.Random(SEED)
    seen: set[str] = set()
    started = time.monotonic()
    for round_no in range(1, ROUNDS + 1):
        run_round(path, service_id, round_no, rnd)
        seen |= set(check(path, round_no,
                          full=round_no % FULL_EVERY == 0 or round_no == ROUNDS))
    elapsed = time.monotonic() - started
    # The workload reached every stage, so the kills hit every kind of command. Across
    # rounds: how far one round gets depends on when the kill lands (and on load).
    assert {"pending_payment", "in_progress", "completed"} <= seen, seen
    assert elapsed < 120, f"{ROUNDS} kill rounds took {elapsed:.0f} s"
