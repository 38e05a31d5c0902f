"""Races between real OS processes over one market (SQLite file, PostgreSQL schema).

Each worker is a forked OS process that opens the market by URL itself, waits
at a start line until every worker is ready, then fires its commands. Three
races run at once, aimed at the same orders and wallets:

* **start vs cancel**: on paid orders whose start window has passed, the
  seller starts while the buyer cancels (two processes each): exactly one
  wins per order, and the ledger matches the winner;
* **double pay**: every process pays the same pending orders with the same
  idempotency key: one payment per order, escrow funded once, nothing credited
  twice;
* **one wallet, many orders**: processes pay different orders from one
  buyer's balance (``gateway="balance"``); only what the balance covers
  succeeds, the rest is ``InsufficientFunds``, the balance never goes negative.

Afterwards: ``verify()`` clean, no balance negative, every order's history
has each transition once, no event duplicated.
"""

from __future__ import annotations

import collections
import datetime as dt
import multiprocessing as mp
import os
import random
import time
from collections.abc import Iterator
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest

import _pg
import microkit as mk
from microkit import Actor
from microkit.clock import FrozenClock
from microkit.escrow import ledger

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
#: When the races run: past every start window of the orders paid at START.
RACE_AT = START + dt.timedelta(days=30)
PROCESSES = 4
N_START_CANCEL = 8
N_DOUBLE_PAY = 4
N_WALLET = 8
WALLET_COVERS = 3  # orders the rich buyer's balance pays for

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def config() -> mk.MarketConfig:
    return mk.MarketConfig.khamsat()


def open_market(url: str, when: dt.datetime) -> mk.Marketplace:
    return mk.Marketplace.open(url, config=config(), clock=FrozenClock(when),
                               load_entry_points=False)


# -- the worker processes ----------------------------------------------------------------


def worker(url: str, tasks: list[list[str]], ready: Barrier, results: Queue[Any]) -> None:
    """A forked process: open the market, wait at the start line, run, report outcomes."""
    try:
        market = open_market(url, RACE_AT)
        market.events.read(limit=1)  # connect before the start line
        ready.wait(timeout=60)
        outcomes: list[list[str]] = []
        pause = random.Random(os.getpid())
        for command, order_id, user, extra in tasks:
            # A breath between commands: SQLite's waiting writers get their turn too.
            time.sleep(pause.random() * 0.002)
            by = Actor.user(user)
            try:
                if command == "start":
                    market.orders.start(order_id, by=by)
                    detail = ""
                elif command == "cancel":
                    market.orders.cancel(order_id, by=by, reason="race")
                    detail = ""
                else:
                    detail = market.payments.pay(order_id, by=by, gateway=command,
                                                 idempotency_key=extra).id
                outcomes.append([command, order_id, "ok", detail])
            except mk.MicrokitError as exc:
                outcomes.append([command, order_id, type(exc).__name__, str(exc)])
        market.close()
        results.put(outcomes)
    except BaseException as exc:  # reported, so the parent fails with the reason
        results.put([["crash", "", type(exc).__name__, repr(exc)]])


def run_workers(url: str, jobs: list[list[list[str]]]) -> list[list[str]]:
    """Fork one process per job (microkit is imported already: no start-up cost), release
    them together at a barrier, collect every outcome."""
    ctx = mp.get_context("fork")
    ready = ctx.Barrier(len(jobs))
    results: Queue[Any] = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(url, tasks, ready, results)) for tasks in jobs]
    for proc in procs:
        proc.start()
    try:
        outcomes: list[list[str]] = []
        for _ in procs:
            outcomes += results.get(timeout=120)
        for proc in procs:
            proc.join(60)
            assert proc.exitcode == 0, f"worker exited with {proc.exitcode}"
        return outcomes
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
                proc.join()


# -- the test ------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def race_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/race.db"
        return
    with _pg.fresh_schema_url(_pg.require_postgres()) as url:
        yield url


def setup(url: str) -> dict[str, Any]:
    """Users, a 10 USD service, and the orders of the three races."""
    clock = FrozenClock(START)
    market = mk.Marketplace.open(url, config=config(), clock=clock, load_entry_points=False)
    staff, amal, rich = Actor.staff("ops"), Actor.user("amal"), Actor.user("rich")
    for user in ("amal", "omar", "rich"):
        market.users.register(user, display_name=user)
    market.catalog.add_category("design", names={"en": "Design"}, by=staff)
    svc = market.catalog.create_service(
        by=Actor.user("omar"), category="design", title="logo", description="a logo",
        price=mk.Money.of("10", "USD"), delivery_days=2,
    )
    market.catalog.approve(svc.id, by=staff)

    def paid(buyer: Actor) -> str:
        order = market.orders.place(svc.id, by=buyer)
        market.payments.pay(order.id, by=buyer, gateway="sandbox", idempotency_key=f"s-{order.id}")
        return order.id

    start_cancel = [paid(amal) for _ in range(N_START_CANCEL)]
    clock.advance(days=30)
    # Fund the rich buyer's wallet: orders cancelled by the seller refund to the balance.
    for _ in range(WALLET_COVERS):
        market.orders.cancel(paid(rich), by=Actor.user("omar"), reason="fund the wallet")
    double_pay = [market.orders.place(svc.id, by=amal).id for _ in range(N_DOUBLE_PAY)]
    wallet = [market.orders.place(svc.id, by=rich).id for _ in range(N_WALLET)]
    total = market.orders.get(wallet[0]).total
    assert market.ledger.balance("rich").available == total * WALLET_COVERS
    market.close()
    return {"start_cancel": start_cancel, "double_pay": double_pay, "wallet": wallet,
            "total": total}


def test_processes_racing_over_orders_and_wallets(race_url: str) -> None:
    world = setup(race_url)
    rnd = random.Random(5)
    jobs: list[list[list[str]]] = []
    for p in range(PROCESSES):
        tasks: list[list[str]] = []
        for oid in world["start_cancel"]:
            tasks.append(["start", oid, "omar", ""] if p % 2 else ["cancel", oid, "amal", ""])
        for oid in world["double_pay"]:
            tasks.append(["sandbox", oid, "amal", f"k-{oid}"])
        for i, oid in enumerate(world["wallet"]):
            if i % PROCESSES == p:
                tasks.append(["balance", oid, "rich", f"w-{oid}"])
        rnd.shuffle(tasks)
        jobs.append(tasks)

    outcomes = run_workers(race_url, jobs)

    by_race = collections.defaultdict(list)
    for command, oid, result, detail in outcomes:
        by_race[oid].append((command, result, detail))
    allowed = {"ok", "InvalidTransition", "InsufficientFunds"}
    assert {r for _, _, r, _ in outcomes} <= allowed, [o for o in outcomes if o[2] not in allowed]

    market = open_market(race_url, RACE_AT)
    try:
        total = world["total"]
        refunded = 0
        # start vs cancel: exactly one winner per order; the state and money follow it.
        for oid in world["start_cancel"]:
            winners = [c for c, r, _ in by_race[oid] if r == "ok"]
            assert len(winners) == 1, (oid, by_race[oid])
            order = market.orders.get(oid)
            escrow = market.ledger.account_balance(ledger.escrow(oid))
            if winners == ["start"]:
                assert order.state == "in_progress" and escrow == total
            else:
                assert order.state == "cancelled" and escrow.amount == 0
                refunded += 1
        # double pay: every caller got the one payment; escrow funded once.
        for oid in world["double_pay"]:
            results = by_race[oid]
            assert [r for _, r, _ in results] == ["ok"] * PROCESSES, results
            assert len({d for _, _, d in results}) == 1, results
            assert market.orders.get(oid).state == "paid"
            assert market.ledger.account_balance(ledger.escrow(oid)) == total
        # one wallet: what the balance covers succeeds, the rest is refused.
        results = [r for oid in world["wallet"] for _, r, _ in by_race[oid]]
        assert sorted(results) == sorted(
            ["ok"] * WALLET_COVERS + ["InsufficientFunds"] * (N_WALLET - WALLET_COVERS))
        assert market.ledger.balance("rich").available.amount == 0
        paid_states = [market.orders.get(o).state for o in world["wallet"]]
        assert paid_states.count("paid") == WALLET_COVERS
        # amal's balance holds the refunds of the cancelled races, and nothing else.
        assert market.ledger.balance("amal").available == total * refunded

        report = market.ledger.verify()
        assert report.ok, report.problems
        with market.storage.read() as tx:
            balances = tx.all_balances()
            journal = list(tx.journal())
        negative = {a: b for a, b in balances.items() if b < 0 and not ledger.may_go_negative(a)}
        assert negative == {}
        twice = [t for t, _, _ in journal if t.endswith(":unapplied")]
        assert not twice, f"a charge was credited twice: {twice}"

        events = market.events.read(after=0, limit=10_000)
        seqs = [e.seq for e in events]
        assert seqs == sorted(set(seqs))
        for oid in world["start_cancel"] + world["double_pay"] + world["wallet"]:
            names = [e.data.get("transition", e.name) for e in market.orders.history(oid)]
            assert len(names) == len(set(names)), (oid, names)
        paid_events = collections.Counter(
            e.subject for e in events if e.name == "payment.succeeded")
        assert all(n == 1 for n in paid_events.values()), paid_events
    finally:
        market.close()
