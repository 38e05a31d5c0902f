"""The gateway and payout-method conformance suites against microkit's built-ins."""

from __future__ import annotations

import pytest

from microkit.payments.builtin import BalanceGateway, SandboxGateway, SandboxPayout
from microkit.payments.manual import ManualBankPayout, ManualGateway
from microkit.testing.gateways import (
    GatewayConformance,
    GatewayHarness,
    PayoutHarness,
    PayoutMethodConformance,
    frozen_clock,
)


class TestSandboxGateway(GatewayConformance):
    @pytest.fixture
    def harness(self) -> GatewayHarness:
        clock = frozen_clock()
        gw = SandboxGateway(clock=lambda: int(clock.now().timestamp()))
        return GatewayHarness(gateway=gw, clock=clock, webhook=gw.webhook)


class TestPendingSandboxGateway(GatewayConformance):
    """Charges that wait for a webhook, like a wallet approval."""

    @pytest.fixture
    def harness(self) -> GatewayHarness:
        clock = frozen_clock()
        gw = SandboxGateway(name="pending", outcome="pending",
                            clock=lambda: int(clock.now().timestamp()))
        return GatewayHarness(gateway=gw, clock=clock, webhook=gw.webhook, immediate=False)


class TestSandboxGatewayInDinars(GatewayConformance):
    @pytest.fixture
    def harness(self) -> GatewayHarness:
        clock = frozen_clock()
        gw = SandboxGateway(name="lyd", clock=lambda: int(clock.now().timestamp()))
        return GatewayHarness(gateway=gw, clock=clock, webhook=gw.webhook, currency="LYD")


class TestManualGateway(GatewayConformance):
    @pytest.fixture
    def harness(self) -> GatewayHarness:
        return GatewayHarness(gateway=ManualGateway(), clock=frozen_clock(), immediate=False)


class TestBalanceGatewayContract(GatewayConformance):
    """Only the contract part: the balance gateway pays from site credit, not a card."""

    @pytest.fixture
    def harness(self) -> GatewayHarness:
        return GatewayHarness(gateway=BalanceGateway(), clock=frozen_clock())

    def test_refund_larger_than_the_charge_is_refused(self, harness: GatewayHarness) -> None:
        pytest.skip("the ledger, not the balance gateway, refuses over-refunds")

    def test_pays_an_order_in_a_market_and_settles_once(self, harness: GatewayHarness) -> None:
        pytest.skip("paying from the balance is covered by tests/test_payments.py")


class TestManualBankPayout(PayoutMethodConformance):
    @pytest.fixture
    def harness(self) -> PayoutHarness:
        return PayoutHarness(method=ManualBankPayout(), clock=frozen_clock(),
                             destination="LY83002048000020100120361", bad_destination="x")


class TestSandboxPayout(PayoutMethodConformance):
    @pytest.fixture
    def harness(self) -> PayoutHarness:
        clock = frozen_clock()
        method = SandboxPayout(clock=lambda: int(clock.now().timestamp()))
        return PayoutHarness(method=method, clock=clock, destination="acct-1",
                             webhook=method.webhook, bad_destination=" ")
