"""Payments that settle later: multi-order charges, webhooks applied exactly once, timeouts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

import microkit as mk
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
    m.orders.cancel(seeded.paid().id, by=seeded.amal)  # 5 USD on amal's balance
    a, b = seeded.place(), seeded.place()
    before = seeded.snapshot()
    with pytest.raises(mk.InsufficientFunds):
        m.payments.pay_orders([a.id, b.id], by=seeded.amal, gateway="balance",
                              idempotency_key="cart-3")
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
