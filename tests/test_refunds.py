"""Refunds to the site balance or back through the gateway: full, partial, failing, retried.

Every order transition that books money back to a gateway account schedules the gateway
refund itself (``orders.facade``); these tests run the real table, unchanged.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pytest

import microkit as mk
from _overtake import webhook_first  # found through conftest's sys.path entry
from microkit import Money
from microkit.payments.builtin import SandboxGateway
from microkit.payments.refunds import (
    MAX_DECLINES,
    gateway_refund_timer,
    refund_transaction,
)

if TYPE_CHECKING:
    from conftest import World, WorldFactory


@pytest.fixture
def original(make_world: WorldFactory) -> World:
    world = make_world(mk.MarketConfig.khamsat().evolve(refund_to="original"), "5")
    return world


def sandbox(world: World) -> SandboxGateway:
    gw = world.market.payments.gateway("sandbox")
    assert isinstance(gw, SandboxGateway)
    return gw


def cancel_by_staff(world: World, order: mk.Order) -> None:
    world.market.orders.cancel(order.id, by=world.staff, reason="support")


def payment_of(world: World, order: mk.Order) -> mk.Payment:
    paid = next(e for e in world.market.orders.history(order.id) if e.name == "order.paid")
    return world.market.payments.get(paid.data["payment_id"])


def test_refund_to_balance_is_the_khamsat_default(seeded: World) -> None:
    m = seeded.market
    order = seeded.paid(upgrade=True)
    cancel_by_staff(seeded, order)
    assert m.ledger.balance("amal").available == Money.of("10", "USD")
    assert m.tick().ran.get("refund_succeeded") is None
    assert m.ledger.verify().ok


def test_refund_to_original_calls_the_gateway_after_commit(original: World) -> None:
    m = original.market
    order = original.paid(upgrade=True)
    cancel_by_staff(original, order)
    # The ledger moved the money out at once; the gateway is called by tick.
    assert m.ledger.account_balance("gateway:sandbox") == Money.zero("USD")
    assert sandbox(original).refund_calls == 0
    summary = m.tick()
    assert summary.ran.get("refund_succeeded") == 1
    payment = payment_of(original, order)
    [refund] = m.payments.refunds_of(payment.id)
    assert refund.state == "succeeded" and refund.amount == Money.of("10", "USD")
    assert sandbox(original).refund_calls == 1
    assert m.tick().total == 0  # nothing runs twice
    assert m.ledger.balance("amal").available == Money.zero("USD")
    assert m.ledger.verify().ok


def test_refused_refund_is_retried_then_goes_to_the_balance(original: World) -> None:
    m = original.market
    order = original.paid()
    sandbox(original).refund_outcome = "failed"
    cancel_by_staff(original, order)
    m.tick()
    for _ in range(MAX_DECLINES):
        original.clock.advance(days=2)
        m.tick()
    [refund] = m.payments.refunds_of(payment_of(original, order).id)
    assert refund.state == "to_balance" and refund.declines == MAX_DECLINES
    assert m.ledger.balance("amal").available == order.total
    assert m.ledger.account_balance("gateway:sandbox") == -order.total
    keys = set(sandbox(original).refunds)
    assert len(keys) == MAX_DECLINES  # a new key after each refusal
    assert m.ledger.verify().ok


def test_refund_timeout_is_retried_with_the_same_key(original: World) -> None:
    m = original.market
    order = original.paid()
    gw = sandbox(original)
    gw.refund_outcome = "raise"
    cancel_by_staff(original, order)
    m.tick()
    [refund] = m.payments.refunds_of(payment_of(original, order).id)
    assert refund.state == "retrying" and refund.declines == 0
    gw.refund_outcome = "succeeded"
    original.clock.advance(hours=1)
    m.tick()
    refund = m.payments.refund(refund.id)
    assert refund.state == "succeeded"
    assert list(gw.refunds) == [refund.idempotency_key]
    assert m.ledger.verify().ok


def test_pending_refund_settles_by_webhook_once(original: World) -> None:
    m = original.market
    order = original.paid()
    gw = sandbox(original)
    gw.refund_outcome = "pending"
    cancel_by_staff(original, order)
    m.tick()
    [refund] = m.payments.refunds_of(payment_of(original, order).id)
    assert refund.state == "processing" and refund.reference
    hook = gw.webhook(refund.reference, "refund.succeeded", event_id="re1")
    assert m.payments.handle_webhook("sandbox", *hook).outcome == "applied"
    assert m.payments.handle_webhook("sandbox", *hook).outcome == "duplicate"
    assert m.payments.refund(refund.id).state == "succeeded"
    late = gw.webhook(refund.reference, "refund.failed", event_id="re2")
    assert m.payments.handle_webhook("sandbox", *late).outcome == "ignored"
    assert m.ledger.verify().ok


def test_manual_refund_is_confirmed_by_staff(make_world: WorldFactory) -> None:
    world = make_world(mk.MarketConfig.khamsat().evolve(refund_to="original"), "5")
    m = world.market
    order = world.place()
    payment = m.payments.pay(order.id, by=world.amal, gateway="manual", idempotency_key="m")
    m.payments.confirm_manual(payment.id, by=world.staff, reference="TRX")
    cancel_by_staff(world, order)
    m.tick()
    [refund] = m.payments.refunds_of(payment.id)
    assert refund.state == "processing"
    with pytest.raises(mk.PermissionDenied):
        m.payments.confirm_refund(refund.id, by=world.amal, reference="BACK")
    assert m.payments.confirm_refund(refund.id, by=world.staff,
                                     reference="BACK").state == "succeeded"
    with pytest.raises(mk.InvalidTransition):
        m.payments.confirm_refund(refund.id, by=world.staff, reference="BACK")
    assert m.ledger.verify().ok


def test_split_payment_refund_sends_only_the_card_part_to_the_gateway(original: World) -> None:
    m = original.market
    start = original.clock.now()
    m.payments.top_up(Money.of("3", "USD"), by=original.amal, gateway="sandbox",
                      idempotency_key="top")
    order = original.place(upgrade=True)
    payment = m.payments.pay_orders([order.id], by=original.amal, gateway="sandbox",
                                    idempotency_key="split", from_balance=Money.of("3", "USD"))
    # The top-up is a charge too: refunds are capped per payment, not per gateway.
    cancel_by_staff(original, order)
    m.tick()
    [refund] = m.payments.refunds_of(payment.id)
    assert refund.amount == Money.of("7", "USD") and refund.state == "succeeded"
    assert m.ledger.balance("amal").available == Money.of("3", "USD")
    # The settlement report shows what the processor did: 7 refunded, nothing refused.
    report = m.ledger.settlement("sandbox", start, original.clock.now() + dt.timedelta(1))
    assert (report.refund_count, report.refunds) == (1, Money.of("7", "USD"))
    assert report.refunds_reversed == Money.zero("USD")
    assert report.net == Money.of("3", "USD")  # 3 top-up + 7 card in, 7 back out
    assert m.ledger.verify().ok


def test_dispute_split_refunds_part_through_the_gateway(original: World) -> None:
    m = original.market
    start = original.clock.now()
    order = original.delivered(upgrade=True)
    m.orders.open_dispute(order.id, by=original.amal, reason="half done")
    m.orders.resolve_dispute(order.id, by=original.staff, outcome="split",
                             resolution="half each", seller_part=Money.of("5", "USD"))
    m.tick()
    [refund] = m.payments.refunds_of(payment_of(original, order).id)
    assert refund.state == "succeeded" and refund.amount == Money.of("5", "USD")
    report = m.ledger.settlement("sandbox", start, original.clock.now() + dt.timedelta(1))
    assert (report.money_in, report.refund_count, report.refunds) == (
        Money.of("10", "USD"), 1, Money.of("5", "USD"))
    assert m.ledger.verify().ok


@pytest.mark.parametrize("amount", ["0", "10.01"])
def test_refund_transaction_refuses_more_than_was_paid(seeded: World, amount: str) -> None:
    order = seeded.paid(upgrade=True)
    with pytest.raises(mk.ValidationError):
        refund_transaction(order, Money.of(amount, "USD"), seeded.market.config,
                           txn_id="x", at=seeded.clock.now())


def test_refund_transaction_refuses_another_currency(seeded: World) -> None:
    order = seeded.paid()
    with pytest.raises(mk.CurrencyMismatch):
        refund_transaction(order, Money.of("1", "LYD"), seeded.market.config, txn_id="x",
                           at=seeded.clock.now())


def test_partial_refund_transaction_is_balanced(seeded: World) -> None:
    order = seeded.paid(upgrade=True)
    txn = refund_transaction(order, Money.of("4", "USD"), seeded.market.config,
                             txn_id="order:x:partial", at=seeded.clock.now())
    assert sum(p.amount for p in txn.postings) == 0
    assert gateway_refund_timer(txn) is None  # to the balance: no gateway call


@pytest.mark.parametrize(("event", "state"), [("refund.succeeded", "succeeded"),
                                              ("refund.failed", "retrying")])
def test_refund_webhook_that_overtakes_the_gateways_answer_is_applied_when_it_is_recorded(
    original: World, monkeypatch: pytest.MonkeyPatch, event: str, state: str,
) -> None:
    m = original.market
    order = original.paid()
    sandbox(original).refund_outcome = "pending"
    early = webhook_first(monkeypatch, SandboxGateway, "refund", event,
                          m.payments.handle_webhook)
    cancel_by_staff(original, order)
    m.tick()
    [refund] = m.payments.refunds_of(payment_of(original, order).id)
    assert early == ["unmatched"]
    assert refund.state == state
    if state == "retrying":
        assert refund.declines == 1
    assert m.ledger.verify().ok
