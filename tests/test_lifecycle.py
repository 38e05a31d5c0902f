"""The order lifecycle end to end, on every backend: money, timers, actors, states, history."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

import microkit as mk
from microkit import Actor, Money

if TYPE_CHECKING:
    from conftest import World, WorldFactory


def escrow(world: World, order: mk.Order) -> Money:
    return world.market.ledger.account_balance(f"escrow:order:{order.id}")


def test_design_story(seeded: World) -> None:
    m, amal, omar = seeded.market, seeded.amal, seeded.omar
    order = seeded.place(upgrade=True)
    assert order.total == Money.of("10", "USD") and order.state == "pending_payment"
    m.payments.pay(order.id, by=amal, gateway="sandbox", idempotency_key="pay-1")
    assert escrow(seeded, order) == Money.of("10", "USD")
    m.orders.start(order.id, by=omar)
    m.orders.deliver(order.id, by=omar, message="التصميم جاهز", attachments=["logo-v1.png"])
    m.orders.request_revision(order.id, by=amal, reason="لون أغمق")
    m.orders.deliver(order.id, by=omar, message="النسخة الثانية", attachments=["logo-v2.png"])
    done = m.orders.accept(order.id, by=amal)

    assert done == m.orders.get(order.id)
    assert done.state == "completed" and done.revisions == 1
    assert [d.attachments for d in done.deliveries] == [("logo-v1.png",), ("logo-v2.png",)]
    assert escrow(seeded, order) == Money.zero("USD")
    assert m.ledger.balance("omar") == mk.Balance(available=Money.zero("USD"),
                                                  pending=Money.of("8", "USD"))
    assert m.ledger.account_balance("platform:commission") == Money.of("2", "USD")

    seeded.clock.advance(days=14)
    summary = m.tick()
    assert summary.ran == {"clear": 1}
    assert m.ledger.balance("omar") == mk.Balance(available=Money.of("8", "USD"),
                                                  pending=Money.zero("USD"))
    assert m.ledger.verify().ok


def test_clearance_waits_for_clearance_days(seeded: World) -> None:
    seeded.completed()
    seeded.clock.advance(days=13, hours=23)
    seeded.market.tick()
    assert seeded.market.ledger.balance("omar").available == Money.zero("USD")
    seeded.clock.advance(hours=1)
    seeded.market.tick()
    assert seeded.market.ledger.balance("omar").available == Money.of("4", "USD")


def test_history_lists_the_transitions_in_order(seeded: World) -> None:
    m = seeded.market
    order = seeded.delivered()
    m.orders.request_revision(order.id, by=seeded.amal, reason="أكبر")
    m.orders.deliver(order.id, by=seeded.omar, message="v2")
    m.orders.accept(order.id, by=seeded.amal)
    history = m.orders.history(order.id)
    assert [e.name for e in history] == [
        "order.placed", "order.paid", "order.started", "order.delivered",
        "order.revision_requested", "order.delivered", "order.completed",
    ]
    assert [e.seq for e in history] == sorted({e.seq for e in history})
    assert [(e.data["from"], e.data["to"]) for e in history[1:]] == [
        ("pending_payment", "paid"), ("paid", "in_progress"), ("in_progress", "delivered"),
        ("delivered", "in_progress"), ("in_progress", "delivered"), ("delivered", "completed"),
    ]
    assert {e.subject for e in history} == {f"order:{order.id}"}


# -- MicroLibya: LYD with three decimals -----------------------------------------------


def test_microlibya_story_in_dirhams(microlibya: World) -> None:
    m = microlibya.market
    order = microlibya.place(upgrade=True)
    assert order.total == Money.of("24.690", "LYD")
    numerator, denominator = m.config.commission_rate.as_integer_ratio()
    commission = rounded(24_690 * numerator, denominator, "half_up")
    assert order.commission == Money(commission, "LYD")
    assert order.seller_share == Money(24_690 - commission, "LYD")
    microlibya.market.payments.pay(order.id, by=microlibya.amal, gateway="sandbox",
                                   idempotency_key="k")
    m.orders.start(order.id, by=microlibya.omar)
    m.orders.deliver(order.id, by=microlibya.omar, message="جاهز")
    m.orders.accept(order.id, by=microlibya.amal)
    assert m.ledger.balance("omar").pending == order.seller_share
    assert m.ledger.account_balance("platform:commission") == order.commission
    microlibya.clock.advance(days=m.config.clearance_days)
    m.tick()
    assert m.ledger.balance("omar").available == Money(24_690 - commission, "LYD")
    assert m.ledger.verify().ok


def rounded(numerator: int, denominator: int, mode: str) -> int:
    """numerator / denominator to an int, ties up or to even: an oracle in integers only."""
    q, r = divmod(numerator, denominator)
    if 2 * r > denominator or (2 * r == denominator and (mode == "half_up" or q % 2)):
        q += 1
    return q


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
@pytest.mark.parametrize("mode", ["half_up", "half_even"])
def test_microlibya_commission_split_is_exact_for_many_prices(
    make_world: WorldFactory, mode: str
) -> None:
    world = make_world(mk.MarketConfig.microlibya().evolve(commission_rounding=mode), "10")
    m = world.market
    rate = m.config.commission_rate.as_integer_ratio()
    commission_total = 0
    prices = ["10", "10.001", "10.010", "10.030", "12.345", "33.333", "99.999", "123.457",
              "150.015", "199.999"]  # a new seller: up to 200 LYD, 10 active services
    for price in prices:
        service = world.service if price == "10" else world.add_service(price)
        order = world.completed(service=service)
        minor = Money.of(price, "LYD").amount
        expected = rounded(minor * rate[0], rate[1], mode)
        assert order.total == Money(minor, "LYD")
        assert order.commission == Money(expected, "LYD"), price
        assert order.seller_share + order.commission == order.total
        commission_total += expected
    assert m.ledger.account_balance("platform:commission") == Money(commission_total, "LYD")
    assert m.ledger.verify().ok


# -- cancellation and paying from the balance ------------------------------------------


def assert_refunded(world: World, order: mk.Order, amount: str) -> None:
    m = world.market
    assert m.orders.get(order.id).state == "cancelled"
    assert m.ledger.balance("amal").available == Money.of(amount, "USD")
    assert escrow(world, order) == Money.zero("USD")
    assert m.ledger.balance("omar") == mk.Balance(Money.zero("USD"), Money.zero("USD"))
    assert m.ledger.account_balance("platform:commission") == Money.zero("USD")
    assert m.ledger.verify().ok


@pytest.mark.parametrize("who", ["omar", "staff"])
def test_seller_or_staff_cancel_before_start_refunds_the_buyer_balance(
    seeded: World, who: str
) -> None:
    order = seeded.paid(upgrade=True)
    by = seeded.omar if who == "omar" else seeded.staff
    seeded.market.orders.cancel(order.id, by=by, reason="لا أستطيع")
    assert_refunded(seeded, order, "10")


def test_buyer_cancels_an_unstarted_order_after_seller_start_days(seeded: World) -> None:
    m = seeded.market
    order = seeded.paid(upgrade=True)
    seeded.clock.advance(days=m.config.seller_start_days, seconds=-1)
    before = seeded.snapshot()
    with pytest.raises(mk.InvalidTransition) as err:
        m.orders.cancel(order.id, by=seeded.amal)
    assert err.value.state == "paid"
    assert set(err.value.allowed) == set(m.orders.process.allowed_from("paid"))
    assert seeded.snapshot() == before
    seeded.clock.advance(seconds=1)
    m.orders.cancel(order.id, by=seeded.amal, reason="لم يبدأ")
    assert_refunded(seeded, order, "10")


def test_buyer_cancels_a_late_order(seeded: World) -> None:
    m = seeded.market
    order = seeded.started()
    assert order.due_at == seeded.clock.now() + dt.timedelta(days=order.delivery_days)
    seeded.clock.set(order.due_at)
    with pytest.raises(mk.InvalidTransition) as err:
        m.orders.cancel(order.id, by=seeded.amal)
    assert err.value.state == "in_progress"
    seeded.clock.advance(seconds=1)
    m.orders.cancel(order.id, by=seeded.amal, reason="تأخر")
    assert_refunded(seeded, order, "5")


@pytest.mark.parametrize("upgrade", [False, True])
def test_buyer_cannot_cancel_a_started_order_on_time(seeded: World, upgrade: bool) -> None:
    order = seeded.started(upgrade=upgrade)
    before = seeded.snapshot()
    with pytest.raises(mk.InvalidTransition) as err:
        seeded.market.orders.cancel(order.id, by=seeded.amal)
    assert err.value.state == "in_progress"
    assert seeded.snapshot() == before


def test_a_delivered_then_revised_order_is_never_late(seeded: World) -> None:
    order = seeded.delivered()
    seeded.market.orders.request_revision(order.id, by=seeded.amal, reason="تعديل")
    seeded.clock.advance(days=30)
    with pytest.raises(mk.InvalidTransition):
        seeded.market.orders.cancel(order.id, by=seeded.amal)
    assert seeded.market.orders.get(order.id).state == "in_progress"


def test_cancel_unpaid_moves_no_money(seeded: World) -> None:
    order = seeded.place()
    before = seeded.market.ledger.verify()
    assert seeded.market.orders.cancel(order.id, by=seeded.amal).state == "cancelled"
    assert seeded.market.ledger.verify() == before
    assert seeded.market.ledger.balance("amal").available == Money.zero("USD")


def test_pay_from_the_balance_a_refund_left(seeded: World) -> None:
    m = seeded.market
    seeded.credit_buyer(upgrade=True)
    order = seeded.place()
    payment = m.payments.pay(order.id, by=seeded.amal, gateway="balance",
                             idempotency_key="from-balance")
    assert payment.state == "succeeded" and payment.amount == Money.of("5", "USD")
    assert m.orders.get(order.id).state == "paid"
    assert m.ledger.balance("amal").available == Money.of("5", "USD")
    assert escrow(seeded, order) == Money.of("5", "USD")
    assert m.ledger.verify().ok


def test_buyer_fee_is_paid_by_the_buyer_and_kept_by_the_platform(
    make_world: WorldFactory,
) -> None:
    world = make_world(mk.MarketConfig.khamsat().evolve(buyer_fee_rate=Decimal("0.10")))
    order = world.completed(upgrade=True)
    assert (order.subtotal, order.buyer_fee, order.total) == (
        Money.of("10", "USD"), Money.of("1", "USD"), Money.of("11", "USD"))
    m = world.market
    assert m.ledger.account_balance("gateway:sandbox") == Money.of("-11", "USD")
    assert m.ledger.balance("omar").pending == Money.of("8", "USD")
    assert m.ledger.account_balance("platform:commission") == Money.of("3", "USD")
    assert m.ledger.verify().ok


def test_refund_to_original_refunds_through_the_gateway(make_world: WorldFactory) -> None:
    world = make_world(mk.MarketConfig.khamsat().evolve(refund_to="original"))
    order = world.paid(upgrade=True)
    world.market.orders.cancel(order.id, by=world.staff)
    assert world.market.ledger.account_balance("gateway:sandbox") == Money.zero("USD")
    assert world.market.ledger.balance("amal").available == Money.zero("USD")
    world.market.tick()  # the gateway is called after the commit, by a timer
    gateway = world.market.payments.gateway("sandbox")
    refunds = list(gateway.refunds.values())  # type: ignore[attr-defined]
    assert [r.status for r in refunds] == ["succeeded"]
    assert world.market.ledger.verify().ok


# -- timers ----------------------------------------------------------------------------


def test_auto_complete_after_auto_complete_days_and_not_before(seeded: World) -> None:
    m, days = seeded.market, seeded.market.config.auto_complete_days
    order = seeded.delivered()
    seeded.clock.advance(days=days, seconds=-1)
    assert m.tick().ran == {}
    assert m.orders.get(order.id).state == "delivered"
    seeded.clock.advance(seconds=1)
    assert m.tick().ran == {"auto_complete": 1}
    assert m.orders.get(order.id).state == "completed"
    assert m.ledger.balance("omar").pending == Money.of("4", "USD")
    assert m.orders.history(order.id)[-1].actor == "system"


def test_auto_complete_counts_from_the_last_delivery(seeded: World) -> None:
    m, days = seeded.market, seeded.market.config.auto_complete_days
    order = seeded.delivered()
    seeded.clock.advance(days=days - 1)
    m.orders.request_revision(order.id, by=seeded.amal, reason="مرة أخرى")
    m.orders.deliver(order.id, by=seeded.omar, message="v2")
    seeded.clock.advance(days=1)  # due date of the first delivery
    m.tick()
    assert m.orders.get(order.id).state == "delivered"
    seeded.clock.advance(days=days - 1, seconds=-1)
    m.tick()
    assert m.orders.get(order.id).state == "delivered"
    seeded.clock.advance(seconds=1)
    m.tick()
    assert m.orders.get(order.id).state == "completed"


def test_accepted_order_is_not_auto_completed_again(seeded: World) -> None:
    order = seeded.completed()
    seeded.clock.advance(days=seeded.market.config.auto_complete_days)
    summary = seeded.market.tick()
    assert "auto_complete" not in summary.ran
    assert seeded.market.orders.get(order.id).version == order.version
    assert seeded.market.ledger.balance("omar").pending == Money.of("4", "USD")


def test_unpaid_order_expires_after_payment_timeout(seeded: World) -> None:
    m = seeded.market
    order = seeded.place()
    seeded.clock.advance(seconds=m.config.payment_timeout.total_seconds() - 1)
    m.tick()
    assert m.orders.get(order.id).state == "pending_payment"
    seeded.clock.advance(seconds=1)
    assert m.tick().ran == {"expire": 1}
    assert m.orders.get(order.id).state == "expired"
    with pytest.raises(mk.InvalidTransition) as err:
        m.payments.pay(order.id, by=seeded.amal, gateway="sandbox", idempotency_key="late")
    assert err.value.state == "expired" and err.value.allowed == ()
    assert m.payments.gateway("sandbox").charges == {}  # type: ignore[attr-defined]


def test_paid_order_does_not_expire(seeded: World) -> None:
    order = seeded.paid()
    seeded.clock.advance(days=2)
    seeded.market.tick()
    assert seeded.market.orders.get(order.id).state == "paid"


def test_config_changes_the_timers(make_world: WorldFactory) -> None:
    world = make_world(mk.MarketConfig.khamsat().evolve(auto_complete_days=1, clearance_days=0))
    order = world.delivered()
    world.clock.advance(days=1)
    world.market.tick()  # auto-complete, then the clearance is due at once
    world.market.tick()
    assert world.market.orders.get(order.id).state == "completed"
    assert world.market.ledger.balance("omar").available == Money.of("4", "USD")


# -- who and when ----------------------------------------------------------------------

STRANGER = Actor.user("huda")


@pytest.mark.parametrize(
    ("stage", "command", "actor"),
    [
        ("paid", "start", "amal"),
        ("paid", "start", "huda"),
        ("paid", "start", "staff"),
        ("started", "deliver", "amal"),
        ("started", "deliver", "huda"),
        ("delivered", "accept", "omar"),
        ("delivered", "accept", "staff"),
        ("delivered", "accept", "huda"),
        ("delivered", "request_revision", "omar"),
        ("place", "cancel", "huda"),
        ("paid", "cancel", "huda"),
    ],
)
def test_wrong_actor_is_denied(seeded: World, stage: str, command: str, actor: str) -> None:
    seeded.market.users.register("huda", display_name="Huda")
    order = getattr(seeded, stage)()
    by = {"amal": seeded.amal, "omar": seeded.omar, "huda": STRANGER,
          "staff": seeded.staff}[actor]
    kwargs = {"deliver": {"message": "x"}, "request_revision": {"reason": "x"}}.get(command, {})
    before = seeded.snapshot()
    with pytest.raises(mk.PermissionDenied) as err:
        getattr(seeded.market.orders, command)(order.id, by=by, **kwargs)
    assert err.value.actor == str(by)
    assert seeded.snapshot() == before


@pytest.mark.parametrize(
    ("stage", "command", "actor", "state", "includes"),
    [
        ("place", "start", "omar", "pending_payment", {"pay", "expire", "cancel_unpaid"}),
        ("paid", "deliver", "omar", "paid", {"start"}),
        ("paid", "accept", "amal", "paid", {"start"}),
        ("started", "accept", "amal", "in_progress", {"deliver"}),
        ("started", "request_revision", "amal", "in_progress", {"deliver"}),
        ("delivered", "start", "omar", "delivered",
         {"request_revision", "accept", "auto_complete"}),
        ("completed", "deliver", "omar", "completed", set()),
        ("completed", "cancel", "amal", "completed", set()),
    ],
)
def test_wrong_state_names_the_state_and_what_is_allowed(
    seeded: World, stage: str, command: str, actor: str, state: str, includes: set[str]
) -> None:
    order = getattr(seeded, stage)()
    by = {"amal": seeded.amal, "omar": seeded.omar}[actor]
    kwargs = {"deliver": {"message": "x"}, "request_revision": {"reason": "x"}}.get(command, {})
    before = seeded.snapshot()
    with pytest.raises(mk.InvalidTransition) as err:
        getattr(seeded.market.orders, command)(order.id, by=by, **kwargs)
    process = seeded.market.orders.process
    assert err.value.state == state
    assert err.value.transition == command
    assert set(err.value.allowed) == set(process.allowed_from(state)) >= includes
    assert command not in {process.get(t).command_name for t in err.value.allowed}
    assert state in str(err.value)
    assert seeded.snapshot() == before


def test_final_states_allow_nothing(seeded: World) -> None:
    process = seeded.market.orders.process
    for state in ("completed", "cancelled", "expired"):
        assert process.allowed_from(state) == ()


def test_max_revisions_from_config(make_world: WorldFactory) -> None:
    world = make_world(mk.MarketConfig.khamsat().evolve(max_revisions=2))
    m = world.market
    order = world.delivered()
    for n in (1, 2):
        assert m.orders.request_revision(order.id, by=world.amal, reason=f"#{n}").revisions == n
        m.orders.deliver(order.id, by=world.omar, message=f"v{n + 1}")
    before = world.snapshot()
    with pytest.raises(mk.LimitExceeded) as err:
        m.orders.request_revision(order.id, by=world.amal, reason="#3")
    assert (err.value.limit, err.value.value) == ("max_revisions", 2)
    assert world.snapshot() == before
    assert m.orders.accept(order.id, by=world.amal).state == "completed"


def test_revisions_are_unlimited_by_default(seeded: World) -> None:
    order = seeded.delivered()
    for n in range(1, 6):
        seeded.market.orders.request_revision(order.id, by=seeded.amal, reason=f"#{n}")
        order = seeded.market.orders.deliver(order.id, by=seeded.omar, message=f"v{n}")
    assert order.revisions == 5 and len(order.deliveries) == 6
