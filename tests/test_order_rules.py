"""The order rules of issue 6, on every backend: requirements, deadlines, cancellations,
mutual cancellation, disputes, listings and the audit trail."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

import microkit as mk
from microkit import Money

if TYPE_CHECKING:
    from conftest import World, WorldFactory


def escrow(world: World, order: mk.Order) -> Money:
    return world.market.ledger.account_balance(f"escrow:order:{order.id}")


def with_requirements(world: World) -> mk.Service:
    svc = world.market.catalog.create_service(
        by=world.omar, category="design", title="شعار حسب الطلب", description="شعار",
        price=world.money("5"), delivery_days=3, requirements="اسم الشركة والألوان",
    )
    return world.market.catalog.approve(svc.id, by=world.staff)


# -- requirements and due time ------------------------------------------------------------


def test_requirements_wait_for_the_buyer_then_the_start_window_opens(seeded: World) -> None:
    m = seeded.market
    order = seeded.paid(service=with_requirements(seeded))
    assert order.state == "awaiting_requirements" and order.ready_at is None
    seeded.clock.advance(days=5)
    with pytest.raises(mk.InvalidTransition):  # not "ready" yet: the window has not opened
        m.orders.cancel(order.id, by=seeded.amal)
    ready = m.orders.submit_requirements(order.id, by=seeded.amal, text="ACME, أزرق",
                                         attachments=["brief.pdf"])
    assert ready.state == "paid" and ready.requirements is not None
    assert ready.requirements.attachments == ("brief.pdf",)
    assert ready.ready_at == seeded.clock.now()
    # One reference given alone is one attachment, not one per letter.
    alone = seeded.paid(service=with_requirements(seeded))
    sent = m.orders.submit_requirements(alone.id, by=seeded.amal, text="ACME",
                                        attachments="brief.pdf")  # type: ignore[arg-type]
    assert sent.requirements is not None and sent.requirements.attachments == ("brief.pdf",)


def test_seller_may_start_without_requirements(seeded: World) -> None:
    order = seeded.paid(service=with_requirements(seeded))
    started = seeded.market.orders.start(order.id, by=seeded.omar)
    assert started.state == "in_progress" and started.requirements is None


def test_due_time_counts_upgrade_days_and_lateness(seeded: World) -> None:
    m = seeded.market
    order = seeded.started(upgrade=True)  # 2 days − 1 for the fast-delivery upgrade
    assert order.delivery_days == 1
    assert order.due_at == seeded.clock.now() + dt.timedelta(days=1)
    assert not order.is_late(seeded.clock.now())
    seeded.clock.advance(days=1, seconds=1)
    assert m.orders.get(order.id).is_late(seeded.clock.now())
    delivered = m.orders.deliver(order.id, by=seeded.omar, message="late but here")
    assert delivered.delivered_on_time is False
    assert not delivered.is_late(seeded.clock.now())


# -- the buyer's cancellations ---------------------------------------------------------------


def test_buyer_cancels_an_unstarted_order_only_after_seller_start_days(seeded: World) -> None:
    m = seeded.market
    order = seeded.paid(upgrade=True)
    before = seeded.snapshot()
    with pytest.raises(mk.InvalidTransition) as err:
        m.orders.cancel(order.id, by=seeded.amal)
    assert "seller_start_days" in str(err.value) and err.value.transition == "cancel"
    assert seeded.snapshot() == before
    seeded.clock.advance(days=m.config.seller_start_days)
    cancelled = m.orders.cancel(order.id, by=seeded.amal, reason="لم يبدأ")
    assert cancelled.state == "cancelled" and cancelled.refunded == Money.of("10", "USD")
    assert m.ledger.balance("amal").available == Money.of("10", "USD")
    assert escrow(seeded, order) == Money.zero("USD")
    assert m.orders.history(order.id)[-1].data["transition"] == "cancel_not_started"


def test_buyer_cancels_a_late_order_with_a_full_refund(seeded: World) -> None:
    m = seeded.market
    order = seeded.started()
    with pytest.raises(mk.InvalidTransition):
        m.orders.cancel(order.id, by=seeded.amal)
    seeded.clock.advance(days=order.delivery_days, seconds=1)
    assert m.orders.cancel(order.id, by=seeded.amal).state == "cancelled"
    assert m.ledger.balance("amal").available == Money.of("5", "USD")
    assert m.ledger.verify().ok


def test_late_cancel_can_be_turned_off(make_world: WorldFactory) -> None:
    world = make_world(mk.MarketConfig.khamsat().evolve(late_cancel=False))
    order = world.started()
    world.clock.advance(days=30)
    with pytest.raises(mk.InvalidTransition) as err:
        world.market.orders.cancel(order.id, by=world.amal)
    assert "late_cancel" in str(err.value)


def test_buyer_cancels_when_the_seller_does_not_answer(make_world: WorldFactory) -> None:
    seeded = make_world(mk.MarketConfig.khamsat().evolve(seller_response_hours=12))
    m, hours = seeded.market, 12
    order = seeded.started()
    conv = f"order:{order.id}"
    m.messages.send(conv, by=seeded.amal, body="متى التسليم؟")
    seeded.clock.advance(hours=hours - 1)
    m.messages.send(conv, by=seeded.omar, body="غدا")  # answered in time
    seeded.clock.advance(hours=2)
    with pytest.raises(mk.InvalidTransition):
        m.orders.cancel(order.id, by=seeded.amal)
    m.messages.send(conv, by=seeded.amal, body="هل من جديد؟")
    seeded.clock.advance(hours=hours)
    assert m.orders.cancel(order.id, by=seeded.amal).state == "cancelled"
    assert m.orders.history(order.id)[-1].data["transition"] == "cancel_unanswered"


def test_seller_declines_before_delivering(seeded: World) -> None:
    m = seeded.market
    order = seeded.started()
    declined = m.orders.cancel(order.id, by=seeded.omar, reason="مشغول")
    assert declined.state == "cancelled" and declined.last_reason == "مشغول"
    assert m.ledger.balance("amal").available == Money.of("5", "USD")
    delivered = seeded.delivered()
    with pytest.raises(mk.InvalidTransition):
        m.orders.cancel(delivered.id, by=seeded.omar)


# -- mutual cancellation ---------------------------------------------------------------------


def test_mutual_cancellation_accepted_refunds(seeded: World) -> None:
    m = seeded.market
    order = seeded.delivered()
    asked = m.orders.request_cancellation(order.id, by=seeded.omar, reason="لا أستطيع")
    assert asked.state == "cancellation_requested" and asked.resume_state == "delivered"
    with pytest.raises(mk.PermissionDenied):
        m.orders.accept_cancellation(order.id, by=seeded.omar)
    done = m.orders.accept_cancellation(order.id, by=seeded.amal)
    assert done.state == "cancelled" and done.cancellation is None
    assert m.ledger.balance("amal").available == Money.of("5", "USD")


def test_refused_cancellation_goes_back_and_stops_nothing_old(make_world: WorldFactory) -> None:
    seeded = make_world(mk.MarketConfig.khamsat().evolve(mutual_cancel_hours=24 * 30))
    m, days = seeded.market, seeded.market.config.auto_complete_days
    order = seeded.delivered()
    m.orders.request_cancellation(order.id, by=seeded.amal)
    seeded.clock.advance(days=days)
    m.tick()  # auto-complete does not run while the request is open
    assert m.orders.get(order.id).state == "cancellation_requested"
    back = m.orders.refuse_cancellation(order.id, by=seeded.omar)
    assert back.state == "delivered" and back.resume_state is None
    seeded.clock.advance(days=days)
    assert m.tick().ran.get("auto_complete") == 1


def test_a_timer_that_raises_stays_due_and_the_others_still_run(
    seeded: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    m = seeded.market
    stuck, *others = [seeded.delivered() for _ in range(3)]
    real = m.orders.run_timer

    def breaks_on_stuck(u: Any, timer: Any) -> str:
        if (timer.subject, timer.name) == (f"order:{stuck.id}", "auto_complete"):
            raise mk.Conflict("a timer that cannot run yet", key=timer.id)
        return real(u, timer)

    monkeypatch.setattr(m.orders, "run_timer", breaks_on_stuck)
    seeded.clock.advance(days=m.config.auto_complete_days)
    summary = m.tick()
    assert (summary.ran.get("auto_complete"), summary.failed) == (2, 1)
    assert [m.orders.get(o.id).state for o in others] == ["completed"] * 2
    assert m.orders.get(stuck.id).state == "delivered"
    assert "stays due" in caplog.text
    monkeypatch.undo()
    summary = m.tick()  # the next tick runs it
    assert (summary.ran.get("auto_complete"), summary.failed) == (1, 0)
    assert m.orders.get(stuck.id).state == "completed"
    assert m.ledger.verify().ok


def test_cancellation_requests_do_not_restart_the_auto_complete_clock(seeded: World) -> None:
    # Back in "delivered" after each withdrawn request, the order still completes
    # auto_complete_days after its last delivery: asking and withdrawing every day
    # cannot keep the seller's money in escrow.
    m, days = seeded.market, seeded.market.config.auto_complete_days
    order = seeded.delivered()
    delivered_at = seeded.clock.now()
    for _ in range(days - 1):
        seeded.clock.advance(days=1)
        m.tick()
        m.orders.request_cancellation(order.id, by=seeded.amal)
        m.orders.withdraw_cancellation(order.id, by=seeded.amal)
    seeded.clock.advance(days=1)
    assert seeded.clock.now() == delivered_at + dt.timedelta(days=days)
    assert m.tick().ran.get("auto_complete") == 1
    assert m.orders.get(order.id).state == "completed"


def test_withdrawn_cancellation_only_by_who_asked(seeded: World) -> None:
    m = seeded.market
    order = seeded.started()
    m.orders.request_cancellation(order.id, by=seeded.amal)
    with pytest.raises(mk.PermissionDenied):
        m.orders.withdraw_cancellation(order.id, by=seeded.omar)
    assert m.orders.withdraw_cancellation(order.id, by=seeded.amal).state == "in_progress"


@pytest.mark.parametrize(("default", "state"), [("cancel", "cancelled"),
                                                ("continue", "in_progress")])
def test_silence_follows_the_configured_default(
    make_world: WorldFactory, default: str, state: str
) -> None:
    world = make_world(mk.MarketConfig.khamsat().evolve(mutual_cancel_default=default))
    m, hours = world.market, world.market.config.mutual_cancel_hours
    order = world.started()
    m.orders.request_cancellation(order.id, by=world.omar)
    world.clock.advance(hours=hours, seconds=-1)
    assert m.tick().total == 0
    world.clock.advance(seconds=1)
    m.tick()
    assert m.orders.get(order.id).state == state
    assert m.ledger.verify().ok


# -- disputes --------------------------------------------------------------------------------


def test_dispute_stops_timers_and_release_pays_the_seller(seeded: World) -> None:
    m = seeded.market
    order = seeded.delivered(upgrade=True)
    m.orders.open_dispute(order.id, by=seeded.amal, reason="التسليم ناقص")
    seeded.clock.advance(days=60)
    assert "auto_complete" not in m.tick().ran
    done = m.orders.resolve_dispute(order.id, by=seeded.staff, outcome="release",
                                    resolution="التسليم مطابق للوصف")
    assert done.state == "completed" and done.dispute is not None
    assert done.dispute.resolution == "التسليم مطابق للوصف" and done.dispute.outcome == "release"
    assert m.ledger.balance("omar").pending == Money.of("8", "USD")
    seeded.clock.advance(days=60)
    assert m.tick().ran == {"clear": 1}  # nothing old fires
    assert m.ledger.balance("omar").available == Money.of("8", "USD")


def test_dispute_refund_returns_everything(seeded: World) -> None:
    m = seeded.market
    order = seeded.started()
    m.orders.open_dispute(order.id, by=seeded.omar, reason="المشتري لا يرد")
    done = m.orders.resolve_dispute(order.id, by=seeded.staff, outcome="refund",
                                    resolution="استرداد كامل")
    assert done.state == "cancelled" and done.refunded == order.total
    assert m.ledger.balance("amal").available == Money.of("5", "USD")


def test_split_takes_commission_only_on_the_sellers_part(microlibya: World) -> None:
    m, w = microlibya.market, microlibya
    order = w.delivered(upgrade=True)  # 24.690 LYD, commission 15 %
    m.orders.open_dispute(order.id, by=w.amal, reason="نصف العمل")
    part = Money.of("10.001", "LYD")
    done = m.orders.resolve_dispute(order.id, by=w.staff, outcome="split",
                                    resolution="نصف", seller_part=part)
    commission = m.config.commission(part)
    assert commission == Money.of("1.500", "LYD")
    assert done.state == "settled" and done.seller_earned == part - commission
    assert done.refunded == order.total - part
    assert m.ledger.balance("omar").pending == part - commission
    assert m.ledger.balance("amal").available == order.total - part
    assert m.ledger.account_balance("platform:commission") == commission
    assert escrow(w, order) == Money.zero("LYD") and m.ledger.verify().ok
    w.clock.advance(days=m.config.clearance_days)
    m.tick()
    assert m.ledger.balance("omar").available == part - commission


def test_split_that_leaves_the_seller_nothing_clears_nothing(make_world: WorldFactory) -> None:
    # Half the seller's part is commission: one dirham rounds to a net of zero. Clearance
    # must move that zero, not the seller's whole share (which another order earned).
    config = mk.MarketConfig.microlibya().evolve(commission_rate=Decimal("0.5"))
    w = make_world(config, "12.345")
    m = w.market
    other = w.delivered()
    m.orders.accept(other.id, by=w.amal)  # its earnings clear clearance_days from now
    w.clock.advance(days=1)
    order = w.delivered()
    m.orders.open_dispute(order.id, by=w.amal, reason="لم يسلم شيئا")
    done = m.orders.resolve_dispute(order.id, by=w.staff, outcome="split", resolution="r",
                                    seller_part=Money.of("0.001", "LYD"))
    assert done.seller_earned == Money.zero("LYD") == done.seller_net
    share = m.orders.get(other.id).seller_net
    assert m.ledger.balance("omar").pending == share
    w.clock.advance(days=m.config.clearance_days - 1)
    m.tick()  # the other order's day: its own earnings clear
    assert m.ledger.balance("omar") == mk.Balance(available=share, pending=Money.zero("LYD"))
    w.clock.advance(days=1)
    m.tick()  # the split's day: nothing to clear, and nothing raised
    assert m.ledger.balance("omar") == mk.Balance(available=share, pending=Money.zero("LYD"))
    assert m.levels.metrics("omar").all_time.earnings == share
    assert m.ledger.verify().ok


@pytest.mark.parametrize("part", ["0", "24.690", "30"])
def test_split_part_must_be_strictly_inside_the_price(microlibya: World, part: str) -> None:
    order = microlibya.started(upgrade=True)
    microlibya.market.orders.open_dispute(order.id, by=microlibya.amal, reason="x")
    before = microlibya.snapshot()
    with pytest.raises(mk.ValidationError):
        microlibya.market.orders.resolve_dispute(
            order.id, by=microlibya.staff, outcome="split", resolution="r",
            seller_part=Money.of(part, "LYD"))
    assert microlibya.snapshot() == before


def test_only_staff_resolve_and_only_parties_dispute(seeded: World) -> None:
    m = seeded.market
    order = seeded.started()
    with pytest.raises(mk.PermissionDenied):
        m.orders.open_dispute(order.id, by=seeded.staff, reason="x")
    m.orders.open_dispute(order.id, by=seeded.amal, reason="x")
    for who in (seeded.amal, seeded.omar):
        with pytest.raises(mk.PermissionDenied):
            m.orders.resolve_dispute(order.id, by=who, outcome="refund", resolution="r")
    with pytest.raises(mk.ValidationError):
        m.orders.resolve_dispute(order.id, by=seeded.staff, outcome="refund", resolution=" ")


# -- audit trail and dashboards ------------------------------------------------------------


def test_every_transition_is_an_event_with_actor_and_time(seeded: World) -> None:
    m = seeded.market
    order = seeded.delivered()
    seeded.clock.advance(hours=1)
    m.orders.request_cancellation(order.id, by=seeded.amal)
    m.orders.refuse_cancellation(order.id, by=seeded.omar)
    history = m.orders.history(order.id)
    assert [e.data.get("transition") for e in history] == [
        None, "pay", "start", "deliver", "request_cancellation", "refuse_cancellation"]
    assert history[-1].actor == "user:omar" and history[-1].at == seeded.clock.now()
    assert history[-1].data["to"] == "delivered"


def test_list_orders_for_dashboards(seeded: World) -> None:
    m = seeded.market
    placed = seeded.place()
    paid = seeded.paid()
    started = seeded.started()
    delivered = seeded.delivered()
    page = m.orders.list(by=seeded.amal, role="buyer")
    assert [o.id for o in page.items] == [delivered.id, started.id, paid.id, placed.id]
    assert m.orders.list(by=seeded.omar, role="seller", state="delivered").items == (
        m.orders.get(delivered.id),)
    new = m.orders.list(by=seeded.omar, role="seller", state=("paid", "awaiting_requirements"))
    assert [o.id for o in new.items] == [paid.id]
    first = m.orders.list(by=seeded.amal, role="buyer", limit=3)
    assert len(first.items) == 3 and first.next_cursor is not None
    rest = m.orders.list(by=seeded.amal, role="buyer", limit=3, cursor=first.next_cursor)
    assert [o.id for o in rest.items] == [placed.id] and rest.next_cursor is None
    assert m.orders.list(by=seeded.omar, role="buyer").items == ()
    with pytest.raises(mk.ValidationError):
        m.orders.list(by=seeded.amal, role="buyer", state="lost")
    with pytest.raises(mk.PermissionDenied):
        m.orders.list(by=seeded.staff, role="buyer")
