"""Random command sequences against a small reference model, invariants after every step.

In the manner of TigerBeetle's VOPR: hypothesis drives place / pay (sandbox or
balance, with retries) / start / deliver / request_revision / accept / cancel
and clock jumps with ``tick`` over several orders. A reference model predicts
each outcome (success or the typed error), every order's state and every
user's balances; after each step the ledger must verify, no user account may
be negative, and each order's escrow must hold its total exactly while it is
paid, in progress or delivered, and nothing otherwise.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import microkit as mk
from microkit import Actor, Money
from microkit.clock import FrozenClock

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
BUYERS = ("amal", "huda")
SELLER = "omar"
HELD = {"paid", "in_progress", "delivered"}
JUMPS = [dt.timedelta(hours=h) for h in (0, 1, 6, 23, 24, 72, 72, 24 * 14)]


@dataclass
class ModelOrder:
    buyer: str
    total: int
    share: int
    commission: int
    days: int
    placed_at: dt.datetime
    state: str = "pending_payment"
    paid_at: dt.datetime | None = None
    due_at: dt.datetime | None = None
    delivered_at: dt.datetime | None = None
    #: (gateway, idempotency key) of the payment that paid it.
    payment: tuple[str, str] | None = None


@dataclass
class Model:
    orders: dict[str, ModelOrder] = field(default_factory=dict)
    available: dict[str, int] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)
    commission: int = 0
    #: (due, amount) of earnings waiting for clearance.
    clearances: list[tuple[dt.datetime, int]] = field(default_factory=list)

    def add(self, book: dict[str, int], user: str, amount: int) -> None:
        book[user] = book.get(user, 0) + amount


class MarketMachine(RuleBasedStateMachine):
    """The market under test next to its reference model."""

    backend = "memory"

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.mkdtemp(prefix="microkit-props-")
        url = "memory://" if self.backend == "memory" else f"sqlite:///{self.tmp}/m.db"
        self.clock = FrozenClock(START)
        self.market = mk.Marketplace.open(url, config=mk.MarketConfig.khamsat(),
                                          clock=self.clock, load_entry_points=False)
        self.config = self.market.config
        staff = Actor.staff("ops")
        for user in (*BUYERS, SELLER):
            self.market.users.register(user, display_name=user.title())
        self.market.catalog.add_category("design", names={"en": "Design"}, by=staff)
        svc = self.market.catalog.create_service(
            by=Actor.user(SELLER), category="design", title="Logo", description="A logo",
            price=Money.of("5", "USD"), delivery_days=2,
            upgrades=[mk.UpgradeSpec(title="Fast", price=Money.of("5", "USD"), extra_days=-1)],
        )
        self.service = self.market.catalog.approve(svc.id, by=staff)
        self.model = Model()
        self.keys = 0

    def teardown(self) -> None:
        self.market.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- helpers ---------------------------------------------------------------------

    def expect(self, error: type[Exception] | None, call: Callable[[], Any]) -> Any:
        if error is None:
            return call()
        with pytest.raises(error):
            call()
        return None

    def transition(
        self, order_id: str, command: str, allowed: dict[str, str], actor: str, **kw: Any
    ) -> bool:
        """Run a human command; ``allowed`` maps from-state to to-state. True if it ran."""
        order = self.model.orders[order_id]
        if order.state not in allowed:
            with pytest.raises(mk.InvalidTransition) as err:
                getattr(self.market.orders, command)(order_id, by=Actor.user(actor), **kw)
            assert err.value.state == order.state
            return False
        event(f"{command} ran")
        done = getattr(self.market.orders, command)(order_id, by=Actor.user(actor), **kw)
        order.state = allowed[order.state]
        assert done.state == order.state
        return True

    def pick(self, data: st.DataObject, *states: str) -> str:
        """An order, most often one in ``states`` (where the command can run), else any."""
        ids = sorted(self.model.orders)
        fitting = [i for i in ids if self.model.orders[i].state in states]
        if fitting and data.draw(st.integers(0, 4), label="fitting") > 0:
            return data.draw(st.sampled_from(fitting), label="order")
        return data.draw(st.sampled_from(ids), label="order")

    def has_orders(self) -> bool:
        return bool(self.model.orders)

    # -- rules -----------------------------------------------------------------------

    @rule(buyer=st.sampled_from(BUYERS), upgrade=st.booleans())
    def place(self, buyer: str, upgrade: bool) -> None:
        ups = [self.service.upgrades[0].id] if upgrade else []
        order = self.market.orders.place(self.service.id, by=Actor.user(buyer), upgrades=ups)
        self.model.orders[order.id] = ModelOrder(
            buyer, order.total.amount, order.seller_share.amount, order.commission.amount,
            order.delivery_days, self.clock.now(),
        )
        assert order.total.amount == (1000 if upgrade else 500)
        assert order.seller_share.amount + order.commission.amount == order.total.amount

    @precondition(has_orders)
    @rule(data=st.data(), gateway=st.sampled_from(["sandbox", "balance"]))
    def pay(self, data: st.DataObject, gateway: str) -> None:
        self.pay_with(self.pick(data, "pending_payment"), gateway)

    def pay_with(self, order_id: str, gateway: str) -> None:
        order = self.model.orders[order_id]
        self.keys += 1
        key = f"key-{self.keys}"
        funds = self.model.available.get(order.buyer, 0)
        if order.state != "pending_payment":
            error: type[Exception] | None = mk.InvalidTransition
        elif gateway == "balance" and funds < order.total:
            error = mk.InsufficientFunds
        else:
            error = None
        event(f"pay via {gateway}: {error.__name__ if error else 'paid'}")
        self.expect(error, lambda: self.market.payments.pay(
            order_id, by=Actor.user(order.buyer), gateway=gateway, idempotency_key=key))
        if error is None:
            order.state, order.payment = "paid", (gateway, key)
            order.paid_at = self.clock.now()
            if gateway == "balance":
                self.model.add(self.model.available, order.buyer, -order.total)

    @precondition(has_orders)
    @rule(data=st.data())
    def progress(self, data: st.DataObject) -> None:
        """Move an open order one step along the happy path, so deep states are reached."""
        order_id = self.pick(data, "pending_payment", "paid", "in_progress")
        step = {"pending_payment": lambda: self.pay_with(order_id, "sandbox"),
                "paid": lambda: self.start(order_id),
                "in_progress": lambda: self.deliver(order_id)}
        step.get(self.model.orders[order_id].state, lambda: None)()

    @precondition(has_orders)
    @rule(data=st.data())
    def retry_payment(self, data: st.DataObject) -> None:
        order_id = self.pick(data, *HELD, "completed", "cancelled")
        order = self.model.orders[order_id]
        if order.payment is None:
            return
        gateway, key = order.payment
        payment = self.market.payments.pay(order_id, by=Actor.user(order.buyer),
                                           gateway=gateway, idempotency_key=key)
        assert payment.state == "succeeded" and payment.order_ids == (order_id,)

    @precondition(has_orders)
    @rule(data=st.data())
    def start_any(self, data: st.DataObject) -> None:
        self.start(self.pick(data, "paid"))

    def start(self, order_id: str) -> None:
        if self.transition(order_id, "start", {"paid": "in_progress"}, SELLER):
            order = self.model.orders[order_id]
            order.due_at = self.clock.now() + dt.timedelta(days=order.days)

    @precondition(has_orders)
    @rule(data=st.data())
    def deliver_any(self, data: st.DataObject) -> None:
        self.deliver(self.pick(data, "in_progress"))

    def deliver(self, order_id: str) -> None:
        if self.transition(order_id, "deliver", {"in_progress": "delivered"}, SELLER,
                           message="done"):
            self.model.orders[order_id].delivered_at = self.clock.now()

    @precondition(has_orders)
    @rule(data=st.data())
    def request_revision(self, data: st.DataObject) -> None:
        order_id = self.pick(data, "delivered")
        buyer = self.model.orders[order_id].buyer
        self.transition(order_id, "request_revision", {"delivered": "in_progress"}, buyer,
                        reason="again")

    @precondition(has_orders)
    @rule(data=st.data())
    def accept(self, data: st.DataObject) -> None:
        order_id = self.pick(data, "delivered")
        buyer = self.model.orders[order_id].buyer
        if self.transition(order_id, "accept", {"delivered": "completed"}, buyer):
            self.complete(self.model.orders[order_id])

    @precondition(has_orders)
    @rule(data=st.data(), by_seller=st.booleans())
    def cancel(self, data: st.DataObject, by_seller: bool) -> None:
        order_id = self.pick(data, "pending_payment", "paid", "in_progress")
        order = self.model.orders[order_id]
        if by_seller and order.state == "pending_payment":
            with pytest.raises(mk.PermissionDenied):
                self.market.orders.cancel(order_id, by=Actor.user(SELLER))
            return
        now, refund = self.clock.now(), order.total if order.state in HELD else 0
        if by_seller:  # the seller may decline an order until it is delivered
            allowed = {"paid", "in_progress"}
        else:  # the buyer: unpaid; unstarted after seller_start_days; late with no delivery
            start_window = dt.timedelta(days=self.config.seller_start_days)
            allowed = {"pending_payment"}
            if order.paid_at is not None and now >= order.paid_at + start_window:
                allowed.add("paid")
            if order.due_at is not None and now > order.due_at and order.delivered_at is None:
                allowed.add("in_progress")
        who = SELLER if by_seller else order.buyer
        if self.transition(order_id, "cancel", dict.fromkeys(allowed, "cancelled"), who):
            event(f"cancel {'by seller' if by_seller else 'by buyer'} from {sorted(allowed)}")
            self.model.add(self.model.available, order.buyer, refund)

    @rule(jump=st.sampled_from(JUMPS))
    def tick(self, jump: dt.timedelta) -> None:
        now = self.clock.advance(seconds=jump.total_seconds())
        cleared = [c for c in self.model.clearances if c[0] <= now]
        self.model.clearances = [c for c in self.model.clearances if c[0] > now]
        for _, amount in cleared:
            self.model.add(self.model.pending, SELLER, -amount)
            self.model.add(self.model.available, SELLER, amount)
        expected = {"clear": len(cleared)}
        for order in self.model.orders.values():
            if order.state == "pending_payment" and now >= order.placed_at + \
                    self.config.payment_timeout:
                order.state = "expired"
                expected["expire"] = expected.get("expire", 0) + 1
            elif order.state == "delivered" and order.delivered_at is not None and \
                    now >= order.delivered_at + dt.timedelta(days=self.config.auto_complete_days):
                order.state = "completed"
                self.complete(order)
                expected["auto_complete"] = expected.get("auto_complete", 0) + 1
        event(f"tick ran {sorted(k for k, n in expected.items() if n)}")
        summary = self.market.tick()
        assert summary.ran == {k: n for k, n in expected.items() if n}

    def complete(self, order: ModelOrder) -> None:
        self.model.add(self.model.pending, SELLER, order.share)
        self.model.commission += order.commission
        due = self.clock.now() + dt.timedelta(days=self.config.clearance_days)
        self.model.clearances.append((due, order.share))

    # -- invariants ------------------------------------------------------------------

    @invariant()
    def ledger_verifies(self) -> None:
        report = self.market.ledger.verify()
        assert report.ok, report.problems

    @invariant()
    def user_accounts_are_never_negative(self) -> None:
        with self.market.storage.read() as tx:
            balances = tx.all_balances()
        assert all(v >= 0 for a, v in balances.items() if a.startswith("user:"))

    @invariant()
    def escrow_holds_the_total_exactly_while_the_order_is_open(self) -> None:
        for order_id, order in self.model.orders.items():
            escrow = self.market.ledger.account_balance(f"escrow:order:{order_id}")
            assert escrow.amount == (order.total if order.state in HELD else 0), order.state

    @invariant()
    def orders_and_balances_match_the_model(self) -> None:
        for order_id, order in self.model.orders.items():
            assert self.market.orders.get(order_id).state == order.state
        for user in (*BUYERS, SELLER):
            balance = self.market.ledger.balance(user)
            assert balance.available.amount == self.model.available.get(user, 0), user
            assert balance.pending.amount == self.model.pending.get(user, 0), user
        commission = self.market.ledger.account_balance("platform:commission")
        assert commission.amount == self.model.commission


class SQLiteMarketMachine(MarketMachine):
    backend = "sqlite"


TestMemoryMarket = MarketMachine.TestCase
TestMemoryMarket.settings = settings(max_examples=50, stateful_step_count=50, deadline=None)

TestSQLiteMarket = SQLiteMarketMachine.TestCase
TestSQLiteMarket.settings = settings(max_examples=12, stateful_step_count=30, deadline=None)
