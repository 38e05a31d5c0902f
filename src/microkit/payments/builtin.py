"""The built-in gateways: ``balance`` (site credit) and ``sandbox`` (a stand-in card processor).

Also the ``sandbox`` payout method, the stand-in for a payout processor.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Literal, final

from ..errors import WebhookVerificationError
from ..money import Money, currency
from . import _signing
from .gateway import (
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    RefundRequest,
    RefundResult,
    WebhookEvent,
)
from .payout_method import PayoutRequest, PayoutResult

__all__ = ["BALANCE", "BalanceGateway", "SandboxGateway", "SandboxPayout"]

#: The reserved name of the site-credit gateway: it pays from the buyer's available balance.
BALANCE: Final = "balance"


@final
class BalanceGateway:
    """Site credit: the buyer's ``user:{id}:available`` account pays.

    The money never leaves microkit, so there is nothing to call: the ledger
    posting (which refuses to take a balance below zero) is the charge.

    .. versionadded:: 0.1
    """

    name: Final = BALANCE
    currencies: frozenset[str] = frozenset()

    def create_charge(self, request: ChargeRequest) -> ChargeResult:
        return ChargeResult("succeeded", reference=f"balance:{request.payment_id}")

    def refund(self, request: RefundRequest) -> RefundResult:
        return RefundResult("succeeded", reference=f"balance-refund:{request.refund_id}")

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        raise WebhookVerificationError("the balance gateway sends no webhooks", gateway=BALANCE)


@final
class SandboxGateway:
    """A deterministic card processor for tests, demos and the conformance suite.

    Every charge ends as ``outcome`` (``succeeded`` by default; ``pending``
    and ``requires_action`` wait for :meth:`webhook`). Charges are idempotent
    by key, references are numbered, and webhooks are signed with HMAC-SHA256
    exactly as a real processor's would be. Set ``refund_outcome`` to make
    refunds answer ``pending`` or ``failed``, or ``"raise"`` to simulate a
    timeout; set ``outcome="raise"`` for charges likewise.

    Args:
        outcome: what every new charge answers.
        secrets: webhook signing secrets; the first signs, all verify (rotation).
        clock: Unix seconds now, for signing and the tolerance check.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        *,
        name: str = "sandbox",
        outcome: ChargeStatus = "succeeded",
        secrets: Sequence[str] = ("whsec_sandbox",),
        clock: Callable[[], int],
        tolerance: int = _signing.DEFAULT_TOLERANCE,
    ) -> None:
        self.name = name
        self.currencies: frozenset[str] = frozenset()
        self.outcome: ChargeStatus | Literal["raise"] = outcome
        self.refund_outcome: Literal["succeeded", "pending", "failed", "raise"] = "succeeded"
        #: Refund calls received, idempotent replays included.
        self.refund_calls = 0
        self.secrets = tuple(secrets)
        self.tolerance = tolerance
        self._clock = clock
        self._numbers = itertools.count(1)
        #: idempotency key -> (result, amount); what a processor remembers.
        self.charges: dict[str, tuple[ChargeResult, Money]] = {}
        self.refunds: dict[str, RefundResult] = {}
        self._refunded: dict[str, int] = {}
        #: charge reference -> microkit payment id, echoed in webhooks as metadata.
        self._payment_ids: dict[str, str] = {}

    def _charge(self, reference: str) -> tuple[ChargeResult, Money] | None:
        return next((c for c in self.charges.values() if c[0].reference == reference), None)

    def create_charge(self, request: ChargeRequest) -> ChargeResult:
        known = self.charges.get(request.idempotency_key)
        if known is not None:
            return known[0]
        if self.outcome == "raise":
            raise TimeoutError("sandbox: simulated timeout")
        reference = f"sbx_ch_{next(self._numbers)}"
        if self.outcome == "failed":
            result = ChargeResult("failed", reference, failure="card declined (sandbox)")
        elif self.outcome == "requires_action":
            result = ChargeResult(
                "requires_action", reference, redirect_url=f"https://sandbox.invalid/3ds/{reference}"
            )
        else:
            result = ChargeResult(self.outcome, reference)
        self.charges[request.idempotency_key] = (result, request.amount)
        self._payment_ids[reference] = request.payment_id
        return result

    def refund(self, request: RefundRequest) -> RefundResult:
        self.refund_calls += 1
        known = self.refunds.get(request.idempotency_key)
        if known is not None:
            return known
        if self.refund_outcome == "raise":
            raise TimeoutError("sandbox: simulated timeout")
        charge = self._charge(request.reference)
        done = self._refunded.get(request.reference, 0)
        if charge is None or done + request.amount.amount > charge[1].amount:
            result = RefundResult("failed", failure="unknown charge or more than was charged")
        elif self.refund_outcome == "failed":
            result = RefundResult("failed", failure="refund declined (sandbox)")
        elif self.refund_outcome == "pending":
            self._refunded[request.reference] = done + request.amount.amount
            result = RefundResult("pending", f"sbx_re_{next(self._numbers)}")
        else:
            self._refunded[request.reference] = done + request.amount.amount
            result = RefundResult("succeeded", f"sbx_re_{next(self._numbers)}")
        self.refunds[request.idempotency_key] = result
        return result

    def webhook(
        self,
        reference: str,
        type: str = "charge.succeeded",
        *,
        event_id: str | None = None,
        timestamp: int | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """The signed webhook the processor would send: ``(headers, raw body)``."""
        charge = self._charge(reference)
        payload: dict[str, Any] = {
            "id": event_id or f"sbx_ev_{next(self._numbers)}",
            "type": type,
            "reference": reference,
            "amount": None if charge is None else [charge[1].amount, charge[1].currency.code],
        }
        if type.startswith("refund."):
            payload["amount"] = None
        elif reference in self._payment_ids:
            payload["payment_id"] = self._payment_ids[reference]
        body = json.dumps(payload, separators=(",", ":")).encode()
        ts = self._clock() if timestamp is None else timestamp
        signature = _signing.sign(body, secret=self.secrets[0], timestamp=ts)
        return {_signing.SIGNATURE_HEADER: signature}, body

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        lowered = {k.lower(): v for k, v in headers.items()}
        _signing.verify(
            body,
            lowered.get(_signing.SIGNATURE_HEADER.lower()),
            secrets=self.secrets,
            now=self._clock(),
            tolerance=self.tolerance,
            gateway=self.name,
        )
        try:
            data = json.loads(body)
            amount = data.get("amount")
            event = WebhookEvent(
                id=str(data["id"]),
                type=data["type"],
                reference=str(data["reference"]),
                amount=None if amount is None else Money(int(amount[0]), currency(amount[1])),
                payment_id=None if data.get("payment_id") is None else str(data["payment_id"]),
            )
        except Exception as exc:
            raise WebhookVerificationError(
                f"{self.name}: signed body is not a sandbox event: {body[:80]!r}", gateway=self.name
            ) from exc
        if event.type not in ("charge.succeeded", "charge.failed", "refund.succeeded",
                              "refund.failed"):  # payout events come from payout methods
            raise WebhookVerificationError(
                f"{self.name}: unknown event type {event.type!r}", gateway=self.name
            )
        return event


@final
class SandboxPayout:
    """A deterministic payout processor for tests and the conformance suite.

    Every send answers ``outcome`` (``pending`` by default: a
    ``payout.paid`` / ``payout.failed`` webhook from :meth:`webhook` settles
    it). Sends are idempotent by key; webhooks are HMAC-signed like
    :class:`SandboxGateway`'s.

    .. versionadded:: 0.2
    """

    def __init__(
        self,
        *,
        name: str = "sandbox",
        outcome: Literal["paid", "pending", "failed", "raise"] = "pending",
        secrets: Sequence[str] = ("whsec_sandbox_payout",),
        clock: Callable[[], int],
        tolerance: int = _signing.DEFAULT_TOLERANCE,
    ) -> None:
        self.name = name
        self.currencies: frozenset[str] = frozenset()
        self.outcome = outcome
        self.secrets = tuple(secrets)
        self.tolerance = tolerance
        self._clock = clock
        self._numbers = itertools.count(1)
        #: idempotency key -> (result, request); what a processor remembers.
        self.sent: dict[str, tuple[PayoutResult, PayoutRequest]] = {}

    def check_destination(self, destination: str) -> str | None:
        return None if destination.strip() else "expected a destination"

    def send(self, request: PayoutRequest) -> PayoutResult:
        known = self.sent.get(request.idempotency_key)
        if known is not None:
            return known[0]
        if self.outcome == "raise":
            raise TimeoutError("sandbox payout: simulated timeout")
        reference = f"sbx_po_{next(self._numbers)}"
        if self.outcome == "failed":
            result = PayoutResult("failed", reference, failure="account closed (sandbox)")
        else:
            result = PayoutResult(self.outcome, reference)
        self.sent[request.idempotency_key] = (result, request)
        return result

    def webhook(
        self, reference: str, type: str = "payout.paid", *, event_id: str | None = None,
        timestamp: int | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """The signed webhook the processor would send: ``(headers, raw body)``."""
        payload = {"id": event_id or f"sbx_pev_{next(self._numbers)}", "type": type,
                   "reference": reference}
        body = json.dumps(payload, separators=(",", ":")).encode()
        ts = self._clock() if timestamp is None else timestamp
        return {_signing.SIGNATURE_HEADER: _signing.sign(body, secret=self.secrets[0],
                                                         timestamp=ts)}, body

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        lowered = {k.lower(): v for k, v in headers.items()}
        _signing.verify(body, lowered.get(_signing.SIGNATURE_HEADER.lower()),
                        secrets=self.secrets, now=self._clock(), tolerance=self.tolerance,
                        gateway=self.name)
        try:
            data = json.loads(body)
            event = WebhookEvent(id=str(data["id"]), type=data["type"],
                                 reference=str(data["reference"]))
        except Exception as exc:
            raise WebhookVerificationError(
                f"{self.name}: signed body is not a sandbox payout event: {body[:80]!r}",
                gateway=self.name,
            ) from exc
        if event.type not in ("payout.paid", "payout.failed"):
            raise WebhookVerificationError(
                f"{self.name}: unknown payout event type {event.type!r}", gateway=self.name
            )
        return event
