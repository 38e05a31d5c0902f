"""Paying for orders: idempotency keys, gateway failures, the balance gateway."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

import microkit as mk
from microkit import Money
from microkit.payments.builtin import SandboxGateway

if TYPE_CHECKING:
    from conftest import World, WorldFactory


def sandbox(world: World, name: str = "sandbox") -> SandboxGateway:
    gateway = world.market.payments.gateway(name)
    assert isinstance(gateway, SandboxGateway)
    return gateway


def test_same_key_twice_charges_once(seeded: World) -> None:
    m = seeded.market
    order = seeded.place(upgrade=True)
    first = m.payments.pay(order.id, by=seeded.amal, gateway="sandbox", idempotency_key="k1")
    again = m.payments.pay(order.id, by=seeded.amal, gateway="sandbox", idempotency_key="k1")
    assert again == first
    assert first.state == "succeeded" and first.order_ids == (order.id,)
    assert m.payments.get(first.id) == first
    assert len(sandbox(seeded).charges) == 1
    assert m.ledger.account_balance("gateway:sandbox") == Money.of("-10", "USD")
    assert m.ledger.account_balance(f"escrow:order:{order.id}") == Money.of("10", "USD")
    paid_events = [e for e in m.orders.history(order.id) if e.name == "order.paid"]
    assert len(paid_events) == 1
    assert m.ledger.verify().ok


def test_same_key_for_another_order_conflicts(seeded: World) -> None:
    m = seeded.market
    first, second = seeded.place(), seeded.place(upgrade=True)
    m.payments.pay(first.id, by=seeded.amal, gateway="sandbox", idempotency_key="shared")
    before = seeded.snapshot()
    with pytest.raises(mk.Conflict) as err:
        m.payments.pay(second.id, by=seeded.amal, gateway="sandbox", idempotency_key="shared")
    assert err.value.key == "shared"
    assert seeded.snapshot() == before
    assert len(sandbox(seeded).charges) == 1
    assert m.orders.get(second.id).state == "pending_payment"


@pytest.mark.parametrize("second", ["balance", "split"])
def test_same_key_through_another_gateway_or_split_conflicts(seeded: World, second: str) -> None:
    # A pending card charge, then the same key again paid another way: were it taken
    # for a retry, the order would be funded from the card that never paid.
    m = seeded.market
    order = seeded.place()
    sandbox(seeded).outcome = "pending"
    first = m.payments.pay(order.id, by=seeded.amal, gateway="sandbox", idempotency_key="k")
    assert first.state == "pending"
    before = seeded.snapshot()
    with pytest.raises(mk.Conflict) as err:
        if second == "balance":
            m.payments.pay(order.id, by=seeded.amal, gateway="balance", idempotency_key="k")
        else:
            m.payments.pay_orders([order.id], by=seeded.amal, gateway="sandbox",
                                  idempotency_key="k", from_balance=Money.of("1", "USD"))
    assert err.value.key == "k" and "'sandbox'" in str(err.value)
    assert seeded.snapshot() == before
    assert m.orders.get(order.id).state == "pending_payment"
    assert len(sandbox(seeded).charges) == 1


def test_same_key_from_another_buyer_is_another_payment(seeded: World) -> None:
    m = seeded.market
    m.users.register("huda", display_name="Huda")
    mine = seeded.place()
    hers = m.orders.place(seeded.service.id, by=mk.Actor.user("huda"))
    a = m.payments.pay(mine.id, by=seeded.amal, gateway="sandbox", idempotency_key="k")
    b = m.payments.pay(hers.id, by=mk.Actor.user("huda"), gateway="sandbox",
                       idempotency_key="k")
    assert a.id != b.id
    assert {m.orders.get(o.id).state for o in (mine, hers)} == {"paid"}


def test_paying_a_paid_order_with_a_new_key_is_an_invalid_transition(seeded: World) -> None:
    order = seeded.paid()
    before = seeded.snapshot()
    with pytest.raises(mk.InvalidTransition) as err:
        seeded.market.payments.pay(order.id, by=seeded.amal, gateway="sandbox",
                                   idempotency_key="second")
    assert err.value.state == "paid"
    assert "pay" not in err.value.allowed
    assert seeded.snapshot() == before
    assert len(sandbox(seeded).charges) == 1


class FailingSandbox:
    """A plugin adding a sandbox gateway whose every charge is declined."""

    @mk.hookimpl
    def microkit_payment_gateways(self, config: Any, clock: Any, register: Any) -> None:
        register(SandboxGateway(name="sandbox2", outcome="failed",
                                clock=lambda: int(clock.now().timestamp())))


def test_declined_charge_raises_payment_error_and_changes_nothing(
    make_world: WorldFactory,
) -> None:
    world = make_world(plugins=(FailingSandbox(),))
    order = world.place()
    before = world.snapshot()
    with pytest.raises(mk.PaymentError) as err:
        world.market.payments.pay(order.id, by=world.amal, gateway="sandbox2",
                                  idempotency_key="k")
    assert err.value.gateway == "sandbox2"
    assert not err.value.outcome_unknown  # declined: nothing to learn by asking again
    assert world.snapshot() == before
    assert world.market.orders.get(order.id).state == "pending_payment"
    assert len(sandbox(world, "sandbox2").charges) == 1
    # The order can still be paid through a gateway that works.
    world.market.payments.pay(order.id, by=world.amal, gateway="sandbox", idempotency_key="k2")
    assert world.market.orders.get(order.id).state == "paid"


def test_balance_short_raises_insufficient_funds_and_changes_nothing(seeded: World) -> None:
    m = seeded.market
    seeded.credit_buyer()  # 5 USD on amal's balance
    order = seeded.place(upgrade=True)  # 10 USD
    before = seeded.snapshot()
    with pytest.raises(mk.InsufficientFunds) as err:
        m.payments.pay(order.id, by=seeded.amal, gateway="balance", idempotency_key="b1")
    assert (err.value.account, err.value.balance, err.value.needed) == (
        "user:amal:available", 500, 1000)
    assert seeded.snapshot() == before
    assert m.ledger.balance("amal").available == Money.of("5", "USD")


def test_balance_is_spent_exactly_once(seeded: World) -> None:
    m = seeded.market
    seeded.credit_buyer()  # 5 USD on amal's balance
    first, second = seeded.place(), seeded.place()
    m.payments.pay(first.id, by=seeded.amal, gateway="balance", idempotency_key="b1")
    m.payments.pay(first.id, by=seeded.amal, gateway="balance", idempotency_key="b1")
    assert m.ledger.balance("amal").available == Money.zero("USD")
    with pytest.raises(mk.InsufficientFunds):
        m.payments.pay(second.id, by=seeded.amal, gateway="balance", idempotency_key="b2")
    assert m.orders.get(second.id).state == "pending_payment"
    assert m.ledger.verify().ok


@pytest.mark.parametrize("actor", ["omar", "huda", "staff"])
def test_only_the_buyer_pays(seeded: World, actor: str) -> None:
    seeded.market.users.register("huda", display_name="Huda")
    by = {"omar": seeded.omar, "huda": mk.Actor.user("huda"), "staff": seeded.staff}[actor]
    order = seeded.place()
    before = seeded.snapshot()
    with pytest.raises(mk.PermissionDenied):
        seeded.market.payments.pay(order.id, by=by, gateway="sandbox", idempotency_key="k")
    assert seeded.snapshot() == before
    assert sandbox(seeded).charges == {}


@pytest.mark.parametrize("key", ["", "x" * 201, None, 42])
def test_idempotency_key_is_validated(seeded: World, key: object) -> None:
    order = seeded.place()
    with pytest.raises(mk.ValidationError) as err:
        seeded.market.payments.pay(order.id, by=seeded.amal, gateway="sandbox",
                                   idempotency_key=key)  # type: ignore[arg-type]
    assert (err.value.field, err.value.value) == ("idempotency_key", key)
    assert sandbox(seeded).charges == {}


def test_unknown_gateway_is_not_found(seeded: World) -> None:
    order = seeded.place()
    with pytest.raises(mk.NotFound) as err:
        seeded.market.payments.pay(order.id, by=seeded.amal, gateway="paypal",
                                   idempotency_key="k")
    assert (err.value.kind, err.value.id) == ("gateway", "paypal")
