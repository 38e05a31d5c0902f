"""Custom offers: sent from a conversation, accepted into an order, declined, expired."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

import microkit as mk
from conftest import World
from microkit import Money
from microkit.projects.model import Offer


def inquiry(w: World) -> str:
    msg = w.market.messages.inquire(w.service.id, by=w.amal, body="هل تصمم شعارا متحركا؟")
    return msg.conversation_id


def send(w: World, conv: str, **kw: Any) -> Offer:
    args: dict[str, Any] = dict(
        by=w.omar, description="شعار متحرك\nثلاث مراجعات", price=w.money("20"), days=3,
        upgrades=[mk.UpgradeSpec(title="ملف مصدري", price=w.money("10"), extra_days=1)],
    )
    args.update(kw)
    return w.market.offers.send(conv, **args)


def test_offer_accepted_into_an_order(seeded: World) -> None:
    m = seeded.market
    offer = send(seeded, inquiry(seeded))
    assert offer.state == "pending" and offer.upgrades[0].id == "u1"
    assert offer.expires_at - offer.created_at == dt.timedelta(days=3)  # offer_validity_days
    order = m.offers.accept(offer.id, by=seeded.amal, upgrades=["u1"])
    assert order.state == "pending_payment" and order.total == seeded.money("30")
    assert order.delivery_days == 4 and order.title == "شعار متحرك"
    assert order.commission == seeded.money("6") and order.source == f"offer:{offer.id}"
    assert m.offers.get(offer.id, by=seeded.omar).order_id == order.id
    assert m.orders.history(order.id)[0].data["source"] == f"offer:{offer.id}"
    names = [e.name for e in m.events.read(limit=1000, subject=f"offer:{offer.id}")]
    assert names == ["offer.sent", "offer.accepted"]
    assert [o.id for o in m.offers.list(by=seeded.amal, role="buyer")] == [offer.id]


def test_microlibya_offer(microlibya: World) -> None:
    offer = send(microlibya, inquiry(microlibya), price=microlibya.money("12.345"),
                 upgrades=[])
    order = microlibya.market.offers.accept(offer.id, by=microlibya.amal)
    assert order.total == Money.of("12.345", "LYD")
    assert order.commission + order.seller_share == order.total


def test_offer_expires(seeded: World, snapshot: Any) -> None:
    m = seeded.market
    offer = send(seeded, inquiry(seeded), expires_in_days=1)
    seeded.clock.advance(days=1)
    before = snapshot(m)
    with pytest.raises(mk.InvalidTransition) as err:  # checked on accept, before any tick
        m.offers.accept(offer.id, by=seeded.amal)
    assert err.value.state == "expired"
    assert snapshot(m) == before
    assert m.tick().ran.get("expire_offer") == 1
    assert m.offers.get(offer.id, by=seeded.amal).state == "expired"
    with pytest.raises(mk.InvalidTransition):
        m.offers.accept(offer.id, by=seeded.amal)


@pytest.mark.parametrize("upgrades", ["u1", ("u1",), {"u1": 1}])
def test_upgrades_are_read_as_orders_read_them(seeded: World, upgrades: Any) -> None:
    # One str is one id, and a mapping of id to quantity works, as for orders.place.
    offer = send(seeded, inquiry(seeded))
    order = seeded.market.offers.accept(offer.id, by=seeded.amal, upgrades=upgrades)
    assert [line.ref for line in order.lines] == ["offer", "u1"]
    assert order.total == seeded.money("30")


def test_decline_withdraw_and_bad_input(seeded: World, snapshot: Any) -> None:
    m = seeded.market
    conv = inquiry(seeded)
    declined = send(seeded, conv)
    assert m.offers.decline(declined.id, by=seeded.amal, reason="غالٍ").state == "declined"
    withdrawn = send(seeded, conv)
    assert m.offers.withdraw(withdrawn.id, by=seeded.omar).state == "withdrawn"
    live = send(seeded, conv)
    before = snapshot(m)
    attempts: list[tuple[type[Exception], Any]] = [
        (mk.InvalidTransition, lambda: m.offers.accept(declined.id, by=seeded.amal)),
        (mk.InvalidTransition, lambda: m.offers.accept(withdrawn.id, by=seeded.amal)),
        (mk.PermissionDenied, lambda: m.offers.accept(live.id, by=seeded.omar)),
        (mk.ValidationError, lambda: m.offers.accept(live.id, by=seeded.amal,
                                                     upgrades=["u9"])),
        (mk.PermissionDenied, lambda: send(seeded, conv, by=seeded.amal)),
        (mk.NotFound, lambda: send(seeded, "inquiry:nope:amal")),
        (mk.PriceOutOfRange, lambda: send(seeded, conv, price=seeded.money("1"))),
        (mk.CurrencyMismatch, lambda: send(seeded, conv, price=Money.of("20", "LYD"))),
        (mk.ValidationError, lambda: send(seeded, conv, days=0)),
        (mk.ValidationError, lambda: send(seeded, conv, expires_in_days=0)),
    ]
    for expected, attempt in attempts:
        with pytest.raises(expected):
            attempt()
        assert snapshot(m) == before
    m.offers.accept(live.id, by=seeded.amal)
    with pytest.raises(mk.InvalidTransition):
        m.offers.accept(live.id, by=seeded.amal)  # accepted once only
