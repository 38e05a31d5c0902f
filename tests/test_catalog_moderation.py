"""The service moderation table, exhaustively: every action x every state x every actor."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import microkit as mk
from microkit import Actor, Money
from microkit.catalog.moderation import MODERATION, STATES
from microkit.levels import LevelLadder

ACTIONS = [m.name for m in MODERATION.moves]
ACTORS = ["seller", "other_user", "staff", "system"]
#: How to reach each state from a fresh pending_review service (moderation on).
PATHS: dict[str, list[tuple[str, str]]] = {
    "pending_review": [],
    "approved": [("approve", "staff")],
    "rejected": [("reject", "staff")],
    "paused": [("approve", "staff"), ("pause", "seller")],
    "suspended": [("suspend", "staff")],
}
EXPECTED_TARGET = {
    # (action, from) -> to, with moderation on
    ("approve", "pending_review"): "approved",
    ("approve", "rejected"): "approved",
    ("reject", "pending_review"): "rejected",
    ("update_service", "pending_review"): "pending_review",
    ("update_service", "approved"): "pending_review",
    ("update_service", "rejected"): "pending_review",
    ("update_service", "paused"): "pending_review",
    ("resubmit", "rejected"): "pending_review",
    ("pause", "approved"): "paused",
    ("resume", "paused"): "approved",
    ("suspend", "pending_review"): "suspended",
    ("suspend", "approved"): "suspended",
    ("suspend", "rejected"): "suspended",
    ("suspend", "paused"): "suspended",
    ("unsuspend", "suspended"): "approved",
}
ROLE_OF = {"seller": "seller", "staff": "staff", "other_user": None, "system": None}


NO_LIMITS = mk.MarketConfig.khamsat().evolve(levels=LevelLadder.single())


@pytest.fixture(scope="module")
def world() -> Any:
    """One memory market shared by the module; each case makes its own service."""
    # One seller makes a service per case: lift the level limits (levels have their own tests).
    m = mk.Marketplace.open("memory://", config=NO_LIMITS, load_entry_points=False)
    m.users.register("omar", display_name="Omar")
    m.users.register("huda", display_name="Huda")
    m.catalog.add_category("design", names={"en": "Design"}, by=Actor.staff("ops"))
    return m


def actor(name: str) -> Actor:
    return {"seller": Actor.user("omar"), "other_user": Actor.user("huda"),
            "staff": Actor.staff("ops"), "system": Actor.system()}[name]


def call(m: mk.Marketplace, action: str, sid: str, who: str) -> mk.Service:
    by = actor(who)
    c = m.catalog
    calls: dict[str, Callable[[], mk.Service]] = {
        "approve": lambda: c.approve(sid, by=by),
        "reject": lambda: c.reject(sid, by=by, reason="صور ناقصة"),
        "update_service": lambda: c.update_service(sid, by=by, title="عنوان جديد"),
        "resubmit": lambda: c.resubmit(sid, by=by),
        "pause": lambda: c.pause(sid, by=by),
        "resume": lambda: c.resume(sid, by=by),
        "suspend": lambda: c.suspend(sid, by=by, reason="مخالفة"),
        "unsuspend": lambda: c.unsuspend(sid, by=by),
    }
    return calls[action]()


def service_in(m: mk.Marketplace, state: str) -> mk.Service:
    svc = m.catalog.create_service(by=Actor.user("omar"), category="design",
                                   title="تصميم شعار", description="وصف",
                                   price=Money.of("5", "USD"), delivery_days=2)
    for action, who in PATHS[state]:
        svc = call(m, action, svc.id, who)
    assert svc.state == state
    return svc


def test_the_table_covers_every_state_and_action() -> None:
    assert set(STATES) == {"pending_review", "approved", "rejected", "paused", "suspended"}
    assert {(m.name, s) for m in MODERATION.moves for s in m.from_states} == set(EXPECTED_TARGET)
    assert "stateDiagram-v2" in MODERATION.mermaid()


@pytest.mark.parametrize(("action", "state", "who"),
                         list(itertools.product(ACTIONS, STATES, ACTORS)))
def test_every_action_state_actor(world: mk.Marketplace, action: str, state: str,
                                  who: str) -> None:
    m = world
    svc = service_in(m, state)
    move = MODERATION.get(action)
    before = m.events.read(after=0, limit=10_000)
    role = ROLE_OF[who]
    if role not in move.actors:
        with pytest.raises(mk.PermissionDenied) as exc:
            call(m, action, svc.id, who)
        assert exc.value.action == action
    elif state not in move.from_states:
        with pytest.raises(mk.InvalidTransition) as exc2:
            call(m, action, svc.id, who)
        assert exc2.value.state == state
        assert set(exc2.value.allowed) == set(MODERATION.allowed_from(state))
    else:
        new = call(m, action, svc.id, who)
        assert new.state == EXPECTED_TARGET[(action, state)]
        assert m.catalog.get(svc.id) == new
        assert new.version == svc.version + 1
        events = m.events.read(after=before[-1].seq, limit=100)
        assert events[0].name == move.event
        assert events[0].data["from"] == state and events[0].data["to"] == new.state
        if move.reason:
            assert events[0].data["reason"] and new.moderation_note == events[0].data["reason"]
        if new.state == "pending_review" and move.event != "service.submitted":
            assert [e.name for e in events] == [move.event, "service.submitted"]
        found = m.catalog.search("عنوان جديد" if action == "update_service" else "تصميم شعار",
                                 seller="omar", sort="newest", limit=1).hits
        assert (found[0].service.id == svc.id if found else False) == (new.state == "approved")
        return
    # refused: nothing changed
    assert m.catalog.get(svc.id) == svc
    assert m.events.read(after=0, limit=10_000) == before


@pytest.mark.parametrize(("action", "state", "expected", "event"), [
    ("update_service", "approved", "approved", "service.updated"),
    ("update_service", "paused", "paused", "service.updated"),
    ("update_service", "rejected", "rejected", "service.updated"),
    ("resubmit", "rejected", "approved", "service.approved"),
])
def test_moderation_turned_off(tmp_path: Path, action: str, state: str, expected: str,
                               event: str) -> None:
    """An operator turns moderation off: the same database, reopened with another config."""
    url = f"sqlite:///{tmp_path}/m.db"
    with mk.Marketplace.open(url, config=mk.MarketConfig.khamsat(),
                             load_entry_points=False) as m:
        m.users.register("omar", display_name="Omar")
        m.catalog.add_category("design", names={"en": "Design"}, by=Actor.staff("ops"))
        svc = service_in(m, state)
    off_config = mk.MarketConfig.khamsat().evolve(moderation=False)
    with mk.Marketplace.open(url, config=off_config, load_entry_points=False) as off:
        new = call(off, action, svc.id, "seller")
        assert new.state == expected
        assert off.events.read(after=0, limit=1000)[-1].name == event


def test_new_service_without_moderation_is_approved_at_once() -> None:
    m = mk.Marketplace.open("memory://", config=mk.MarketConfig.khamsat().evolve(
        moderation=False), load_entry_points=False)
    m.users.register("omar", display_name="Omar")
    m.catalog.add_category("design", names={"en": "Design"}, by=Actor.staff("ops"))
    svc = m.catalog.create_service(by=Actor.user("omar"), category="design", title="شعار",
                                   description="وصف", price=Money.of("5", "USD"),
                                   delivery_days=1)
    assert svc.state == "approved"
    assert m.events.read(after=0, limit=100)[-1].name == "service.approved"
    assert [h.service.id for h in m.catalog.search("شعار").hits] == [svc.id]


def test_only_approved_services_can_be_bought(world: mk.Marketplace) -> None:
    m = world
    m.users.register("buyer", display_name="Buyer")
    for state in STATES:
        svc = service_in(m, state)
        if state == "approved":
            assert m.orders.place(svc.id, by=Actor.user("buyer")).state == "pending_payment"
        else:
            with pytest.raises(mk.NotFound):
                m.orders.place(svc.id, by=Actor.user("buyer"))
