"""Offline money: the ``manual`` gateway (bank transfer in) and ``manual_bank`` payouts (out).

Neither talks to a processor. A manual charge stays ``pending`` until staff
see the transfer arrive and confirm it with its reference
(``market.payments.confirm_manual``); a manual payout stays ``sent`` until
staff confirm they made the transfer (``market.payouts.confirm``) or mark
it failed (``market.payouts.fail``). Neither sends webhooks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, final

from ..errors import WebhookVerificationError
from .gateway import ChargeRequest, ChargeResult, RefundRequest, RefundResult, WebhookEvent
from .payout_method import PayoutRequest, PayoutResult

__all__ = ["MANUAL", "MANUAL_BANK", "ManualBankPayout", "ManualGateway"]

#: The built-in offline bank-transfer gateway's name.
MANUAL: Final = "manual"
#: The built-in offline bank-transfer payout method's name.
MANUAL_BANK: Final = "manual_bank"


@final
class ManualGateway:
    """Offline bank transfer: every charge is ``pending`` until staff confirm it.

    Refunds are ``pending`` too: staff make the transfer back and confirm it
    (``market.payments.confirm_refund``).

    .. versionadded:: 0.2
    """

    name: Final = MANUAL
    currencies: frozenset[str] = frozenset()

    def create_charge(self, request: ChargeRequest) -> ChargeResult:
        return ChargeResult("pending", reference=f"manual_{request.payment_id}")

    def refund(self, request: RefundRequest) -> RefundResult:
        return RefundResult("pending", reference=f"manual_{request.refund_id}")

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        raise WebhookVerificationError("the manual gateway sends no webhooks", gateway=MANUAL)


@final
class ManualBankPayout:
    """Offline bank transfer to the seller: staff pay it, then confirm or fail it.

    .. versionadded:: 0.2
    """

    name: Final = MANUAL_BANK
    currencies: frozenset[str] = frozenset()

    def check_destination(self, destination: str) -> str | None:
        text = destination.replace(" ", "")
        if not 8 <= len(text) <= 64 or not text.isalnum() or not text.isascii():
            return "expected a bank account number or IBAN: 8..64 letters and digits"
        return None

    def send(self, request: PayoutRequest) -> PayoutResult:
        return PayoutResult("pending", reference=f"manual_{request.payout_id}")

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        raise WebhookVerificationError("manual_bank sends no webhooks", gateway=MANUAL_BANK)
