"""Races between real OS processes over one market (SQLite file, PostgreSQL schema).

Each worker is a forked OS process that opens the market by URL itself, waits
at a start line until every worker is ready, then fires its commands. The
races run at once, aimed at the same orders, payments, wallets and projects:

* **start vs cancel**: on paid orders whose start window has passed, the
  seller starts while the buyer cancels (two processes each): exactly one
  wins per order, and the ledger matches the winner;
* **accept vs cancel**: on delivered orders whose auto-completion is due, the
  buyer accepts (two processes) while the seller asks to cancel and the buyer
  agrees (one process), the seller opens a dispute (one process), and two
  processes run ``tick()`` (the ``auto_complete`` timer): the order ends
  ``completed`` (escrow to the seller's pending earnings and the commission),
  ``cancelled`` (refund) or ``disputed`` (escrow untouched), by exactly one
  winner;
* **release vs refund**: two staff processes resolve the same dispute, one
  releasing, one refunding: exactly one resolution, the money follows it;
* **double pay**: every process pays the same pending orders with the same
  idempotency key: one payment per order, escrow funded once, nothing credited
  twice;
* **double webhook**: a charge left ``pending`` is settled by its gateway's
  signed webhook, delivered by every process at once under the same event id,
  again under other event ids, plus a late ``charge.failed``: the payment is
  captured once, escrow funded once, one ``payment.succeeded``;
* **one wallet, many orders**: processes pay different orders from one
  buyer's balance (``gateway="balance"``); only what the balance covers
  succeeds, the rest is ``InsufficientFunds``, the balance never goes negative;
* **double withdrawal**: processes withdraw from one seller's available
  balance, each amount fits alone but together they exceed it: what the
  balance covers is held, the rest is ``InsufficientFunds``; another
  seller's withdrawal sent by every process with one idempotency key is one
  payout; and staff confirm and fail that seller's earlier payout at once:
  it is paid (net to the method, fee to the platform) or returned, not both;
* **two bids accepted**: on open projects, every process accepts a bid (a
  different one, or the same twice) and pays the order it got: one bid
  accepted per project, one order placed and funded, the rest
  ``InvalidTransition``.

Afterwards: ``verify()`` clean, no balance negative, every order's history
has each transition once, no event duplicated.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
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
from microkit import Actor, Money
from microkit.clock import FrozenClock
from microkit.escrow import ledger
from microkit.payments.builtin import SandboxGateway

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
#: When the orders racing accept against cancel are delivered: their auto-completion
#: (``auto_complete_days``) is due before the races run.
DELIVERED_AT = START + dt.timedelta(days=26)
#: When the races run: past every start window of the orders paid at START.
RACE_AT = START + dt.timedelta(days=30)
PROCESSES = 4
N_START_CANCEL = 8
N_ACCEPT_CANCEL = 6
N_DISPUTE = 4
N_DOUBLE_PAY = 4
N_WEBHOOK = 4
N_WALLET = 8
WALLET_COVERS = 3  # orders the rich buyer's balance pays for
N_PROJECTS = 3
#: Each bidder's price on every project (USD): the amount tells whose bid won.
BIDDERS = {"omar": "20", "sami": "25", "hadi": "30"}
#: sami's cleared earnings (orders of 10 USD, 8 to him) and his withdrawals, 10 USD each.
SAMI_ORDERS, WITHDRAWALS_EACH = 3, 2
#: hadi's cleared earnings, the payout staff settle in the race, and the one withdrawal
#: every process asks for with one key.
HADI_ORDERS, HADI_SETTLED, HADI_WITHDRAWS = 3, "10", "10"
IBAN = "LY83002048000020100120361"

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

#: One command for a worker: ``[command, subject, actor, extra]``.
Task = list[str]
#: What came of it: ``[command, subject, "ok" or the error's type name, detail]``.
Outcome = list[str]


def config() -> mk.MarketConfig:
    return mk.MarketConfig.khamsat()


def open_market(url: str, when: dt.datetime) -> mk.Marketplace:
    return mk.Marketplace.open(url, config=config(), clock=FrozenClock(when),
                               load_entry_points=False)


def usd(amount: str) -> Money:
    return Money.of(amount, "USD")


# -- the worker processes ----------------------------------------------------------------


def run_task(market: mk.Marketplace, task: Task) -> list[Outcome]:
    """Run one task; a compound task (ask then agree, accept then pay) reports each step."""
    command, subject, user, extra = task
    by = (Actor.staff(user) if command.startswith(("resolve_", "payout_"))
          else Actor.user(user) if user else Actor.system())

    def attempt(name: str, call: Any) -> tuple[bool, Any]:
        try:
            result = call()
        except mk.MicrokitError as exc:
            out.append([name, subject, type(exc).__name__, str(exc)])
            return False, None
        return True, result

    out: list[Outcome] = []
    if command == "start":
        ok, _ = attempt(command, lambda: market.orders.start(subject, by=by))
    elif command == "cancel":
        ok, _ = attempt(command, lambda: market.orders.cancel(subject, by=by, reason="race"))
    elif command == "accept":
        ok, _ = attempt(command, lambda: market.orders.accept(subject, by=by))
    elif command == "mutual_cancel":  # the seller asks, the buyer (``extra``) agrees
        ok, _ = attempt("request_cancellation", lambda: market.orders.request_cancellation(
            subject, by=by, reason="race"))
        if ok:
            out.append(["request_cancellation", subject, "ok", ""])
            command = "accept_cancellation"
            ok, _ = attempt(command, lambda: market.orders.accept_cancellation(
                subject, by=Actor.user(extra)))
    elif command == "open_dispute":
        ok, _ = attempt(command, lambda: market.orders.open_dispute(subject, by=by,
                                                                    reason="race"))
    elif command in ("resolve_release", "resolve_refund"):
        outcome = command.removeprefix("resolve_")
        ok, _ = attempt(command, lambda: market.orders.resolve_dispute(
            subject, by=by, outcome=outcome, resolution="race"))  # type: ignore[arg-type]
    elif command == "payout_confirm":
        ok, _ = attempt(command, lambda: market.payouts.confirm(subject, by=by,
                                                                reference="BANK-1"))
    elif command == "payout_fail":
        ok, _ = attempt(command, lambda: market.payouts.fail(subject, by=by, reason="race"))
    elif command == "tick":
        ok, summary = attempt(command, market.tick)
        if ok:
            out.append([command, "", "ok", json.dumps(dict(summary.ran))])
        return out
    elif command == "webhook":
        headers, body = json.loads(extra)
        ok, result = attempt(command, lambda: market.payments.handle_webhook(
            "sandbox", headers, body.encode()))
        if ok:
            out.append([command, subject, "ok",
                        f"{result.event_id} {result.outcome} {result.subject}"])
        return out
    elif command == "withdraw":
        amount, key = extra.split(":", 1)
        ok, payout = attempt(command, lambda: market.payouts.request(
            usd(amount), by=by, method="manual_bank", destination=IBAN,
            idempotency_key=key or None))
        if ok:
            out.append([command, subject, "ok", payout.id])
        return out
    elif command == "edit_bid":
        ok, _ = attempt(command, lambda: market.projects.edit_bid(subject, by=by,
                                                                  amount=usd(extra)))
    elif command == "accept_bid":  # then pay the order it placed
        ok, order = attempt(command, lambda: market.projects.accept_bid(subject, by=by))
        if ok:
            out.append([command, subject, "ok", order.id])
            ok, payment = attempt("pay_bid", lambda: market.payments.pay(
                order.id, by=by, gateway="sandbox", idempotency_key=f"bid-{order.id}"))
            if ok:
                out.append(["pay_bid", subject, "ok", payment.id])
        return out
    elif command == "pay_pending":  # the sandbox answers 'pending': its webhook settles it
        gateway = market.payments.gateway("sandbox")
        assert isinstance(gateway, SandboxGateway)
        gateway.outcome = "pending"
        ok, payment = attempt(command, lambda: market.payments.pay(
            subject, by=by, gateway="sandbox", idempotency_key=extra))
        if ok:
            out.append([command, subject, "ok", f"{payment.id} {payment.reference}"])
        return out
    else:  # pay through the gateway named by the command
        ok, payment = attempt(command, lambda: market.payments.pay(
            subject, by=by, gateway=command, idempotency_key=extra))
        if ok:
            out.append([command, subject, "ok", payment.id])
        return out
    if ok:
        out.append([command, subject, "ok", ""])
    return out


def worker(url: str, tasks: list[Task], ready: Barrier, results: Queue[Any]) -> None:
    """A forked process: open the market, wait at the start line, run, report outcomes."""
    try:
        market = open_market(url, RACE_AT)
        market.events.read(limit=1)  # connect before the start line
        ready.wait(timeout=60)
        outcomes: list[Outcome] = []
        pause = random.Random(os.getpid())
        for task in tasks:
            if task[0] == "sync":  # lockstep: every process starts its next command together
                ready.wait(timeout=60)
                continue
            # A breath between commands: SQLite's waiting writers get their turn too.
            time.sleep(pause.random() * 0.002)
            outcomes += run_task(market, task)
        market.close()
        results.put(outcomes)
    except BaseException as exc:  # reported, so the parent fails with the reason
        results.put([["crash", "", type(exc).__name__, repr(exc)]])


def run_workers(url: str, jobs: list[list[Task]]) -> list[Outcome]:
    """Fork one process per job (microkit is imported already: no start-up cost), release
    them together at a barrier, collect every outcome."""
    ctx = mp.get_context("fork")
    ready = ctx.Barrier(len(jobs))
    results: Queue[Any] = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(url, tasks, ready, results)) for tasks in jobs]
    for proc in procs:
        proc.start()
    try:
        outcomes: list[Outcome] = []
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


# -- the world the races run in -------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def race_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/race.db"
        return
    with _pg.fresh_schema_url(_pg.require_postgres()) as url:
        yield url


def setup(url: str) -> dict[str, Any]:
    """Users, 10 USD services, and the orders, payments, balances and projects of the races."""
    clock = FrozenClock(START)
    market = mk.Marketplace.open(url, config=config(), clock=clock, load_entry_points=False)
    staff, amal, rich = Actor.staff("ops"), Actor.user("amal"), Actor.user("rich")
    omar, sami, hadi = Actor.user("omar"), Actor.user("sami"), Actor.user("hadi")
    for user in ("amal", "omar", "rich", "sami", "hadi", "nadia"):
        market.users.register(user, display_name=user)
    market.catalog.add_category("design", names={"en": "Design"}, by=staff)

    def service(seller: Actor) -> str:
        svc = market.catalog.create_service(
            by=seller, category="design", title="logo", description="a logo",
            price=usd("10"), delivery_days=2,
        )
        market.catalog.approve(svc.id, by=staff)
        return svc.id

    services = {seller.id: service(seller) for seller in (omar, sami, hadi)}

    def paid(buyer: Actor, seller: Actor = omar) -> str:
        order = market.orders.place(services[seller.id], by=buyer)
        market.payments.pay(order.id, by=buyer, gateway="sandbox", idempotency_key=f"s-{order.id}")
        return order.id

    def delivered(seller: Actor = omar) -> str:
        oid = paid(amal, seller)
        market.orders.start(oid, by=seller)
        market.orders.deliver(oid, by=seller, message="done")
        return oid

    start_cancel = [paid(amal) for _ in range(N_START_CANCEL)]
    # Earnings for the withdrawals: accepted now, cleared by the tick below.
    for seller, n in ((sami, SAMI_ORDERS), (hadi, HADI_ORDERS)):
        for _ in range(n):
            market.orders.accept(delivered(seller), by=amal)

    clock.set(DELIVERED_AT)
    market.tick()
    share = market.orders.get(start_cancel[0]).seller_share
    assert market.ledger.balance("sami").available == share * SAMI_ORDERS
    assert market.ledger.balance("hadi").available == share * HADI_ORDERS
    settle = market.payouts.request(usd(HADI_SETTLED), by=hadi, method="manual_bank",
                                    destination=IBAN)
    assert settle.state == "sent"
    accept_cancel = [delivered() for _ in range(N_ACCEPT_CANCEL)]
    dispute = []
    for _ in range(N_DISPUTE):
        dispute.append(delivered())
        market.orders.open_dispute(dispute[-1], by=amal, reason="not what I asked")

    clock.set(RACE_AT)
    # Fund the rich buyer's wallet: orders cancelled by the seller refund to the balance.
    for _ in range(WALLET_COVERS):
        market.orders.cancel(paid(rich), by=omar, reason="fund the wallet")
    double_pay = [market.orders.place(services["omar"], by=amal).id for _ in range(N_DOUBLE_PAY)]
    wallet = [market.orders.place(services["omar"], by=rich).id for _ in range(N_WALLET)]
    total = market.orders.get(wallet[0]).total
    assert market.ledger.balance("rich").available == total * WALLET_COVERS

    # Charges the gateway leaves pending; their webhooks, signed now, settle them.
    gateway = market.payments.gateway("sandbox")
    assert isinstance(gateway, SandboxGateway)
    gateway.outcome = "pending"
    webhooks: dict[str, dict[str, str]] = {}
    for _ in range(N_WEBHOOK):
        oid = market.orders.place(services["omar"], by=amal).id
        payment = market.payments.pay(oid, by=amal, gateway="sandbox",
                                      idempotency_key=f"wh-{oid}")
        assert payment.state == "pending" and payment.reference is not None
        # Deliveries: one event id sent by every process, one id per process, a late failure.
        events = {"same": ("charge.succeeded", f"ev-{oid}"),
                  "failed": ("charge.failed", f"ev-{oid}-failed")}
        events.update({str(p): ("charge.succeeded", f"ev-{oid}-{p}") for p in range(PROCESSES)})
        webhooks[oid] = {}
        for name, (kind, event_id) in events.items():
            headers, body = gateway.webhook(payment.reference, kind, event_id=event_id)
            webhooks[oid][name] = json.dumps([headers, body.decode()])
    gateway.outcome = "succeeded"

    projects: dict[str, dict[str, str]] = {}  # project -> bidder -> bid
    for i in range(N_PROJECTS):
        project = market.projects.post(
            by=Actor.user("nadia"), title=f"project {i}", description="a site", category="design",
            budget_min=usd("10"), budget_max=usd("50"), duration_days=5)
        projects[project.id] = {
            who: market.projects.bid(project.id, by=Actor.user(who), amount=usd(price), days=3,
                                     proposal="I can").id
            for who, price in BIDDERS.items()
        }
    world = {
        "start_cancel": start_cancel, "accept_cancel": accept_cancel, "dispute": dispute,
        "double_pay": double_pay, "webhook": webhooks, "wallet": wallet, "total": total,
        "projects": projects, "settle": settle.id,
        "commission": market.ledger.account_balance(ledger.PLATFORM_COMMISSION),
        "omar_pending": market.ledger.balance("omar").pending,
    }
    market.close()
    return world


# -- the test ------------------------------------------------------------------------------


def jobs_for(world: dict[str, Any], seed: int) -> list[list[Task]]:
    """Each process's commands. Every contested subject is a slot; all processes take the
    slots in one shuffled order, so a race's contenders fire at about the same moment."""
    bidders = list(BIDDERS)
    slots: list[list[list[Task]]] = []  # slot -> process -> its tasks there

    def slot(make: Any) -> None:
        slots.append([make(p) for p in range(PROCESSES)])

    for oid in world["start_cancel"]:
        slot(lambda p, oid=oid: [["start", oid, "omar", ""] if p % 2
                                 else ["cancel", oid, "amal", ""]])
    for oid in world["accept_cancel"]:
        slot(lambda p, oid=oid: [[["accept", oid, "amal", ""],
                                  ["mutual_cancel", oid, "omar", "amal"],
                                  ["accept", oid, "amal", ""],
                                  ["open_dispute", oid, "omar", ""]][p % 4]])
    # Two schedulers: the auto-completion of those orders is due.
    slot(lambda p: [["tick", "", "", ""]] if p < 2 else [])
    for oid in world["dispute"]:
        slot(lambda p, oid=oid: [["resolve_refund" if p % 2 else "resolve_release", oid,
                                  f"ops{p}", ""]])
    for oid in world["double_pay"]:
        slot(lambda p, oid=oid: [["sandbox", oid, "amal", f"k-{oid}"]])
    for oid, hooks in world["webhook"].items():
        slot(lambda p, oid=oid, hooks=hooks: [
            ["webhook", oid, "", hooks["same"]], ["webhook", oid, "", hooks[str(p)]],
            *([["webhook", oid, "", hooks["failed"]]] if p == 0 else [])])
    for i, oid in enumerate(world["wallet"]):
        slot(lambda p, i=i, oid=oid: [["balance", oid, "rich", f"w-{oid}"]]
             if i % PROCESSES == p else [])
    for i in range(WITHDRAWALS_EACH):  # keyed and unkeyed withdrawals, 10 USD each
        slot(lambda p, i=i: [["withdraw", "sami", "sami", f"10:sami-{p}" if i == 0 else "10:"]])
    slot(lambda p: [["withdraw", "hadi", "hadi", f"{HADI_WITHDRAWS}:hadi-once"]])
    slot(lambda p: [["payout_fail" if p % 2 else "payout_confirm", world["settle"],
                     f"ops{p}", ""]])
    for j, bids in enumerate(world["projects"].values()):
        # A different bid each, but with more processes than bids one is accepted twice;
        # and the seller of the bid process 1 accepts raises it.
        edited = bidders[(1 + j) % len(bidders)]
        slot(lambda p, j=j, bids=bids, edited=edited: [
            ["accept_bid", bids[bidders[(p + j) % len(bidders)]], "nadia", ""],
            *([["edit_bid", bids[edited], edited, str(int(BIDDERS[edited]) + 5)]]
              if p == PROCESSES - 1 else [])])

    rnd = random.Random(seed)
    rnd.shuffle(slots)
    jobs: list[list[Task]] = [[] for _ in range(PROCESSES)]
    for tasks_of in slots:
        for p, tasks in enumerate(tasks_of):
            rnd.shuffle(tasks)
            jobs[p] += tasks
    return jobs


def test_processes_racing_over_orders_and_wallets(race_url: str) -> None:
    world = setup(race_url)
    # The slots' order changes from run to run; set MICROKIT_RACE_SEED to replay one.
    seed = int(os.environ.get("MICROKIT_RACE_SEED") or random.randrange(1 << 32))
    print(f"MICROKIT_RACE_SEED={seed}")
    outcomes = run_workers(race_url, jobs_for(world, seed))

    by_race: dict[str, list[tuple[str, str, str]]] = collections.defaultdict(list)
    for command, subject, result, detail in outcomes:
        by_race[subject].append((command, result, detail))
    # The typed refusals: a short balance for what spends one, a state moved on for the rest.
    spends = ("balance", "withdraw")
    refused = [o for o in outcomes if o[2] != "ok" and o[2] != (
        "InsufficientFunds" if o[0] in spends else "InvalidTransition")]
    assert not refused, refused

    market = open_market(race_url, RACE_AT)
    try:
        total = world["total"]
        events = market.events.read(after=0, limit=10_000)
        per_subject = collections.Counter((e.name, e.subject) for e in events)
        refunded = released = 0

        def escrow(oid: str) -> Money:
            return market.ledger.account_balance(ledger.escrow(oid))

        def transitions(oid: str) -> list[str]:
            return [e.data.get("transition", e.name) for e in market.orders.history(oid)]

        # start vs cancel: exactly one winner per order; the state and money follow it.
        for oid in world["start_cancel"]:
            winners = [c for c, r, _ in by_race[oid] if r == "ok"]
            assert len(winners) == 1, (oid, by_race[oid])
            order = market.orders.get(oid)
            if winners == ["start"]:
                assert order.state == "in_progress" and escrow(oid) == total
            else:
                assert order.state == "cancelled" and escrow(oid).amount == 0
                refunded += 1

        # accept vs cancel vs dispute (and the auto-completion timer): one way out of
        # 'delivered'. A dispute may still follow a cancellation request nobody agreed to.
        ticks = [json.loads(d) for c, r, d in by_race[""] if c == "tick"]
        assert len(ticks) == 2, by_race[""]
        auto_completed = 0
        ways_out: collections.Counter[str] = collections.Counter()
        for oid in world["accept_cancel"]:
            results = by_race[oid]
            agreed = [c for c, _, _ in results if c == "accept_cancellation"]
            assert len(results) == PROCESSES + len(agreed), results
            won = sorted(c for c, r, _ in results if r == "ok")
            order, history = market.orders.get(oid), transitions(oid)
            assert "accept" not in history or "auto_complete" not in history, history
            ways_out[order.state] += 1
            if order.state == "completed":
                assert won in (["accept"], []), (oid, results)
                assert ("accept" in history) == bool(won), history
                assert ("auto_complete" in history) != bool(won), history
                assert escrow(oid).amount == 0 and order.seller_earned is not None
                auto_completed += not won
                released += 1
            elif order.state == "cancelled":
                assert won == ["accept_cancellation", "request_cancellation"], (oid, results)
                assert escrow(oid).amount == 0 and order.refunded == total
                refunded += 1
            else:
                assert order.state == "disputed", (oid, order.state)
                assert won in (["open_dispute"], ["open_dispute", "request_cancellation"]), (
                    oid, results)
                assert escrow(oid) == total, history
            assert ("request_cancellation" in won) == ("request_cancellation" in history)
        assert sum(ways_out.values()) == N_ACCEPT_CANCEL
        assert sum(t.get("auto_complete", 0) for t in ticks) == auto_completed, ticks

        # release vs refund: one resolution per dispute.
        for oid in world["dispute"]:
            won = [c for c, r, _ in by_race[oid] if r == "ok"]
            assert len(won) == 1 and len(by_race[oid]) == PROCESSES, (oid, by_race[oid])
            order = market.orders.get(oid)
            assert escrow(oid).amount == 0
            if won == ["resolve_release"]:
                assert order.state == "completed" and order.seller_earned is not None
                released += 1
            else:
                assert order.state == "cancelled" and order.refunded == total
                refunded += 1
            assert per_subject[("order.dispute_resolved", f"order:{oid}")] == 1

        # Money follows the winners: the seller's pending earnings, commission, refunds.
        sample = market.orders.get(world["dispute"][0])
        assert market.ledger.balance("omar").pending == (
            world["omar_pending"] + sample.seller_share * released)
        assert market.ledger.account_balance(ledger.PLATFORM_COMMISSION) == (
            world["commission"] + (total - sample.seller_share) * released)
        # amal's balance holds the refunds of the cancelled races, and nothing else.
        assert market.ledger.balance("amal").available == total * refunded

        # double pay: every caller got the one payment; escrow funded once.
        for oid in world["double_pay"]:
            results = by_race[oid]
            assert [r for _, r, _ in results] == ["ok"] * PROCESSES, results
            assert len({d for _, _, d in results}) == 1, results
            assert market.orders.get(oid).state == "paid"
            assert escrow(oid) == total

        # double webhook: every delivery answered; the charge captured by exactly one.
        seen_hooks = collections.Counter(
            e.data["event_id"] for e in events if e.name.startswith("webhook."))
        assert all(n == 1 for n in seen_hooks.values()), seen_hooks
        for oid in world["webhook"]:
            results = [d.split() for c, r, d in by_race[oid] if c == "webhook" and r == "ok"]
            assert len(results) == len(by_race[oid]) == 2 * PROCESSES + 1, by_race[oid]
            # The id every process sends is processed by the first delivery only.
            same = collections.Counter(o for e, o, _ in results if e == f"ev-{oid}")
            assert same["duplicate"] == PROCESSES - 1, results
            assert same["applied"] + same["ignored"] == 1, results
            # The other ids come once each: they apply, or find nothing left to do.
            assert {o for e, o, _ in results if e != f"ev-{oid}"} <= {"applied", "ignored"}
            captured = [e for e, o, _ in results
                        if o == "applied" and e != f"ev-{oid}-failed"]
            assert len(captured) == 1, results
            subjects = {s for _, o, s in results if o != "duplicate"}
            assert len(subjects) == 1, results
            subject = subjects.pop()
            payment = market.payments.get(subject.removeprefix("payment:"))
            assert payment.state == "succeeded" and payment.order_ids == (oid,)
            assert per_subject[("payment.succeeded", subject)] == 1
            assert market.orders.get(oid).state == "paid"
            assert escrow(oid) == total
            # Each distinct event id processed (recorded) once.
            assert sum(seen_hooks[e] for e in {e for e, _, _ in results}) == PROCESSES + 2

        # one wallet: what the balance covers succeeds, the rest is refused.
        results = [r for oid in world["wallet"] for _, r, _ in by_race[oid]]
        assert sorted(results) == sorted(
            ["ok"] * WALLET_COVERS + ["InsufficientFunds"] * (N_WALLET - WALLET_COVERS))
        assert market.ledger.balance("rich").available.amount == 0
        paid_states = [market.orders.get(o).state for o in world["wallet"]]
        assert paid_states.count("paid") == WALLET_COVERS

        # double withdrawal: the balance covers two of sami's eight; hadi's key is one payout.
        earned = sample.seller_share * SAMI_ORDERS
        covers = earned.amount // usd("10").amount
        sami = by_race["sami"]
        assert len(sami) == PROCESSES * WITHDRAWALS_EACH
        assert sorted(r for _, r, _ in sami) == sorted(
            ["InsufficientFunds"] * (len(sami) - covers) + ["ok"] * covers), sami
        held = {d for _, r, d in sami if r == "ok"}
        assert {p.id for p in market.payouts.of("sami")} == held and len(held) == covers
        assert market.ledger.balance("sami").available == earned - usd("10") * covers
        hadi = by_race["hadi"]
        assert [r for _, r, _ in hadi] == ["ok"] * PROCESSES, hadi
        assert len({d for _, _, d in hadi}) == 1
        assert {p.id for p in market.payouts.of("hadi")} == {hadi[0][2], world["settle"]}
        for payout in [*market.payouts.of("sami"), market.payouts.get(hadi[0][2])]:
            assert payout.state == "sent", payout
            assert market.ledger.account_balance(ledger.payout(payout.id)) == payout.amount
        for payout in [*market.payouts.of("sami"), *market.payouts.of("hadi")]:
            assert per_subject[("payout.requested", f"payout:{payout.id}")] == 1
            assert per_subject[("payout.sent", f"payout:{payout.id}")] == 1
        # confirm vs fail: the earlier payout is paid or returned, by exactly one of them.
        settle = by_race[world["settle"]]
        won = [c for c, r, _ in settle if r == "ok"]
        assert len(won) == 1 and len(settle) == PROCESSES, settle
        payout = market.payouts.get(world["settle"])
        assert market.ledger.account_balance(ledger.payout(payout.id)).amount == 0
        paid_out = market.ledger.account_balance("payout_method:manual_bank")
        returned = usd("0")
        if won == ["payout_confirm"]:
            assert payout.state == "paid" and paid_out == payout.net
            assert market.ledger.account_balance("platform:payout_fees") == payout.fee
        else:
            assert payout.state == "returned" and paid_out.amount == 0
            returned = payout.amount
        assert per_subject[(f"payout.{payout.state}", f"payout:{payout.id}")] == 1
        assert market.ledger.balance("hadi").available == (
            sample.seller_share * HADI_ORDERS - usd(HADI_SETTLED) - usd(HADI_WITHDRAWS)
            + returned)

        # two bids accepted: one per project, one order placed and funded at the amount the
        # bid had when accepted (a seller's edit lands before the accept, or is refused).
        project_orders = []
        for project_id, bids in world["projects"].items():
            results = [(c, r, d, bid) for bid in bids.values() for c, r, d in by_race[bid]]
            accepted = [(d, bid) for c, r, d, bid in results if c == "accept_bid" and r == "ok"]
            assert len(accepted) == 1, results
            assert [r for c, r, _, _ in results if c == "pay_bid"] == ["ok"], results
            assert sorted(r for c, r, _, _ in results if c == "accept_bid") == (
                ["InvalidTransition"] * (PROCESSES - 1) + ["ok"]), results
            order_id, bid_id = accepted[0]
            project = market.projects.get(project_id)
            assert (project.state, project.awarded_bid_id, project.order_id) == (
                "awarded", bid_id, order_id)
            nadia = Actor.user("nadia")
            states = {b.id: b.state for b in market.projects.bids(project_id, by=nadia)}
            assert states == {b: "accepted" if b == bid_id else "closed" for b in bids.values()}
            edits = [(bid, r) for c, r, _, bid in results if c == "edit_bid"]
            assert len(edits) == 1, results
            amounts = {bid: market.projects.get_bid(bid, by=Actor.user(who)).amount
                       for who, bid in bids.items()}
            for who, bid in bids.items():
                raised = edits[0] == (bid, "ok")
                assert amounts[bid] == usd(str(int(BIDDERS[who]) + 5 * raised)), (who, results)
            price = amounts[bid_id]
            order = market.orders.get(order_id)
            assert (order.state, order.total) == ("paid", price)
            assert escrow(order_id) == price
            assert per_subject[("project.awarded", f"project:{project_id}")] == 1
            assert sum(n for (name, subject), n in per_subject.items()
                       if name == "bid.accepted" and subject == f"project:{project_id}") == 1
            project_orders.append(order_id)
        mine = market.orders.list(by=Actor.user("nadia"), role="buyer", limit=50).items
        assert sorted(o.id for o in mine) == sorted(project_orders)

        report = market.ledger.verify()
        assert report.ok, report.problems
        with market.storage.read() as tx:
            balances = tx.all_balances()
            journal = list(tx.journal())
        negative = {a: b for a, b in balances.items() if b < 0 and not ledger.may_go_negative(a)}
        assert negative == {}
        twice = [t for t, _, _ in journal if t.endswith(":unapplied")]
        assert not twice, f"a charge was credited twice: {twice}"

        seqs = [e.seq for e in events]
        assert seqs == sorted(set(seqs))
        for oid in (world["start_cancel"] + world["accept_cancel"] + world["dispute"]
                    + world["double_pay"] + list(world["webhook"]) + world["wallet"]
                    + project_orders):
            names = transitions(oid)
            assert len(names) == len(set(names)), (oid, names)
        paid_events = collections.Counter(
            e.subject for e in events if e.name == "payment.succeeded")
        assert all(n == 1 for n in paid_events.values()), paid_events
    finally:
        market.close()


#: Orders whose webhook races the ``pay`` call recording the charge it settles.
N_EARLY_WEBHOOK = 12


def test_webhook_racing_the_pay_call_it_settles(race_url: str) -> None:
    """The gateway's webhook arrives while ``pay`` is still recording the pending charge.

    One process pays orders one by one (the sandbox answers ``pending``); in lockstep,
    two others deliver each charge's ``charge.succeeded`` (one event id). Whichever
    commits first, the other must see it: the charge is captured exactly once, never
    left pending with its webhook filed as ``unmatched``.
    """
    clock = FrozenClock(RACE_AT)
    market = mk.Marketplace.open(race_url, config=config(), clock=clock,
                                 load_entry_points=False)
    for user in ("amal", "omar"):
        market.users.register(user, display_name=user)
    market.catalog.add_category("design", names={"en": "Design"}, by=Actor.staff("ops"))
    svc = market.catalog.create_service(by=Actor.user("omar"), category="design",
                                        title="logo", description="a logo", price=usd("10"),
                                        delivery_days=2)
    market.catalog.approve(svc.id, by=Actor.staff("ops"))
    orders = [market.orders.place(svc.id, by=Actor.user("amal")).id
              for _ in range(N_EARLY_WEBHOOK)]
    signer = market.payments.gateway("sandbox")
    assert isinstance(signer, SandboxGateway)
    jobs: list[list[Task]] = [[], [], []]
    for i, oid in enumerate(orders, 1):
        # The payer's sandbox numbers its charges: the i-th is "sbx_ch_{i}".
        headers, body = signer.webhook(f"sbx_ch_{i}", event_id=f"ev-{i}")
        hook = json.dumps([headers, body.decode()])
        jobs[0] += [["sync", "", "", ""], ["pay_pending", oid, "amal", f"early-{oid}"]]
        for job in jobs[1:]:
            job += [["sync", "", "", ""], ["webhook", oid, "", hook]]
    total = market.orders.get(orders[0]).total
    market.close()

    outcomes = run_workers(race_url, jobs)
    assert {r for _, _, r, _ in outcomes} == {"ok"}, outcomes
    by_order: dict[str, list[tuple[str, str]]] = collections.defaultdict(list)
    for command, oid, _, detail in outcomes:
        by_order[oid].append((command, detail))

    market = open_market(race_url, RACE_AT)
    try:
        events = market.events.read(after=0, limit=10_000)
        succeeded = collections.Counter(e.subject for e in events
                                        if e.name == "payment.succeeded")
        for i, oid in enumerate(orders, 1):
            paid = [d.split() for c, d in by_order[oid] if c == "pay_pending"]
            assert len(paid) == 1 and paid[0][1] == f"sbx_ch_{i}", by_order[oid]
            hooks = collections.Counter(d.split()[1] for c, d in by_order[oid]
                                        if c == "webhook")
            assert hooks["duplicate"] == 1 and hooks["applied"] + hooks["unmatched"] == 1, hooks
            payment = market.payments.get(paid[0][0])
            assert payment.state == "succeeded", (oid, payment, hooks)
            assert market.orders.get(oid).state == "paid"
            assert market.ledger.account_balance(ledger.escrow(oid)) == total
            assert succeeded[f"payment:{payment.id}"] == 1
        report = market.ledger.verify()
        assert report.ok, report.problems
    finally:
        market.close()
