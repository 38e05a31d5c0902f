"""The gateway contract a payment plugin implements, and the records it exchanges."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal, Protocol, runtime_checkable

import attrs

from ..money import Money

__all__ = [
    "WEBHOOK_TYPES",
    "ChargeRequest",
    "ChargeResult",
    "ChargeStatus",
    "Gateway",
    "RefundRequest",
    "RefundResult",
    "WebhookEvent",
    "WebhookType",
]

ChargeStatus = Literal["succeeded", "pending", "requires_action", "failed"]
WebhookType = Literal[
    "charge.succeeded", "charge.failed", "refund.succeeded", "refund.failed",
    "payout.paid", "payout.failed",
]
#: Every event type microkit acts on.
WEBHOOK_TYPES: Final = frozenset(
    {"charge.succeeded", "charge.failed", "refund.succeeded", "refund.failed",
     "payout.paid", "payout.failed"}
)


@attrs.frozen
class ChargeRequest:
    """What microkit asks a gateway to charge.

    .. versionadded:: 0.1
    """

    #: microkit's payment id; stable across retries.
    payment_id: str
    amount: Money
    buyer_id: str
    order_ids: tuple[str, ...]
    #: Pass it to the processor: a retried charge must not charge twice.
    idempotency_key: str
    description: str = ""


@attrs.frozen
class ChargeResult:
    """A gateway's answer to a charge.

    .. versionadded:: 0.1
    """

    status: ChargeStatus
    #: The processor's id for the charge; needed for refunds and webhooks.
    reference: str | None = None
    #: For ``requires_action``: where the buyer completes the payment (3-D Secure, OTP).
    redirect_url: str | None = None
    #: For ``failed``: why, in words the buyer may see.
    failure: str | None = None
    #: The processor's fee on a ``succeeded`` charge, if it reports one; shown in the
    #: settlement report (``.. versionadded:: 0.2``).
    fee: Money | None = None


@attrs.frozen
class RefundRequest:
    """What microkit asks a gateway to refund (full or partial).

    .. versionadded:: 0.1
    """

    refund_id: str
    #: The charge's processor reference.
    reference: str
    amount: Money
    idempotency_key: str


@attrs.frozen
class RefundResult:
    """A gateway's answer to a refund.

    .. versionadded:: 0.1
    """

    status: Literal["succeeded", "pending", "failed"]
    reference: str | None = None
    failure: str | None = None


@attrs.frozen
class WebhookEvent:
    """A verified notification from a gateway, reduced to what microkit acts on.

    .. versionadded:: 0.1
    """

    #: The gateway's event id; deliveries with an id seen before are ignored.
    id: str
    #: ``payout.*`` events come from payout methods (:mod:`microkit.payments.payout_method`).
    type: WebhookType
    #: The charge's (refund's, payout's) processor reference.
    reference: str
    #: The amount the processor reports; checked against microkit's record when given.
    amount: Money | None = None
    #: microkit's payment id, when the processor echoes metadata back (optional): lets a
    #: webhook that overtakes the charge's own answer find its payment (0.2).
    payment_id: str | None = None


@runtime_checkable
class Gateway(Protocol):
    """A payment gateway. Register instances through ``microkit_payment_gateways``.

    Methods may do network I/O; microkit calls them outside its database
    transactions and records the result in one transaction afterwards.
    Anything a method raises (other than the documented errors) is turned
    into :class:`~microkit.errors.PaymentError` and changes nothing; an answer
    of the wrong type is refused the same way.

    The contract, in short:

    * ``create_charge`` answers ``succeeded`` (captured), ``pending`` (the
      money arrives later: a bank transfer, a wallet approval),
      ``requires_action`` (send the buyer to ``redirect_url``: 3-D Secure, an
      OTP page) or ``failed``. Pending and requires-action charges are settled
      by a ``charge.succeeded`` / ``charge.failed`` webhook, or expire after
      ``config.payment_timeout``.
    * ``refund`` answers ``succeeded``, ``pending`` (settled by a
      ``refund.*`` webhook) or ``failed`` (microkit retries with a new key,
      then falls back to the buyer's site balance). Partial refunds: any
      amount up to what was charged, in several calls.
    * ``parse_webhook`` verifies the signature over the raw bytes (see
      :mod:`microkit.payments._signing` for a ready HMAC-SHA256 scheme) and
      returns one :class:`WebhookEvent`; microkit deduplicates by its id.

    Run :mod:`microkit.testing.gateways` against an implementation to check it.

    .. versionadded:: 0.1
    """

    @property
    def name(self) -> str:
        """Unique name, used in ``pay(..., gateway=name)`` and ledger account ``gateway:{name}``."""
        ...

    @property
    def currencies(self) -> frozenset[str]:
        """ISO 4217 codes it can charge; empty for any."""
        ...

    def create_charge(self, request: ChargeRequest) -> ChargeResult:
        """Charge the buyer; idempotent by ``request.idempotency_key``."""
        ...

    def refund(self, request: RefundRequest) -> RefundResult:
        """Refund all or part of a charge; idempotent by ``request.idempotency_key``."""
        ...

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Verify a webhook's signature on the raw bytes and parse it.

        Raises:
            WebhookVerificationError: bad, stale or replayed signature, or a body
                that is not one of this gateway's events.
        """
        ...
