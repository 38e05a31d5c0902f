"""The gateway contract a payment plugin implements, and the records it exchanges."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Protocol, runtime_checkable

import attrs

from ..money import Money

__all__ = [
    "ChargeRequest",
    "ChargeResult",
    "ChargeStatus",
    "Gateway",
    "RefundRequest",
    "RefundResult",
    "WebhookEvent",
]

ChargeStatus = Literal["succeeded", "pending", "requires_action", "failed"]


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
    type: Literal["charge.succeeded", "charge.failed", "refund.succeeded", "refund.failed"]
    #: The charge's (or refund's) processor reference.
    reference: str
    amount: Money | None = None


@runtime_checkable
class Gateway(Protocol):
    """A payment gateway. Register instances through ``microkit_payment_gateways``.

    Methods may do network I/O; microkit calls them outside its database
    transactions and records the result in one transaction afterwards.

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
