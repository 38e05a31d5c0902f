"""Random order commands and clock jumps over many orders (hypothesis stateful).

After every step: the ledger verifies, no user account is negative, and each
order's escrow equals what was paid into it minus what was released or
refunded out of it — zero once the order is final, the whole total while it
is open.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections import defaultdict

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import microkit as mk
from microkit import Actor, Money
from microkit.clock import FrozenClock

BUYER, SELLER, STAFF = Actor.user("amal"), Actor.user("omar"), Actor.staff("ops")
WHO = {"buyer": BUYER, "seller": SELLER, "staff": STAFF}
HOLDING = {"paid", "awaiting_requirements", "in_progress", "delivered", "disputed",
           "cancellation_requested"}
EXPECTED = (mk.PermissionDenied, mk.InvalidTransition, mk.LimitExceeded)
who = st.sampled_from(sorted(WHO))


class OrderMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = FrozenClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        config = mk.MarketConfig.khamsat().evolve(max_revisions=2)
        self.m = mk.Marketplace.open("memory://", config=config, clock=self.clock,
                                     load_entry_points=False)
        self.m.users.register("amal", display_name="A")
        self.m.users.register("omar", display_name="O")
        self.m.catalog.add_category("design", names={"en": "D"}, by=STAFF)
        self.services = [self._service(req) for req in ("", "brief please")]
        self.orders: list[str] = []
        self.keys = 0

    def _service(self, requirements: str) -> str:
        svc = self.m.catalog.create_service(
            by=SELLER, category="design", title="Logo", description="d",
            price=Money.of("10", "USD"), delivery_days=2, requirements=requirements,
            upgrades=[mk.UpgradeSpec(title="fast", price=Money.of("5", "USD"),
                                     extra_days=-1)])
        return self.m.catalog.approve(svc.id, by=STAFF).id

    def _try(self, command: object, *args: object, **kwargs: object) -> None:
        with contextlib.suppress(*EXPECTED):
            command(*args, **kwargs)  # type: ignore[operator]

    def _pick(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from(self.orders), label="order")

    @rule(requirements=st.booleans(), upgrade=st.booleans())
    def place(self, requirements: bool, upgrade: bool) -> None:
        service = self.services[requirements]
        ups = [self.m.catalog.get(service).upgrades[0].id] if upgrade else []
        self.orders.append(self.m.orders.place(service, by=BUYER, upgrades=ups).id)

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), gateway=st.sampled_from(["sandbox", "balance"]))
    def pay(self, data: st.DataObject, gateway: str) -> None:
        self.keys += 1
        try:
            self.m.payments.pay(self._pick(data), by=BUYER, gateway=gateway,
                                idempotency_key=f"k{self.keys}")
        except (*EXPECTED, mk.InsufficientFunds):
            pass

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), command=st.sampled_from([
        "start", "accept", "accept_cancellation", "refuse_cancellation",
        "withdraw_cancellation"]), by=who)
    def simple(self, data: st.DataObject, command: str, by: str) -> None:
        self._try(getattr(self.m.orders, command), self._pick(data), by=WHO[by])

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), by=who)
    def deliver(self, data: st.DataObject, by: str) -> None:
        self._try(self.m.orders.deliver, self._pick(data), by=WHO[by], message="here")

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), by=who)
    def requirements(self, data: st.DataObject, by: str) -> None:
        self._try(self.m.orders.submit_requirements, self._pick(data), by=WHO[by], text="b")

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), command=st.sampled_from([
        "request_revision", "cancel", "request_cancellation", "open_dispute"]), by=who)
    def with_reason(self, data: st.DataObject, command: str, by: str) -> None:
        self._try(getattr(self.m.orders, command), self._pick(data), by=WHO[by], reason="r")

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), outcome=st.sampled_from(["release", "refund", "split"]),
          cents=st.integers(1, 999))
    def resolve(self, data: st.DataObject, outcome: str, cents: int) -> None:
        order = self.m.orders.get(self._pick(data))
        part = Money(min(cents, order.subtotal.amount - 1), "USD") if outcome == "split" else None
        self._try(self.m.orders.resolve_dispute, order.id, by=STAFF, outcome=outcome,
                  resolution="decided", seller_part=part)

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), by=st.sampled_from(["buyer", "seller"]))
    def message(self, data: st.DataObject, by: str) -> None:
        self.m.messages.send(f"order:{self._pick(data)}", by=WHO[by], body="hello")

    @rule(hours=st.sampled_from([1, 12, 49, 24 * 3, 24 * 15]))
    def time_passes(self, hours: int) -> None:
        self.clock.advance(hours=hours)
        self.m.tick()

    @invariant()
    def ledger_verifies(self) -> None:
        report = self.m.ledger.verify()
        assert report.ok, report.problems

    @invariant()
    def escrow_is_paid_minus_released_and_refunded(self) -> None:
        flows: dict[str, int] = defaultdict(int)
        with self.m.storage.read() as tx:
            for txn_id, account, amount in tx.journal():
                if account.startswith("escrow:order:"):
                    flows[account] += amount
                    kind = txn_id.rsplit(":", 1)[-1]
                    assert (amount > 0) == (kind == "pay"), (txn_id, amount)
            balances = tx.all_balances()
        for account, balance in balances.items():
            if account.startswith("user:"):
                assert balance >= 0, account
        for order_id in self.orders:
            order = self.m.orders.get(order_id)
            account = f"escrow:order:{order_id}"
            held = balances.get(account, 0)
            assert held == flows.get(account, 0)
            assert held == (order.total.amount if order.state in HOLDING else 0), order.state


OrderMachine.TestCase.settings = settings(
    max_examples=25, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestOrderMachine = OrderMachine.TestCase
