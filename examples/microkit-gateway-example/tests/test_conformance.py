"""LibyaPay passes microkit's gateway conformance suite, and loads through its entry point."""

from __future__ import annotations

import pytest
from microkit_gateway_example import FakeLibyaPayAPI, LibyaPayGateway

import microkit as mk
from microkit.testing.gateways import GatewayConformance, GatewayHarness, frozen_clock


class TestLibyaPay(GatewayConformance):
    @pytest.fixture
    def harness(self) -> GatewayHarness:
        clock = frozen_clock()
        gw = LibyaPayGateway(api=FakeLibyaPayAPI(), secrets=["whsec_new", "whsec_old"],
                             clock=lambda: int(clock.now().timestamp()))
        return GatewayHarness(gateway=gw, clock=clock, webhook=gw.test_webhook,
                              currency="LYD", immediate=False)


def test_the_entry_point_registers_it_for_dinar_markets() -> None:
    libya = mk.Marketplace.open("memory://", config=mk.MarketConfig.microlibya())
    assert isinstance(libya.payments.gateway("libyapay"), LibyaPayGateway)
    usd = mk.Marketplace.open("memory://", config=mk.MarketConfig.khamsat())
    with pytest.raises(mk.NotFound):
        usd.payments.gateway("libyapay")


def test_a_dinar_order_paid_through_the_wallet() -> None:
    clock = frozen_clock()
    market = mk.Marketplace.open("memory://", config=mk.MarketConfig.microlibya(), clock=clock)
    staff, huda, salem = mk.Actor.staff("ops"), mk.Actor.user("huda"), mk.Actor.user("salem")
    market.users.register("huda", display_name="هدى")
    market.users.register("salem", display_name="سالم")
    market.catalog.add_category("design", names={"ar": "تصميم"}, by=staff)
    svc = market.catalog.create_service(by=salem, category="design", title="شعار",
                                        description="شعار بسيط",
                                        price=mk.Money.of("12.500", "LYD"), delivery_days=2)
    market.catalog.approve(svc.id, by=staff)
    order = market.orders.place(svc.id, by=huda)
    payment = market.payments.pay(order.id, by=huda, gateway="libyapay", idempotency_key="1")
    assert payment.state == "pending" and payment.reference
    gw = market.payments.gateway("libyapay")
    assert isinstance(gw, LibyaPayGateway)
    result = market.payments.handle_webhook("libyapay", *gw.test_webhook(payment.reference))
    assert result.outcome == "applied"
    assert market.orders.get(order.id).state == "paid"
    assert market.ledger.verify().ok
