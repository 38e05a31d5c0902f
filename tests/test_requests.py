"""Buyer requests: a light post; sellers answer with a service or a custom offer."""

from __future__ import annotations

from typing import Any

import pytest

import microkit as mk
from conftest import World
from microkit import Actor


def test_request_responses(seeded: World, snapshot: Any) -> None:
    m = seeded.market
    m.users.register("sara", display_name="Sara")
    m.users.register("hadi", display_name="Hadi")
    sara, hadi = Actor.user("sara"), Actor.user("hadi")
    req = m.requests.post(by=seeded.amal, text="أريد شعارا لمقهى", category="design",
                          budget=seeded.money("20"))
    assert [r.id for r in m.requests.browse(category="design").items] == [req.id]
    r1 = m.requests.respond_with_service(req.id, by=seeded.omar, service_id=seeded.service.id)
    r2 = m.requests.respond_with_offer(req.id, by=sara, description="شعار مع هوية",
                                       price=seeded.money("20"), days=2)
    assert r1.service_id == seeded.service.id and r2.offer_id is not None
    assert m.requests.get(req.id).responses == 2
    assert [r.id for r in m.requests.responses(req.id, by=seeded.amal)] == [r1.id, r2.id]
    assert m.requests.responses(req.id, by=sara) == [r2]
    # the conversation is open for both sides
    m.messages.send(r2.conversation_id, by=seeded.amal, body="هل تضيف بطاقات عمل؟")
    offer = m.offers.get(r2.offer_id, by=seeded.amal)
    assert offer.request_id == req.id
    order = m.offers.accept(offer.id, by=seeded.amal)
    assert order.source == f"offer:{offer.id}" and order.seller_id == "sara"

    before = snapshot(m)
    attempts: list[tuple[type[Exception], Any]] = [
        (mk.Conflict, lambda: m.requests.respond_with_service(
            req.id, by=seeded.omar, service_id=seeded.service.id)),
        (mk.PermissionDenied, lambda: m.requests.respond_with_service(
            req.id, by=seeded.amal, service_id=seeded.service.id)),
        (mk.NotFound, lambda: m.requests.respond_with_service(
            req.id, by=hadi, service_id=seeded.service.id)),  # not his service
        (mk.ValidationError, lambda: m.requests.post(by=seeded.amal, text=" ",
                                                     category="design")),
        (mk.PriceOutOfRange, lambda: m.requests.post(by=seeded.amal, text="x",
                                                     category="design",
                                                     budget=seeded.money("1"))),
        (mk.NotFound, lambda: m.requests.post(by=seeded.amal, text="x", category="nope")),
    ]
    for expected, attempt in attempts:
        with pytest.raises(expected):
            attempt()
        assert snapshot(m) == before
    assert m.requests.close(req.id, by=seeded.amal).state == "closed"
    assert m.requests.browse().items == ()
    with pytest.raises(mk.InvalidTransition):
        m.requests.respond_with_offer(req.id, by=Actor.user("omar"), description="x",
                                      price=seeded.money("10"), days=1)
