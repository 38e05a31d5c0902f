"""A test gateway whose first answer is lost after the processor captured the charge."""

from __future__ import annotations

from typing import Any

import microkit as mk
from microkit.payments.builtin import SandboxGateway
from microkit.payments.gateway import ChargeRequest, ChargeResult


class LosesFirstAnswer:
    """A sandbox whose first charge is captured but whose answer is lost (a timeout)."""

    def __init__(self, *, wrapped: bool = False) -> None:
        self.lose = True
        #: Raise the plugin's own PaymentError around the timeout, as a plugin that
        #: catches its HTTP errors would, instead of letting the TimeoutError out.
        self.wrapped = wrapped
        #: The processor behind it (its charges, its webhooks), once the market is open.
        self.sandbox: SandboxGateway | None = None

    @mk.hookimpl
    def microkit_payment_gateways(self, config: Any, clock: Any, register: Any) -> None:
        inner = self.sandbox = SandboxGateway(name="lossy",
                                              clock=lambda: int(clock.now().timestamp()))
        plugin = self

        class Lossy:
            name, currencies = "lossy", frozenset[str]()

            def create_charge(self, request: ChargeRequest) -> ChargeResult:
                result = inner.create_charge(request)
                if plugin.lose:
                    plugin.lose = False
                    lost = TimeoutError("the answer was lost after the capture")
                    if plugin.wrapped:
                        raise mk.PaymentError(f"lossy unreachable: {lost}",
                                              gateway="lossy") from lost
                    raise lost
                return result

            def refund(self, request: Any) -> Any:
                return inner.refund(request)

            def parse_webhook(self, headers: Any, body: bytes) -> Any:
                return inner.parse_webhook(headers, body)

        register(Lossy())


def deliver_capture(market: mk.Marketplace, lossy: LosesFirstAnswer) -> str:
    """The processor's ``charge.succeeded`` webhook for the one charge it took; its outcome."""
    assert lossy.sandbox is not None
    ((result, _),) = lossy.sandbox.charges.values()
    assert result.reference is not None
    hook = lossy.sandbox.webhook(result.reference)
    return market.payments.handle_webhook("lossy", *hook).outcome
