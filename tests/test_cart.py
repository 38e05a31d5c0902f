"""The cart (MicroLibya): add, remove, view, checkout with one payment; changes reported."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

import microkit as mk
from _lossy import LosesFirstAnswer, deliver_capture  # conftest's sys.path entry
from microkit import Money

if TYPE_CHECKING:
    from conftest import World, WorldFactory


def test_checkout_places_orders_funded_separately_by_one_payment(microlibya: World) -> None:
    w, m = microlibya, microlibya.market
    other = w.add_service("20")
    m.cart.add(w.service.id, by=w.amal, upgrades=[w.service.upgrades[0].id], quantity=2)
    m.cart.add(other.id, by=w.amal)
    view = m.cart.view(by=w.amal)
    assert view.total == Money.of("69.380", "LYD") and view.problems == ()
    result = m.cart.checkout(by=w.amal, gateway="sandbox", idempotency_key="cart-1")
    assert len(result.orders) == 3 and all(o.state == "paid" for o in result.orders)
    assert result.payment.amount == Money.of("69.380", "LYD")
    for order in result.orders:
        escrow = m.ledger.account_balance(f"escrow:order:{order.id}")
        assert escrow == order.total
    assert m.cart.view(by=w.amal).lines == ()
    again = m.cart.checkout(by=w.amal, gateway="sandbox", idempotency_key="cart-1")
    assert [o.id for o in again.orders] == [o.id for o in result.orders]
    assert m.ledger.verify().ok


def test_inactive_or_repriced_services_are_reported_not_bought(seeded: World) -> None:
    m, w = seeded.market, seeded
    keep = w.add_service("5")
    gone = w.add_service("10")
    pricier = w.add_service("15")
    for svc in (keep, gone, pricier):
        m.cart.add(svc.id, by=w.amal)
    m.catalog.pause(gone.id, by=w.omar)
    m.catalog.update_service(pricier.id, by=w.omar, price=Money.of("20", "USD"))
    if m.catalog.get(pricier.id).state != "approved":
        m.catalog.approve(pricier.id, by=w.staff)
    view = m.cart.view(by=w.amal)
    status = {line.item.service_id: line.status for line in view.lines}
    assert status == {keep.id: "ok", gone.id: "unavailable", pricier.id: "price_changed"}
    assert view.total == Money.of("5", "USD")
    result = m.cart.checkout(by=w.amal, gateway="sandbox", idempotency_key="k")
    assert [o.service_id for o in result.orders] == [keep.id]
    assert {line.item.service_id for line in result.skipped} == {gone.id, pricier.id}
    left = m.cart.view(by=w.amal).lines
    assert {line.item.service_id for line in left} == {gone.id, pricier.id}
    repriced = next(line for line in left if line.item.service_id == pricier.id)
    m.cart.confirm(repriced.item.id, by=w.amal)
    assert m.cart.view(by=w.amal).total == Money.of("20", "USD")


def test_failed_payment_buys_nothing_and_keeps_the_cart(seeded: World) -> None:
    m, w = seeded.market, seeded
    m.cart.add(w.service.id, by=w.amal)
    with pytest.raises(mk.InsufficientFunds):
        m.cart.checkout(by=w.amal, gateway="balance", idempotency_key="k")
    assert len(m.cart.view(by=w.amal).lines) == 1
    assert all(o.state == "cancelled" for o in m.orders.list(by=w.amal, role="buyer").items)
    assert m.ledger.verify().ok


def lost_checkout(make_world: WorldFactory) -> tuple[World, LosesFirstAnswer]:
    """Two of the service in the cart, checked out with key "k" through a gateway that
    captures the charge and loses its answer."""
    lossy = LosesFirstAnswer()
    w = make_world(plugins=(lossy,))
    w.market.cart.add(w.service.id, by=w.amal, quantity=2)
    with pytest.raises(mk.PaymentError) as err:
        w.market.cart.checkout(by=w.amal, gateway="lossy", idempotency_key="k")
    assert err.value.outcome_unknown
    return w, lossy


def test_checkout_whose_answer_was_lost_is_kept_for_a_retry_with_the_same_key(
    make_world: WorldFactory,
) -> None:
    # The processor captured the charge but its answer never came back. Cancelling the
    # orders would strand that money (the key is dead then, the webhook unmatched);
    # they stay unpaid instead, and the same key learns the outcome.
    w, lossy = lost_checkout(make_world)
    m = w.market
    orders = m.orders.list(by=w.amal, role="buyer").items
    assert [o.state for o in orders] == ["pending_payment"] * 2
    assert len(m.cart.view(by=w.amal).lines) == 1
    done = m.cart.checkout(by=w.amal, gateway="lossy", idempotency_key="k")
    assert done.payment.state == "succeeded"
    assert sorted(o.id for o in done.orders) == sorted(o.id for o in orders)
    assert {m.orders.get(o.id).state for o in orders} == {"paid"}
    assert lossy.sandbox is not None and len(lossy.sandbox.charges) == 1
    assert m.ledger.account_balance("gateway:lossy") == -2 * w.service.price
    assert m.cart.view(by=w.amal).lines == ()
    assert m.ledger.verify().ok


def test_a_line_that_grew_before_the_retry_keeps_what_was_not_bought(
    make_world: WorldFactory,
) -> None:
    w, _ = lost_checkout(make_world)  # two bought, if the charge went through
    m = w.market
    m.cart.add(w.service.id, by=w.amal)  # one more, merged into the same line
    assert [line.item.quantity for line in m.cart.view(by=w.amal).lines] == [3]
    done = m.cart.checkout(by=w.amal, gateway="lossy", idempotency_key="k")
    assert len(done.orders) == 2
    assert [line.item.quantity for line in m.cart.view(by=w.amal).lines] == [1]


def test_a_lost_checkout_captured_by_webhook_leaves_the_cart(
    make_world: WorldFactory,
) -> None:
    # The webhook settles the checkout before anyone retries: the lines were bought, so
    # they leave the cart then (another checkout would buy them twice).
    w, lossy = lost_checkout(make_world)
    m = w.market
    assert deliver_capture(m, lossy) == "applied"
    orders = m.orders.list(by=w.amal, role="buyer").items
    assert [o.state for o in orders] == ["paid"] * 2
    assert m.cart.view(by=w.amal).lines == ()
    again = m.cart.checkout(by=w.amal, gateway="lossy", idempotency_key="k")
    assert sorted(o.id for o in again.orders) == sorted(o.id for o in orders)
    assert lossy.sandbox is not None and len(lossy.sandbox.charges) == 1
    assert m.ledger.verify().ok


def test_a_webhook_capture_takes_out_only_what_was_bought(make_world: WorldFactory) -> None:
    # One of the two orders was cancelled before the capture: its share went to the
    # balance and its unit stays in the cart; the paid one leaves (not bought twice).
    w, lossy = lost_checkout(make_world)
    m = w.market
    first, second = m.orders.list(by=w.amal, role="buyer").items
    m.orders.cancel(first.id, by=w.amal)
    assert deliver_capture(m, lossy) == "applied"
    assert m.orders.get(second.id).state == "paid"
    assert [line.item.quantity for line in m.cart.view(by=w.amal).lines] == [1]
    assert m.ledger.balance("amal").available == w.service.price
    assert m.ledger.verify().ok


def test_a_payment_of_another_buyer_never_settles_a_checkout(
    make_world: WorldFactory,
) -> None:
    # Checkout records are "buyer:key", and ids may hold colons: user "amal:x" paying
    # with key "checkout:k" must not settle amal's checkout "x:k".
    w = make_world()
    m = w.market
    m.users.register("amal:x", display_name="Other")
    m.cart.add(w.service.id, by=w.amal)
    m.payments.gateway("sandbox").outcome = "raise"  # type: ignore[attr-defined]
    with pytest.raises(mk.PaymentError):
        m.cart.checkout(by=w.amal, gateway="sandbox", idempotency_key="x:k")
    m.payments.gateway("sandbox").outcome = "succeeded"  # type: ignore[attr-defined]
    other = m.orders.place(w.service.id, by=mk.Actor.user("amal:x"))
    m.payments.pay(other.id, by=mk.Actor.user("amal:x"), gateway="sandbox",
                   idempotency_key="checkout:k")
    assert [line.item.quantity for line in m.cart.view(by=w.amal).lines] == [1]


def test_a_lost_checkout_whose_orders_expired_keeps_the_cart(
    make_world: WorldFactory,
) -> None:
    # Nobody retried in time: the orders expired and the late capture went to the
    # balance. The lines, never bought, stay, and the key is spent.
    w, lossy = lost_checkout(make_world)
    m = w.market
    w.clock.advance(hours=25)
    m.tick()
    assert deliver_capture(m, lossy) == "applied"
    assert m.ledger.balance("amal").available == 2 * w.service.price
    assert [line.item.quantity for line in m.cart.view(by=w.amal).lines] == [2]
    with pytest.raises(mk.PaymentError, match="failed before"):
        m.cart.checkout(by=w.amal, gateway="lossy", idempotency_key="k")
    assert [line.item.quantity for line in m.cart.view(by=w.amal).lines] == [2]
    assert m.ledger.verify().ok


def test_bad_cart_input(seeded: World) -> None:
    m, w = seeded.market, seeded
    with pytest.raises(mk.ValidationError):
        m.cart.checkout(by=w.amal, gateway="sandbox", idempotency_key="empty")
    for quantity in (0, 11, 1.5):
        with pytest.raises(mk.ValidationError):
            m.cart.add(w.service.id, by=w.amal, quantity=quantity)  # type: ignore[arg-type]
    with pytest.raises(mk.PermissionDenied):
        m.cart.add(w.service.id, by=w.omar)
    with pytest.raises(mk.NotFound):
        m.cart.remove("ci_nope", by=w.amal)
    item = m.cart.add(w.service.id, by=w.amal)
    assert m.cart.add(w.service.id, by=w.amal).quantity == 2
    m.cart.remove(item.id, by=w.amal)
    assert m.cart.view(by=w.amal).lines == ()
