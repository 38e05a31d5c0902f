"""Payments that settle later: multi-order charges, webhooks applied exactly once, timeouts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

import microkit as mk
from _lossy import LosesFirstAnswer  # found through conftest's sys.path entry
from microkit import Money

if TYPE_CHECKING:
    from conftest import World


# -- one charge for several orders ---------------------------------------------------


def test_pay_orders_funds_each_escrow_by_its_own_transaction(seeded: World) -> None:
    m = seeded.market
    a, b = seeded.place(), seeded.place(upgrade=True)
    payment = m.payments.pay_orders([a.id, b.id], by=seeded.amal, gateway="sandbox",
                                    idempotency_key="cart-1")
    assert payment.state == "succeeded" and payment.order_ids == (a.id, b.id)
    assert payment.amount == Money.of("15", "USD")
    assert {m.orders.get(o.id).state for o in (a, b)} == {"paid"}
    assert m.ledger.account_balance(f"escrow:order:{a.id}") == Money.of("5", "USD")
    assert m.ledger.account_balance(f"escrow:order:{b.id}") == Money.of("10", "USD")
    assert m.ledger.account_balance("gateway:sandbox") == Money.of("-15", "USD")
    assert len(m.payments.gateway("sandbox").charges) == 1  # type: ignore[attr-defined]
    again = m.payments.pay_orders([a.id, b.id], by=seeded.amal, gateway="sandbox",
                                  idempotency_key="cart-1")
    assert again == payment
    assert m.ledger.verify().ok


def test_pay_orders_is_all_or_nothing(seeded: World) -> None:
    m = seeded.market
    a, b = seeded.place(), seeded.paid()
    before = seeded.snapshot()
    with pytest.raises(mk.InvalidTransition):
        m.payments.pay_orders([a.id, b.id], by=seeded.amal, gateway="sandbox",
                              idempotency_key="cart-2")
    assert seeded.snapshot() == before


def test_pay_orders_from_the_balance_is_all_or_nothing(seeded: World) -> None:
    m = seeded.market
    m.payments.top_up(Money.of("5", "USD"), by=seeded.amal, gateway="sandbox",
                      idempotency_key="top")
    a, b = seeded.place(), seeded.place()
    before = seeded.snapshot()
    with pytest.raises(mk.InsufficientFunds) as err:
        m.payments.pay_orders([a.id, b.id], by=seeded.amal, gateway="balance",
                              idempotency_key="cart-3")
    # What the buyer has and what the payment needs, not what the first order left.
    assert (err.value.balance, err.value.needed) == (500, 1000)
    assert seeded.snapshot() == before


@pytest.mark.parametrize("ids", [[], ["x", "x"], [""], "not-a-list-of-ids-but-ok"])
def test_pay_orders_validates_the_ids(seeded: World, ids: list[str]) -> None:
    order = seeded.place()
    if isinstance(ids, str):
        ids = [order.id, order.id]
    with pytest.raises(mk.ValidationError) as err:
        seeded.market.payments.pay_orders(ids, by=seeded.amal, gateway="sandbox",
                                          idempotency_key="k")
    assert err.value.field == "order_ids"


def test_pay_orders_refuses_another_buyers_order(seeded: World) -> None:
    m = seeded.market
    m.users.register("huda", display_name="Huda")
    mine = seeded.place()
    hers = m.orders.place(seeded.service.id, by=mk.Actor.user("huda"))
    with pytest.raises(mk.PermissionDenied):
        m.payments.pay_orders([mine.id, hers.id], by=seeded.amal, gateway="sandbox",
                              idempotency_key="k")
    assert m.payments.gateway("sandbox").charges == {}  # type: ignore[attr-defined]


# -- webhooks --------------------------------------------------------------------------

from typing import Any  # noqa: E402

from microkit.payments.builtin import SandboxGateway  # noqa: E402
from microkit.payments.gateway import ChargeRequest, ChargeResult  # noqa: E402


def sandbox(world: World, name: str = "sandbox") -> SandboxGateway:
    gw = world.market.payments.gateway(name)
    assert isinstance(gw, SandboxGateway)
    return gw


def pending_payment(world: World, *, upgrade: bool = False) -> tuple[mk.Order, mk.Payment]:
    gw = sandbox(world)
    gw.outcome = "pending"
    order = world.place(upgrade=upgrade)
    payment = world.market.payments.pay(order.id, by=world.amal, gateway="sandbox",
                                        idempotency_key=f"k-{order.id}")
    gw.outcome = "succeeded"
    assert payment.state == "pending" and payment.reference
    return order, payment


def test_pending_charge_is_paid_by_its_webhook_exactly_once(seeded: World) -> None:
    m = seeded.market
    order, payment = pending_payment(seeded)
    assert m.orders.get(order.id).state == "pending_payment"
    assert payment.reference is not None
    headers, body = sandbox(seeded).webhook(payment.reference, event_id="ev_1")
    first = m.payments.handle_webhook("sandbox", headers, body)
    assert (first.outcome, first.subject) == ("applied", f"payment:{payment.id}")
    assert m.orders.get(order.id).state == "paid"
    assert m.payments.get(payment.id).state == "succeeded"
    before = seeded.snapshot()
    again = m.payments.handle_webhook("sandbox", headers, body)
    assert again.outcome == "duplicate"
    assert seeded.snapshot() == before
    # Another delivery of the same news under a new event id moves nothing either.
    h2, b2 = sandbox(seeded).webhook(payment.reference, event_id="ev_2")
    assert m.payments.handle_webhook("sandbox", h2, b2).outcome == "ignored"
    assert m.ledger.account_balance(f"escrow:order:{order.id}") == order.total
    assert m.ledger.verify().ok


def test_failure_arriving_after_success_is_ignored(seeded: World) -> None:
    m = seeded.market
    order, payment = pending_payment(seeded)
    assert payment.reference is not None
    ok = sandbox(seeded).webhook(payment.reference, "charge.succeeded", event_id="a")
    late_fail = sandbox(seeded).webhook(payment.reference, "charge.failed", event_id="b")
    assert m.payments.handle_webhook("sandbox", *ok).outcome == "applied"
    assert m.payments.handle_webhook("sandbox", *late_fail).outcome == "ignored"
    assert m.orders.get(order.id).state == "paid"
    assert m.ledger.verify().ok


def test_failure_then_late_success_still_applies_the_money(seeded: World) -> None:
    m = seeded.market
    order, payment = pending_payment(seeded)
    assert payment.reference is not None
    fail = sandbox(seeded).webhook(payment.reference, "charge.failed", event_id="a")
    ok = sandbox(seeded).webhook(payment.reference, "charge.succeeded", event_id="b")
    assert m.payments.handle_webhook("sandbox", *fail).outcome == "applied"
    assert m.payments.get(payment.id).state == "failed"
    assert m.payments.handle_webhook("sandbox", *ok).outcome == "applied"
    assert m.payments.get(payment.id).state == "succeeded"
    assert m.orders.get(order.id).state == "paid"
    assert m.ledger.verify().ok


def test_capture_for_a_cancelled_order_lands_on_the_buyer_balance(seeded: World) -> None:
    m = seeded.market
    order, payment = pending_payment(seeded)
    m.orders.cancel(order.id, by=seeded.amal)
    assert payment.reference is not None
    result = m.payments.handle_webhook("sandbox", *sandbox(seeded).webhook(payment.reference))
    assert result.outcome == "applied"
    assert m.orders.get(order.id).state == "cancelled"
    assert m.ledger.balance("amal").available == order.total
    assert m.ledger.verify().ok


@pytest.mark.parametrize("meanwhile", ["cancelled", "paid with another key"])
def test_an_order_that_changes_while_the_card_is_charged(
    seeded: World, monkeypatch: pytest.MonkeyPatch, meanwhile: str
) -> None:
    # pay() records the answer starting from what its pre-check read: the order's
    # change must still win, and the charge land on the buyer's balance.
    m, amal = seeded.market, seeded.amal
    order = seeded.place()
    charge = SandboxGateway.create_charge

    def racing(self: SandboxGateway, request: ChargeRequest) -> ChargeResult:
        monkeypatch.setattr(SandboxGateway, "create_charge", charge)
        if meanwhile == "cancelled":
            m.orders.cancel(order.id, by=amal)
        else:
            m.payments.pay(order.id, by=amal, gateway="sandbox", idempotency_key="other")
        return charge(self, request)

    monkeypatch.setattr(SandboxGateway, "create_charge", racing)
    payment = m.payments.pay(order.id, by=amal, gateway="sandbox", idempotency_key="late")
    assert payment.state == "succeeded"
    expected = "cancelled" if meanwhile == "cancelled" else "paid"
    assert m.orders.get(order.id).state == expected
    assert m.ledger.balance("amal").available == order.total  # the late charge, unapplied
    assert m.ledger.verify().ok


def test_webhook_for_an_unknown_charge_moves_nothing(seeded: World) -> None:
    m = seeded.market
    before = seeded.snapshot()["balances"]
    result = m.payments.handle_webhook("sandbox", *sandbox(seeded).webhook("sbx_ch_999"))
    assert result.outcome == "unmatched"
    assert seeded.snapshot()["balances"] == before
    assert m.ledger.verify().ok


def test_webhook_that_overtakes_the_charge_answer_is_applied_when_it_is_recorded(
    make_world: Any,
) -> None:
    holder: dict[str, mk.Marketplace] = {}

    class Racing:
        """Answers pending, but its success webhook is delivered before the answer."""

        name = "racing"
        currencies: frozenset[str] = frozenset()

        def __init__(self, clock: Any) -> None:
            self.inner = SandboxGateway(name="racing", clock=clock)

        def create_charge(self, request: ChargeRequest) -> ChargeResult:
            self.inner.outcome = "pending"
            result = self.inner.create_charge(request)
            assert result.reference is not None
            headers, body = self.inner.webhook(result.reference)
            # The sandbox echoes the payment id; drop it, as many processors would.
            import json

            data = json.loads(body)
            data.pop("payment_id", None)
            from microkit.payments import _signing

            body = json.dumps(data).encode()
            headers = {_signing.SIGNATURE_HEADER: _signing.sign(
                body, secret="whsec_sandbox", timestamp=self.inner._clock())}
            out = holder["m"].payments.handle_webhook("racing", headers, body)
            assert out.outcome == "unmatched"
            return result

        def refund(self, request: Any) -> Any:
            return self.inner.refund(request)

        def parse_webhook(self, headers: Any, body: bytes) -> Any:
            return self.inner.parse_webhook(headers, body)

    class Plugin:
        @mk.hookimpl
        def microkit_payment_gateways(self, config: Any, clock: Any, register: Any) -> None:
            register(Racing(lambda: int(clock.now().timestamp())))

    world = make_world(plugins=(Plugin(),))
    holder["m"] = world.market
    order = world.place()
    payment = world.market.payments.pay(order.id, by=world.amal, gateway="racing",
                                        idempotency_key="race")
    assert payment.state == "succeeded"
    assert world.market.orders.get(order.id).state == "paid"
    assert world.market.ledger.verify().ok


@pytest.mark.parametrize("attack", ["tampered", "truncated", "wrong_secret", "stale",
                                    "no_header", "replayed_old"])
def test_bad_webhooks_are_refused_and_change_nothing(seeded: World, attack: str) -> None:
    m = seeded.market
    order, payment = pending_payment(seeded)
    assert payment.reference is not None
    gw = sandbox(seeded)
    headers, body = gw.webhook(payment.reference)
    if attack == "tampered":
        body = body.replace(b"charge.succeeded", b"charge.failed")
    elif attack == "truncated":
        body = body[:-5]
    elif attack == "wrong_secret":
        from microkit.payments import _signing

        headers = {_signing.SIGNATURE_HEADER: _signing.sign(
            body, secret="whsec_other", timestamp=int(seeded.clock.now().timestamp()))}
    elif attack == "stale":
        headers, body = gw.webhook(payment.reference,
                                   timestamp=int(seeded.clock.now().timestamp()) - 301)
    elif attack == "no_header":
        headers = {}
    else:  # a captured request replayed after the tolerance window
        seeded.clock.advance(minutes=6)
    before = seeded.snapshot()
    with pytest.raises(mk.WebhookVerificationError):
        m.payments.handle_webhook("sandbox", headers, body)
    assert seeded.snapshot() == before
    assert m.orders.get(order.id).state == "pending_payment"


def test_webhook_reporting_another_amount_is_refused(seeded: World) -> None:
    import json

    from microkit.payments import _signing

    m = seeded.market
    _, payment = pending_payment(seeded)
    assert payment.reference is not None
    _, body = sandbox(seeded).webhook(payment.reference)
    data = json.loads(body)
    data["amount"] = [1, "USD"]
    body = json.dumps(data).encode()
    headers = {_signing.SIGNATURE_HEADER: _signing.sign(
        body, secret="whsec_sandbox", timestamp=int(seeded.clock.now().timestamp()))}
    before = seeded.snapshot()
    with pytest.raises(mk.PaymentError):
        m.payments.handle_webhook("sandbox", headers, body)
    assert seeded.snapshot() == before


def test_pending_charge_expires_through_tick_and_a_late_capture_goes_to_balance(
    seeded: World,
) -> None:
    m = seeded.market
    order, payment = pending_payment(seeded)
    seeded.clock.advance(hours=25)
    summary = m.tick()
    assert summary.ran.get("payment_expired") == 1
    assert m.payments.get(payment.id).state == "expired"
    assert m.orders.get(order.id).state == "expired"
    assert payment.reference is not None
    result = m.payments.handle_webhook("sandbox", *sandbox(seeded).webhook(payment.reference))
    assert result.outcome == "applied"
    assert m.ledger.balance("amal").available == order.total
    assert m.ledger.verify().ok


# -- manual bank transfers, top-ups, split payments ------------------------------------


def test_manual_payment_waits_for_staff_confirmation(seeded: World) -> None:
    m = seeded.market
    order = seeded.place()
    payment = m.payments.pay(order.id, by=seeded.amal, gateway="manual", idempotency_key="m1")
    assert payment.state == "pending"
    with pytest.raises(mk.PermissionDenied):
        m.payments.confirm_manual(payment.id, by=seeded.amal, reference="TRX-1")
    done = m.payments.confirm_manual(payment.id, by=seeded.staff, reference="TRX-1")
    assert done.state == "succeeded" and done.transfer_reference == "TRX-1"
    assert m.orders.get(order.id).state == "paid"
    with pytest.raises(mk.InvalidTransition):
        m.payments.confirm_manual(payment.id, by=seeded.staff, reference="TRX-1")
    assert m.ledger.account_balance("gateway:manual") == -order.total
    assert m.ledger.verify().ok


def test_top_up_then_pay_from_the_balance(seeded: World) -> None:
    m = seeded.market
    top = m.payments.top_up(Money.of("10", "USD"), by=seeded.amal, gateway="sandbox",
                            idempotency_key="t1")
    assert top.state == "succeeded" and top.order_ids == ()
    assert m.payments.top_up(Money.of("10", "USD"), by=seeded.amal, gateway="sandbox",
                             idempotency_key="t1") == top
    assert m.ledger.balance("amal").available == Money.of("10", "USD")
    order = seeded.place(upgrade=True)
    m.payments.pay(order.id, by=seeded.amal, gateway="balance", idempotency_key="b1")
    assert m.orders.get(order.id).state == "paid"
    assert m.ledger.balance("amal").available == Money.zero("USD")
    assert m.ledger.verify().ok


@pytest.mark.parametrize("amount", [Money.of("0", "USD"), Money.of("5", "EUR"), "5"])
def test_top_up_refuses_bad_amounts(seeded: World, amount: Any) -> None:
    before = seeded.snapshot()
    with pytest.raises(mk.ValidationError):
        seeded.market.payments.top_up(amount, by=seeded.amal, gateway="sandbox",
                                      idempotency_key="t")
    assert seeded.snapshot() == before


def test_a_balance_that_would_pass_64_bits_is_refused(seeded: World) -> None:
    # SQLite would turn the sum into a float and PostgreSQL's BIGINT refuse it: every
    # backend refuses the posting instead, and nothing of it stays.
    m = seeded.market
    big = Money(2**62 + 5, "USD")
    m.payments.top_up(big, by=seeded.amal, gateway="sandbox", idempotency_key="1")
    before = seeded.snapshot()
    with pytest.raises(mk.InvalidAmount) as err:
        m.payments.top_up(big, by=seeded.amal, gateway="sandbox", idempotency_key="2")
    assert err.value.field == "amount"
    assert seeded.snapshot() == before
    assert m.ledger.balance("amal").available == big
    assert m.ledger.verify().ok


def top_up(world: World, value: str) -> None:
    world.market.payments.top_up(Money.of(value, "USD"), by=world.amal, gateway="sandbox",
                                 idempotency_key=f"top-{value}-{world.clock.now()}")


def test_split_payment_part_balance_part_card(seeded: World) -> None:
    m = seeded.market
    top_up(seeded, "3")
    order = seeded.place(upgrade=True)  # 10 USD
    payment = m.payments.pay_orders([order.id], by=seeded.amal, gateway="sandbox",
                                    idempotency_key="split", from_balance=Money.of("3", "USD"))
    assert payment.state == "succeeded" and payment.charged == Money.of("7", "USD")
    assert m.orders.get(order.id).state == "paid"
    assert m.ledger.balance("amal").available == Money.zero("USD")
    assert m.ledger.account_balance(f"escrow:order:{order.id}") == Money.of("10", "USD")
    assert m.ledger.account_balance(f"payment:{payment.id}") == Money.zero("USD")
    assert m.ledger.account_balance("gateway:sandbox") == Money.of("-10", "USD")
    assert m.ledger.verify().ok


def test_split_payment_declined_card_releases_the_hold(make_world: Any) -> None:
    class Declining:
        @mk.hookimpl
        def microkit_payment_gateways(self, config: Any, clock: Any, register: Any) -> None:
            register(SandboxGateway(name="declines", outcome="failed",
                                    clock=lambda: int(clock.now().timestamp())))

    world = make_world(plugins=(Declining(),))
    m = world.market
    top_up(world, "3")
    order = world.place(upgrade=True)
    with pytest.raises(mk.PaymentError):
        m.payments.pay_orders([order.id], by=world.amal, gateway="declines",
                              idempotency_key="s", from_balance=Money.of("3", "USD"))
    assert m.ledger.balance("amal").available == Money.of("3", "USD")
    assert m.orders.get(order.id).state == "pending_payment"
    assert m.ledger.verify().ok


def test_split_payment_pending_card_holds_then_releases_on_expiry(seeded: World) -> None:
    m = seeded.market
    top_up(seeded, "3")
    order = seeded.place(upgrade=True)
    sandbox(seeded).outcome = "pending"
    payment = m.payments.pay_orders([order.id], by=seeded.amal, gateway="sandbox",
                                    idempotency_key="s", from_balance=Money.of("3", "USD"))
    assert payment.state == "pending"
    assert m.ledger.balance("amal").available == Money.zero("USD")  # held
    seeded.clock.advance(hours=25)
    m.tick()
    assert m.payments.get(payment.id).state == "expired"
    assert m.ledger.balance("amal").available == Money.of("3", "USD")
    assert m.ledger.verify().ok


def test_a_lost_answer_settled_by_webhook_refunds_to_the_card(make_world: Any) -> None:
    # The webhook finds the payment by its id and teaches it the charge's reference, so
    # a refund to the original card can go through the gateway.
    lossy = LosesFirstAnswer()
    world = make_world(mk.MarketConfig.khamsat().evolve(refund_to="original"),
                       plugins=(lossy,))
    m = world.market
    order = world.place()
    with pytest.raises(mk.PaymentError):
        m.payments.pay(order.id, by=world.amal, gateway="lossy", idempotency_key="k")
    assert lossy.sandbox is not None
    ((result, _),) = lossy.sandbox.charges.values()
    assert result.reference is not None
    done = m.payments.handle_webhook("lossy", *lossy.sandbox.webhook(result.reference))
    assert done.outcome == "applied"
    payment = m.payments.get(m.orders.get(order.id).payment_id or "")
    assert payment.reference == result.reference
    m.orders.cancel(order.id, by=world.omar, reason="لا أستطيع")  # the seller declines
    m.tick()
    [refund] = m.payments.refunds_of(payment.id)
    assert (refund.state, refund.amount) == ("succeeded", order.total)
    assert m.ledger.balance("amal").available == Money.zero("USD")  # back on the card
    assert m.ledger.account_balance("gateway:lossy") == Money.zero("USD")
    assert m.ledger.verify().ok


def split_pending(world: World) -> tuple[mk.Order, mk.Payment]:
    """A 10 USD order paid 3 from the balance and 7 by a card charge left pending."""
    top_up(world, "3")
    order = world.place(upgrade=True)
    sandbox(world).outcome = "pending"
    payment = world.market.payments.pay_orders(
        [order.id], by=world.amal, gateway="sandbox", idempotency_key="s",
        from_balance=Money.of("3", "USD"))
    sandbox(world).outcome = "succeeded"
    assert payment.state == "pending" and payment.reference is not None
    return order, payment


def settle(world: World, payment: mk.Payment, type: str, event_id: str) -> str:
    """Deliver the sandbox's ``type`` webhook about ``payment``; what it did."""
    assert payment.reference is not None
    hook = sandbox(world).webhook(payment.reference, type, event_id=event_id)
    return world.market.payments.handle_webhook("sandbox", *hook).outcome


def test_split_payment_declined_then_captured_holds_the_balance_part_again(
    seeded: World,
) -> None:
    # The decline released the 3 held; the late capture brings 7. Together they still
    # pay the order, so the 3 are held again from the balance.
    m = seeded.market
    order, payment = split_pending(seeded)
    assert settle(seeded, payment, "charge.failed", "a") == "applied"
    assert m.ledger.balance("amal").available == Money.of("3", "USD")
    assert settle(seeded, payment, "charge.succeeded", "b") == "applied"
    assert m.payments.get(payment.id).state == "succeeded"
    assert m.orders.get(order.id).state == "paid"
    assert m.ledger.balance("amal").available == Money.zero("USD")
    assert m.ledger.account_balance(f"escrow:order:{order.id}") == Money.of("10", "USD")
    assert m.ledger.account_balance(f"payment:{payment.id}") == Money.zero("USD")
    assert m.ledger.verify().ok


def test_split_payment_captured_after_the_buyer_spent_the_released_part(
    seeded: World,
) -> None:
    # The 3 released were spent on another order: the card's 7 cannot pay the first one
    # alone, so they land on the buyer's balance and the order stays unpaid.
    m = seeded.market
    order, payment = split_pending(seeded)
    assert settle(seeded, payment, "charge.failed", "a") == "applied"
    other = seeded.place()  # 5 USD
    top_up(seeded, "2")
    m.payments.pay(other.id, by=seeded.amal, gateway="balance", idempotency_key="other")
    assert m.ledger.balance("amal").available == Money.zero("USD")
    assert settle(seeded, payment, "charge.succeeded", "b") == "applied"
    assert m.payments.get(payment.id).state == "succeeded"
    assert m.orders.get(order.id).state == "pending_payment"
    assert m.ledger.balance("amal").available == Money.of("7", "USD")
    assert m.ledger.account_balance(f"payment:{payment.id}") == Money.zero("USD")
    assert m.ledger.account_balance("gateway:sandbox") == Money.of("-12", "USD")
    assert m.ledger.verify().ok


def test_split_payment_expired_then_captured_lands_on_the_balance(seeded: World) -> None:
    m = seeded.market
    order, payment = split_pending(seeded)
    seeded.clock.advance(hours=25)
    m.tick()
    assert m.payments.get(payment.id).state == "expired"
    assert m.orders.get(order.id).state == "expired"
    assert settle(seeded, payment, "charge.succeeded", "late") == "applied"
    # Both parts are the buyer's again: the 3 released, the 7 the card brought.
    assert m.ledger.balance("amal").available == Money.of("10", "USD")
    assert m.ledger.account_balance(f"payment:{payment.id}") == Money.zero("USD")
    assert m.ledger.verify().ok


def test_split_payment_retried_after_a_lost_answer_charges_once(make_world: Any) -> None:
    lossy = LosesFirstAnswer()
    world = make_world(plugins=(lossy,))
    m = world.market
    top_up(world, "3")
    order = world.place(upgrade=True)

    def pay() -> mk.Payment:
        return m.payments.pay_orders([order.id], by=world.amal, gateway="lossy",
                                     idempotency_key="s", from_balance=Money.of("3", "USD"))

    with pytest.raises(mk.PaymentError) as err:
        pay()
    assert err.value.outcome_unknown
    assert m.ledger.balance("amal").available == Money.zero("USD")  # held: it may be paid
    payment = pay()  # the same key: the processor answers the first charge again
    assert payment.state == "succeeded"
    assert m.orders.get(order.id).state == "paid"
    assert lossy.sandbox is not None and len(lossy.sandbox.charges) == 1
    assert m.ledger.balance("amal").available == Money.zero("USD")
    assert m.ledger.account_balance("gateway:lossy") == Money.of("-7", "USD")
    assert m.ledger.account_balance(f"escrow:order:{order.id}") == Money.of("10", "USD")
    assert m.ledger.verify().ok


@pytest.mark.parametrize("wrapped", [False, True], ids=["raised", "plugin PaymentError"])
def test_a_charge_whose_answer_was_lost_is_applied_by_its_webhook(
    make_world: Any, wrapped: bool,
) -> None:
    # Nobody retries, and the order expires: the processor's webhook still finds the
    # payment (by the id it echoes) and the money lands on the buyer's balance. A plugin
    # that wraps its timeout in its own PaymentError gave no answer either.
    lossy = LosesFirstAnswer(wrapped=wrapped)
    world = make_world(plugins=(lossy,))
    m = world.market
    order = world.place()
    with pytest.raises(mk.PaymentError) as err:
        m.payments.pay(order.id, by=world.amal, gateway="lossy", idempotency_key="k")
    assert err.value.outcome_unknown
    world.clock.advance(hours=25)
    m.tick()
    assert m.orders.get(order.id).state == "expired"
    assert lossy.sandbox is not None
    ((result, _),) = lossy.sandbox.charges.values()
    assert result.reference is not None
    done = m.payments.handle_webhook("lossy", *lossy.sandbox.webhook(result.reference))
    assert done.outcome == "applied"
    assert m.ledger.balance("amal").available == order.total
    assert m.ledger.account_balance("gateway:lossy") == -order.total
    assert m.ledger.verify().ok


def test_split_payment_needs_enough_balance(seeded: World) -> None:
    order = seeded.place(upgrade=True)
    before = seeded.snapshot()
    with pytest.raises(mk.InsufficientFunds):
        seeded.market.payments.pay_orders(
            [order.id], by=seeded.amal, gateway="sandbox", idempotency_key="s",
            from_balance=Money.of("3", "USD"))
    assert seeded.snapshot() == before
    assert sandbox(seeded).charges == {}


# -- gateways that misbehave -----------------------------------------------------------


class Garbage:
    name = "garbage"
    currencies: frozenset[str] = frozenset()

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def create_charge(self, request: Any) -> Any:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    def refund(self, request: Any) -> Any:
        return self.answer

    def parse_webhook(self, headers: Any, body: bytes) -> Any:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.mark.parametrize("answer", [
    None, "succeeded", ChargeResult("weird"), ChargeResult("pending"),  # type: ignore[arg-type]
    ChargeResult("succeeded", reference=""), RuntimeError("boom"),
])
def test_a_gateway_that_raises_or_answers_garbage_is_a_payment_error(
    make_world: Any, answer: Any,
) -> None:
    class Plugin:
        @mk.hookimpl
        def microkit_payment_gateways(self, config: Any, clock: Any, register: Any) -> None:
            register(Garbage(answer))

    world = make_world(plugins=(Plugin(),))
    m = world.market
    order = world.place()
    with pytest.raises(mk.PaymentError) as err:
        m.payments.pay(order.id, by=world.amal, gateway="garbage", idempotency_key="g")
    # No usable answer: the charge may have gone through, so the payment waits, pending
    # and moving no money, for a webhook, a retry with its key, or its timeout.
    assert err.value.outcome_unknown
    (event,) = [e for e in m.events.read(after=0) if e.name.startswith("payment.")]
    payment = m.payments.get(event.data["payment_id"])
    assert (event.name, payment.state, payment.reference) == ("payment.pending", "pending", None)
    assert m.orders.get(order.id).state == "pending_payment"
    assert m.ledger.account_balance("gateway:garbage") == Money.zero("USD")
    before = world.snapshot()
    with pytest.raises(mk.PaymentError):
        m.payments.handle_webhook("garbage", {}, b"{}")
    assert world.snapshot() == before
    world.clock.advance(hours=25)
    m.tick()
    assert m.payments.get(payment.id).state == "expired"
    assert m.ledger.verify().ok
