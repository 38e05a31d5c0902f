"""LibyaPay: a mobile-wallet gateway for Libyan dinars (a reference plugin; the API is fictional).

The processor is reached through a small client object, so tests (and this
example) use :class:`FakeLibyaPayAPI` in place of HTTP calls. Everything
microkit needs from a gateway is here: idempotent charges, full and partial
refunds, and HMAC-signed webhooks verified on the raw body.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from microkit.errors import PaymentError, WebhookVerificationError
from microkit.money import Money, currency
from microkit.payments import _signing
from microkit.payments.gateway import (
    ChargeRequest,
    ChargeResult,
    RefundRequest,
    RefundResult,
    WebhookEvent,
)

__all__ = ["FakeLibyaPayAPI", "LibyaPayAPI", "LibyaPayGateway"]


class LibyaPayAPI(Protocol):
    """The processor's HTTP API as the gateway uses it (a real plugin wraps httpx here)."""

    def post(self, path: str, payload: dict[str, Any], *, idempotency_key: str
             ) -> dict[str, Any]: ...


class FakeLibyaPayAPI:
    """An in-memory LibyaPay: remembers idempotency keys like the real service."""

    def __init__(self) -> None:
        self._seen: dict[str, dict[str, Any]] = {}
        self._numbers = itertools.count(1)
        self.charges: dict[str, int] = {}
        self.refunded: dict[str, int] = {}

    def post(self, path: str, payload: dict[str, Any], *, idempotency_key: str
             ) -> dict[str, Any]:
        if idempotency_key in self._seen:
            return self._seen[idempotency_key]
        if path == "/v1/charges":
            ref = f"lp_ch_{next(self._numbers)}"
            self.charges[ref] = payload["amount_dirhams"]
            answer = {"id": ref, "status": "awaiting_approval"}
        elif path == "/v1/refunds":
            ref, amount = payload["charge"], payload["amount_dirhams"]
            done = self.refunded.get(ref, 0)
            if ref not in self.charges or done + amount > self.charges[ref]:
                answer = {"status": "rejected", "reason": "exceeds the charge"}
            else:
                self.refunded[ref] = done + amount
                answer = {"id": f"lp_re_{next(self._numbers)}", "status": "done"}
        else:
            raise ValueError(path)
        self._seen[idempotency_key] = answer
        return answer


class LibyaPayGateway:
    """A microkit gateway for LibyaPay wallets; charges LYD only.

    Args:
        api: the processor client.
        secrets: webhook signing secrets; all verify (list the new one first
            while rotating).
        clock: Unix seconds now, for the webhook timestamp tolerance.
    """

    name = "libyapay"
    currencies = frozenset({"LYD"})

    def __init__(self, *, api: LibyaPayAPI, secrets: Sequence[str],
                 clock: Callable[[], int]) -> None:
        self.api = api
        self.secrets = tuple(secrets)
        self.clock = clock

    def create_charge(self, request: ChargeRequest) -> ChargeResult:
        try:
            answer = self.api.post("/v1/charges", {
                "amount_dirhams": request.amount.amount,  # LYD minor units: 1/1000 dinar
                "metadata": {"microkit_payment": request.payment_id},
                "description": request.description,
            }, idempotency_key=request.idempotency_key)
        except OSError as exc:  # network trouble: microkit turns errors into PaymentError
            raise PaymentError(f"libyapay unreachable: {exc}", gateway=self.name) from exc
        if answer.get("status") == "declined":
            return ChargeResult("failed", answer.get("id"), failure="declined by the wallet")
        return ChargeResult("pending", str(answer["id"]))

    def refund(self, request: RefundRequest) -> RefundResult:
        answer = self.api.post("/v1/refunds", {
            "charge": request.reference, "amount_dirhams": request.amount.amount,
        }, idempotency_key=request.idempotency_key)
        if answer.get("status") == "done":
            return RefundResult("succeeded", str(answer["id"]))
        return RefundResult("failed", failure=str(answer.get("reason", "rejected")))

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        lowered = {k.lower(): v for k, v in headers.items()}
        _signing.verify(body, lowered.get(_signing.SIGNATURE_HEADER.lower()),
                        secrets=self.secrets, now=self.clock(), gateway=self.name)
        try:
            data = json.loads(body)
            kind = {"charge.approved": "charge.succeeded", "charge.rejected": "charge.failed",
                    "refund.done": "refund.succeeded", "refund.rejected": "refund.failed"
                    }[data["type"]]
            amount = data.get("amount_dirhams")
            return WebhookEvent(
                id=str(data["event_id"]), type=kind,  # type: ignore[arg-type]
                reference=str(data["charge"]),
                amount=None if amount is None else Money(int(amount), currency("LYD")),
                payment_id=data.get("metadata", {}).get("microkit_payment"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise WebhookVerificationError(f"libyapay: not a LibyaPay event: {body[:80]!r}",
                                           gateway=self.name) from exc

    # -- for tests: what LibyaPay would send -------------------------------------------

    def test_webhook(self, reference: str, type: str = "charge.succeeded", *,
                     event_id: str | None = None, timestamp: int | None = None
                     ) -> tuple[dict[str, str], bytes]:
        theirs = {"charge.succeeded": "charge.approved", "charge.failed": "charge.rejected",
                  "refund.succeeded": "refund.done", "refund.failed": "refund.rejected"}[type]
        payload = {"event_id": event_id or f"lp_ev_{reference}_{theirs}", "type": theirs,
                   "charge": reference}
        body = json.dumps(payload).encode()
        ts = self.clock() if timestamp is None else timestamp
        return {_signing.SIGNATURE_HEADER: _signing.sign(body, secret=self.secrets[0],
                                                         timestamp=ts)}, body
