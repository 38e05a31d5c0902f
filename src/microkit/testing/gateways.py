"""The gateway and payout-method conformance suites: what a payment plugin owes microkit.

Use them from a pytest module of your plugin: subclass and override the
``harness`` fixture::

    import datetime as dt
    import pytest
    from microkit.clock import FrozenClock
    from microkit.testing.gateways import GatewayConformance, GatewayHarness
    from my_gateway import MyGateway

    class TestMyGateway(GatewayConformance):
        @pytest.fixture
        def harness(self):
            clock = FrozenClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
            gw = MyGateway(secret="whsec_test", clock=clock)
            return GatewayHarness(gateway=gw, clock=clock, webhook=gw.test_webhook)

The suite checks the contract of :class:`~microkit.payments.gateway.Gateway`
directly -- charge flows and their answers, idempotency by key, full and
partial refunds, refusing a refund larger than the charge, webhook
signatures (tampered, truncated, wrong secret, stale, missing), replayed
deliveries keeping their event id -- and then runs the gateway inside a
memory market: an order is paid, a pending charge settles by webhook
exactly once, and the ledger verifies. ``webhook=None`` skips the webhook
tests for a gateway that sends none (like the built-in ``manual``).

:class:`PayoutMethodConformance` does the same for
:class:`~microkit.payments.payout_method.PayoutMethod` plugins.

.. versionadded:: 0.2
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import attrs
import pytest

from ..actors import Actor
from ..clock import FrozenClock
from ..errors import MicrokitError, WebhookVerificationError
from ..money import Money, currency
from ..payments.gateway import (
    ChargeRequest,
    ChargeResult,
    Gateway,
    RefundRequest,
    RefundResult,
    WebhookEvent,
)
from ..payments.payout_method import PayoutMethod, PayoutRequest, PayoutResult

__all__ = [
    "GatewayConformance",
    "GatewayHarness",
    "PayoutHarness",
    "PayoutMethodConformance",
]

#: ``webhook(reference, type, event_id=..., timestamp=...)`` → ``(headers, raw body)``.
WebhookMaker = Callable[..., tuple[dict[str, str], bytes]]


@attrs.frozen
class GatewayHarness:
    """A gateway under test and how to drive it.

    .. versionadded:: 0.2
    """

    gateway: Gateway
    #: The clock the gateway checks webhook timestamps with; the suite advances it.
    clock: FrozenClock
    #: Makes the signed webhook the processor would send for a charge or refund
    #: reference; None for a gateway without webhooks.
    webhook: WebhookMaker | None = None
    #: A currency the gateway can charge.
    currency: str = "USD"
    #: Seconds of webhook timestamp tolerance the gateway applies.
    tolerance: int = 300
    #: Whether new charges succeed at once (else they are pending and need a webhook).
    immediate: bool = True


@attrs.frozen
class PayoutHarness:
    """A payout method under test and how to drive it.

    .. versionadded:: 0.2
    """

    method: PayoutMethod
    clock: FrozenClock
    #: A destination the method accepts.
    destination: str
    webhook: WebhookMaker | None = None
    currency: str = "USD"
    #: A destination the method refuses, or None if it accepts anything non-empty.
    bad_destination: str | None = None


def _request(h: GatewayHarness, key: str, amount: str = "10") -> ChargeRequest:
    return ChargeRequest(f"p_{key}", Money.of(amount, h.currency), "buyer", ("o_1",), key,
                         "conformance")


class GatewayConformance:
    """Inherit in a ``Test…`` class and override :meth:`harness`."""

    @pytest.fixture
    def harness(self) -> GatewayHarness:
        raise NotImplementedError("override the harness fixture")

    # -- the contract, directly ------------------------------------------------------

    def test_is_a_gateway_with_a_name_and_currencies(self, harness: GatewayHarness) -> None:
        gw = harness.gateway
        assert isinstance(gw, Gateway)
        assert isinstance(gw.name, str) and gw.name and ":" not in gw.name
        assert isinstance(gw.currencies, frozenset)
        for code in gw.currencies:
            currency(code)  # every code is a known ISO 4217 currency
        assert not gw.currencies or harness.currency in gw.currencies

    def test_charge_answers_a_known_status_with_a_reference(self, harness: GatewayHarness
                                                            ) -> None:
        result = harness.gateway.create_charge(_request(harness, "k-status"))
        assert isinstance(result, ChargeResult)
        assert result.status in ("succeeded", "pending", "requires_action", "failed")
        if result.status != "failed":
            assert isinstance(result.reference, str) and result.reference
        if result.status == "requires_action":
            assert result.redirect_url
        if harness.immediate:
            assert result.status == "succeeded"

    def test_charge_is_idempotent_by_key(self, harness: GatewayHarness) -> None:
        gw = harness.gateway
        first = gw.create_charge(_request(harness, "k-same"))
        assert gw.create_charge(_request(harness, "k-same")) == first
        other = gw.create_charge(_request(harness, "k-other"))
        if first.reference is not None:
            assert other.reference != first.reference

    def _succeeded(self, harness: GatewayHarness, key: str) -> ChargeResult:
        result = harness.gateway.create_charge(_request(harness, key))
        if result.status != "succeeded":
            pytest.skip("charges do not succeed at once; covered by the market test")
        assert result.reference is not None
        return result

    def test_full_refund_is_idempotent(self, harness: GatewayHarness) -> None:
        charge = self._succeeded(harness, "k-refund")
        assert charge.reference is not None
        req = RefundRequest("r_1", charge.reference, Money.of("10", harness.currency), "rk-1")
        first = harness.gateway.refund(req)
        assert isinstance(first, RefundResult)
        assert first.status in ("succeeded", "pending")
        assert harness.gateway.refund(req) == first

    def test_partial_refunds_up_to_the_charge(self, harness: GatewayHarness) -> None:
        charge = self._succeeded(harness, "k-partial")
        assert charge.reference is not None
        for i, part in enumerate(("4", "6")):
            result = harness.gateway.refund(RefundRequest(
                f"r_p{i}", charge.reference, Money.of(part, harness.currency), f"rk-p{i}"))
            assert result.status in ("succeeded", "pending")

    def test_refund_larger_than_the_charge_is_refused(self, harness: GatewayHarness) -> None:
        charge = self._succeeded(harness, "k-over")
        assert charge.reference is not None
        try:
            result = harness.gateway.refund(RefundRequest(
                "r_over", charge.reference, Money.of("10.01", harness.currency), "rk-over"))
        except MicrokitError:
            return
        assert result.status == "failed"

    # -- webhooks --------------------------------------------------------------------

    def _hook(self, harness: GatewayHarness, **kw: Any) -> tuple[dict[str, str], bytes, str]:
        if harness.webhook is None:
            pytest.skip("this gateway sends no webhooks")
        charge = harness.gateway.create_charge(_request(harness, "k-hook"))
        assert charge.reference is not None
        headers, body = harness.webhook(charge.reference, "charge.succeeded", **kw)
        return headers, body, charge.reference

    def test_webhook_parses_to_an_event(self, harness: GatewayHarness) -> None:
        headers, body, ref = self._hook(harness, event_id="ev_conf_1")
        event = harness.gateway.parse_webhook(headers, body)
        assert isinstance(event, WebhookEvent)
        assert (event.id, event.type, event.reference) == ("ev_conf_1", "charge.succeeded", ref)

    def test_replayed_delivery_keeps_its_event_id(self, harness: GatewayHarness) -> None:
        headers, body, _ = self._hook(harness, event_id="ev_conf_2")
        first = harness.gateway.parse_webhook(headers, body)
        assert harness.gateway.parse_webhook(headers, body).id == first.id  # microkit dedupes

    @pytest.mark.parametrize("attack", ["tampered", "truncated", "no_header", "garbage_header",
                                        "stale", "future", "replay_after_tolerance"])
    def test_bad_webhooks_raise_verification_error(self, harness: GatewayHarness,
                                                   attack: str) -> None:
        now = int(harness.clock.now().timestamp())
        if attack == "stale":
            headers, body, _ = self._hook(harness, timestamp=now - harness.tolerance - 1)
        elif attack == "future":
            headers, body, _ = self._hook(harness, timestamp=now + harness.tolerance + 1)
        else:
            headers, body, _ = self._hook(harness)
        if attack == "tampered":
            body = _flip(body)
        elif attack == "truncated":
            body = body[: len(body) // 2]
        elif attack == "no_header":
            headers = {}
        elif attack == "garbage_header":
            headers = {k: "t=abc,v1=zz" for k in headers} or {"X": "y"}
        elif attack == "replay_after_tolerance":
            harness.clock.advance(seconds=harness.tolerance + 1)
        with pytest.raises(WebhookVerificationError):
            harness.gateway.parse_webhook(headers, body)

    # -- inside a market -------------------------------------------------------------

    def _market(self, harness: GatewayHarness) -> Any:
        from .. import MarketConfig, hookimpl
        from ..market import Marketplace

        gw: Any = harness.gateway
        if gw.name in ("balance", "sandbox", "manual"):
            gw = _Renamed(gw)  # a built-in's name is taken in a market: test it under another

        class Plugin:
            @hookimpl
            def microkit_payment_gateways(self, config: Any, clock: Any, register: Any
                                          ) -> None:
                register(gw)

        config = (MarketConfig.khamsat() if harness.currency == "USD"
                  else MarketConfig.microlibya())
        market = Marketplace.open("memory://", config=config, plugins=(Plugin(),),
                                  clock=harness.clock, load_entry_points=False)
        staff, buyer, seller = Actor.staff("ops"), Actor.user("b"), Actor.user("s")
        market.users.register("b", display_name="Buyer")
        market.users.register("s", display_name="Seller")
        market.catalog.add_category("c", names={"en": "C"}, by=staff)
        svc = market.catalog.create_service(
            by=seller, category="c", title="Conformance service", description="for tests",
            price=config.min_price, delivery_days=1)
        market.catalog.approve(svc.id, by=staff)
        order = market.orders.place(svc.id, by=buyer)
        return market, order, buyer

    def test_pays_an_order_in_a_market_and_settles_once(self, harness: GatewayHarness
                                                        ) -> None:
        market, order, buyer = self._market(harness)
        name = _Renamed.rename(harness.gateway.name)
        payment = market.payments.pay(order.id, by=buyer, gateway=name, idempotency_key="c1")
        if payment.state != "succeeded":
            if harness.webhook is None or payment.reference is None:
                pytest.skip("pending charges of this gateway settle outside webhooks")
            headers, body = harness.webhook(payment.reference, "charge.succeeded",
                                            event_id="ev_market")
            assert market.payments.handle_webhook(name, headers, body).outcome == "applied"
            assert market.payments.handle_webhook(name, headers, body).outcome == "duplicate"
        assert market.orders.get(order.id).state == "paid"
        again = market.payments.pay(order.id, by=buyer, gateway=name, idempotency_key="c1")
        assert again.state == "succeeded"
        assert market.ledger.account_balance(f"escrow:order:{order.id}") == order.total
        assert market.ledger.verify().ok


class _Renamed:
    """A gateway under test whose name collides with a built-in one, under another name."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.name = self.rename(inner.name)
        self.currencies = inner.currencies

    @staticmethod
    def rename(name: str) -> str:
        return f"{name}_under_test" if name in ("balance", "sandbox", "manual") else name

    def create_charge(self, request: ChargeRequest) -> ChargeResult:
        result: ChargeResult = self._inner.create_charge(request)
        return result

    def refund(self, request: RefundRequest) -> RefundResult:
        result: RefundResult = self._inner.refund(request)
        return result

    def parse_webhook(self, headers: Any, body: bytes) -> WebhookEvent:
        event: WebhookEvent = self._inner.parse_webhook(headers, body)
        return event


class PayoutMethodConformance:
    """Inherit in a ``Test…`` class and override :meth:`harness`."""

    @pytest.fixture
    def harness(self) -> PayoutHarness:
        raise NotImplementedError("override the harness fixture")

    def _request(self, h: PayoutHarness, key: str) -> PayoutRequest:
        return PayoutRequest(f"po_{key}", "seller", Money.of("10", h.currency), h.destination,
                             key)

    def test_is_a_payout_method(self, harness: PayoutHarness) -> None:
        m = harness.method
        assert isinstance(m, PayoutMethod)
        assert isinstance(m.name, str) and m.name and ":" not in m.name
        assert isinstance(m.currencies, frozenset)
        assert m.check_destination(harness.destination) is None
        if harness.bad_destination is not None:
            why = m.check_destination(harness.bad_destination)
            assert isinstance(why, str) and why

    def test_send_answers_a_known_status_and_is_idempotent(self, harness: PayoutHarness
                                                           ) -> None:
        first = harness.method.send(self._request(harness, "pk-1"))
        assert isinstance(first, PayoutResult)
        assert first.status in ("paid", "pending", "failed")
        if first.status == "pending":
            assert first.reference
        assert harness.method.send(self._request(harness, "pk-1")) == first

    @pytest.mark.parametrize("attack", ["ok", "tampered", "no_header", "stale"])
    def test_webhooks_verify(self, harness: PayoutHarness, attack: str) -> None:
        if harness.webhook is None:
            pytest.skip("this payout method sends no webhooks")
        sent = harness.method.send(self._request(harness, "pk-hook"))
        assert sent.reference is not None
        now = int(harness.clock.now().timestamp())
        ts = now - 10_000 if attack == "stale" else None
        headers, body = harness.webhook(sent.reference, "payout.paid", event_id="pev_1",
                                        timestamp=ts)
        if attack == "ok":
            event = harness.method.parse_webhook(headers, body)
            assert (event.id, event.type, event.reference) == ("pev_1", "payout.paid",
                                                              sent.reference)
            return
        if attack == "tampered":
            body = _flip(body)
        elif attack == "no_header":
            headers = {}
        with pytest.raises(WebhookVerificationError):
            harness.method.parse_webhook(headers, body)


def _flip(body: bytes) -> bytes:
    """The body with one bit of its middle byte flipped: a tampered delivery."""
    i = len(body) // 2
    return body[:i] + bytes([body[i] ^ 1]) + body[i + 1:]


def frozen_clock() -> FrozenClock:
    """A clock at 2026-01-01 UTC, for harnesses."""
    return FrozenClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
