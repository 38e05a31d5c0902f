"""Payment-side records: charges, refunds, processed webhooks, and gateway-reference links."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import attrs

from ..money import Money

__all__ = [
    "Payment",
    "PaymentLink",
    "PaymentState",
    "ProcessedWebhook",
    "Refund",
    "RefundState",
    "WebhookResult",
]

PaymentState = Literal["pending", "requires_action", "succeeded", "failed", "expired"]
RefundState = Literal["pending", "processing", "retrying", "succeeded", "to_balance"]


@attrs.frozen
class Payment:
    """A charge as microkit records it; the ledger, not this record, is the money truth.

    ``order_ids`` is empty for a balance top-up. ``from_balance`` is set for a
    split payment: that part came from the buyer's site balance (held in the
    ``payment:{id}`` account until the card part is captured), ``amount -
    from_balance`` was charged through ``gateway``.

    .. versionadded:: 0.1
    """

    #: Derived from the buyer and the idempotency key, so a retry finds it.
    id: str
    buyer_id: str
    #: The orders this payment funds (several for a cart checkout; none for a top-up).
    order_ids: tuple[str, ...]
    gateway: str
    idempotency_key: str
    #: The whole amount: the orders' total, or the top-up.
    amount: Money
    state: PaymentState
    created_at: dt.datetime
    updated_at: dt.datetime
    #: The gateway's own id for the charge.
    reference: str | None = None
    #: Where to send the buyer for a ``requires_action`` charge (3-D Secure, OTP page).
    redirect_url: str | None = None
    failure: str | None = None
    version: int = 1
    #: The part paid from the buyer's balance in a split payment (``.. versionadded:: 0.2``).
    from_balance: Money | None = None
    #: The bank transfer's reference staff confirmed a ``manual`` payment with (0.2).
    transfer_reference: str | None = None

    @property
    def charged(self) -> Money:
        """What went through the gateway: ``amount`` less the balance part."""
        return self.amount if self.from_balance is None else self.amount - self.from_balance

    @property
    def is_top_up(self) -> bool:
        return not self.order_ids


@attrs.frozen
class Refund:
    """Money on its way back through a gateway (``refund_to="original"``).

    The ledger moved it out of escrow into ``gateway:{name}`` when the refund
    was decided; this record tracks the gateway's refund call, which runs
    after that commit and is retried by ``tick()``. When the gateway keeps
    refusing, the money lands on the buyer's site balance (``to_balance``):
    it is never lost.

    .. versionadded:: 0.2
    """

    #: ``r_…``, derived from the ledger transaction that moved the money.
    id: str
    #: That ledger transaction (e.g. ``order:o_1:refund``).
    txn_id: str
    payment_id: str
    order_id: str | None
    buyer_id: str
    gateway: str
    #: What is asked of the gateway.
    amount: Money
    state: RefundState
    created_at: dt.datetime
    updated_at: dt.datetime
    #: Calls made to the gateway so far.
    attempts: int = 0
    #: Definite refusals so far; each refusal makes the next call use a new idempotency key.
    declines: int = 0
    reference: str | None = None
    failure: str | None = None
    version: int = 1

    @property
    def idempotency_key(self) -> str:
        """Same key while an outcome is unknown (a timeout); a new one after a refusal."""
        return f"microkit:{self.id}:{self.declines}"


@attrs.frozen
class ProcessedWebhook:
    """A webhook event applied once; its key ``{source}:{event id}`` is the dedupe key.

    .. versionadded:: 0.2
    """

    #: ``"{gateway}:{event id}"`` (``"payout:{method}:{event id}"`` for payout methods).
    id: str
    source: str
    event_id: str
    type: str
    #: ``"{source}:{reference}"``: finds an unmatched event when its charge shows up.
    ref: str
    #: ``applied``, ``ignored`` (nothing left to do), or ``unmatched`` (no such charge yet).
    outcome: str
    at: dt.datetime
    version: int = 1


@attrs.frozen
class WebhookResult:
    """What :meth:`PaymentsFacade.handle_webhook` did with one delivery.

    .. versionadded:: 0.2
    """

    event_id: str
    type: str
    #: ``applied``, ``ignored``, ``unmatched`` or ``duplicate`` (seen before: nothing done).
    outcome: str
    #: The payment, refund or payout it concerned, when known.
    subject: str | None = None


@attrs.frozen
class PaymentLink:
    """An index entry: ``"{gateway}:charge:{ref}"``, ``"{gateway}:refund:{ref}"`` or
    ``"order:{id}"`` → the payment or refund id.

    .. versionadded:: 0.2
    """

    id: str
    target: str
    version: int = 1
