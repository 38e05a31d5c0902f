"""Every transition × every role × every state: exactly the allowed ones succeed.

Each state gets its own small memory market. The order is brought to the
state, then the clock moves past every window (start, due time, response
time, mutual cancellation), so each rule's time guard holds; what remains
is who and where. A refused attempt must raise PermissionDenied or
InvalidTransition and change nothing; an allowed one runs on a fresh order.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

import microkit as mk
from microkit import Actor, Money
from microkit.clock import FrozenClock
from microkit.orders.process import ORDER_PROCESS

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
ROLES = ("buyer", "seller", "other", "staff", "system")
ACTORS = {"buyer": Actor.user("amal"), "seller": Actor.user("omar"),
          "other": Actor.user("huda"), "staff": Actor.staff("ops"), "system": Actor.system()}
#: Every keyword any transition's effects read, valid for all of them.
PARAMS: dict[str, Any] = {
    "message": "m", "reason": "r", "text": "t", "resolution": "done", "attachments": (),
    "seller_part": Money.of("5", "USD"), "funding_account": "gateway:sandbox",
    "gateway": "sandbox",
}
#: Where each state comes from (the requirements service for awaiting_requirements).
PATHS: dict[str, tuple[str, ...]] = {
    "pending_payment": (),
    "awaiting_requirements": ("pay_awaiting_requirements",),
    "paid": ("pay",),
    "in_progress": ("pay", "start"),
    "delivered": ("pay", "start", "deliver"),
    "completed": ("pay", "start", "deliver", "accept"),
    "cancelled": ("pay", "decline"),
    "expired": ("expire",),
    "disputed": ("pay", "start", "open_dispute"),
    "cancellation_requested": ("pay", "start", "request_cancellation"),
    "settled": ("pay", "start", "open_dispute", "resolve_split"),
}
#: Who runs each step of a path.
STEP_BY = {"pay": "buyer", "pay_awaiting_requirements": "buyer", "start": "seller",
           "deliver": "seller", "accept": "buyer", "decline": "seller",
           "expire": "system", "open_dispute": "buyer",
           "request_cancellation": "buyer", "resolve_split": "staff"}


def guard_holds(name: str, role: str) -> bool:
    """What the guards say in this scenario (windows passed, buyer asked to cancel)."""
    if name == "pay_awaiting_requirements":
        return False  # the paying order's service asks for nothing
    if name == "cancellation_ignored":
        return False  # mutual_cancel_default is "cancel"
    if name in ("accept_cancellation", "refuse_cancellation"):
        return role != "buyer"
    if name == "withdraw_cancellation":
        return role == "buyer"
    return True


class Scene:
    def __init__(self) -> None:
        self.clock = FrozenClock(START)
        self.m = mk.Marketplace.open("memory://", config=mk.MarketConfig.khamsat(),
                                     clock=self.clock, load_entry_points=False)
        for user in ("amal", "omar", "huda"):
            self.m.users.register(user, display_name=user)
        staff = ACTORS["staff"]
        self.m.catalog.add_category("design", names={"en": "Design"}, by=staff)
        self.plain = self._service("")
        self.asking = self._service("the brief")

    def _service(self, requirements: str) -> str:
        svc = self.m.catalog.create_service(
            by=ACTORS["seller"], category="design", title="Logo", description="d",
            price=Money.of("10", "USD"), delivery_days=2, requirements=requirements)
        return self.m.catalog.approve(svc.id, by=ACTORS["staff"]).id

    def order_in(self, state: str) -> str:
        service = self.asking if state == "awaiting_requirements" else self.plain
        order = self.m.orders.place(service, by=ACTORS["buyer"])
        for step in PATHS[state]:
            if step == "expire":
                self.clock.advance(days=2)
            self.m.orders._apply(order.id, step, ACTORS[STEP_BY[step]], **PARAMS)
        self.m.messages.send(f"order:{order.id}", by=ACTORS["buyer"], body="any news?")
        self.clock.advance(days=10)  # past every window: start, due, answer, 48 h
        assert self.m.orders.get(order.id).state == state
        return order.id


def observe(m: mk.Marketplace, order_id: str) -> tuple[Any, ...]:
    with m.storage.read() as tx:
        timers = sorted(t.id for t in tx.due_timers(dt.datetime(2200, 1, 1, tzinfo=dt.UTC),
                                                    10_000))
        balances = tx.all_balances()
    return (m.orders.get(order_id), balances, timers,
            len(m.events.read(after=0, limit=10_000)))


@pytest.mark.parametrize("state", ORDER_PROCESS.states)
def test_every_transition_and_role_in_state(state: str) -> None:
    scene = Scene()
    m = scene.m
    probe = scene.order_in(state)
    wrong: list[str] = []
    ran = 0
    for t in ORDER_PROCESS.transitions:
        for role in ROLES:
            allowed = (state in t.from_states and role in t.actors
                       and guard_holds(t.name, role))
            order_id = scene.order_in(state) if allowed else probe
            before = observe(m, order_id)
            try:
                after = m.orders._apply(order_id, t.name, ACTORS[role], **PARAMS)
            except (mk.PermissionDenied, mk.InvalidTransition) as exc:
                if allowed:
                    wrong.append(f"{t.name} by {role}: refused ({exc})")
                elif observe(m, order_id) != before:
                    wrong.append(f"{t.name} by {role}: refused but changed something")
                continue
            if not allowed:
                wrong.append(f"{t.name} by {role}: ran but is not allowed")
                continue
            ran += 1
            assert after.state in ORDER_PROCESS.targets(t), (t.name, after.state)
            assert after.version == before[0].version + 1
    assert wrong == []
    assert ran == sum(1 for t in ORDER_PROCESS.transitions for r in ROLES
                      if state in t.from_states and r in t.actors and guard_holds(t.name, r))
    assert m.ledger.verify().ok


def test_every_state_is_covered() -> None:
    assert set(PATHS) == set(ORDER_PROCESS.states)
    assert ORDER_PROCESS.terminal == {"completed", "cancelled", "expired", "settled"}


def test_the_events_a_command_may_append() -> None:
    assert ORDER_PROCESS.events_of("accept") == {"order.completed"}
    assert ORDER_PROCESS.events_of("cancel") == {"order.cancelled"}
    assert ORDER_PROCESS.events_of("start") == {"order.started"}
    assert ORDER_PROCESS.events_of("no_such_command") == frozenset()
