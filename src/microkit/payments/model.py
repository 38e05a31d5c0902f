"""The payment record: one charge through one gateway for one or more orders."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import attrs

from ..money import Money

__all__ = ["Payment", "PaymentState"]

PaymentState = Literal["pending", "requires_action", "succeeded", "failed", "expired"]


@attrs.frozen
class Payment:
    """A charge as microkit records it; the ledger, not this record, is the money truth.

    .. versionadded:: 0.1
    """

    #: Derived from the buyer and the idempotency key, so a retry finds it.
    id: str
    buyer_id: str
    #: The orders this payment funds (several for a cart checkout).
    order_ids: tuple[str, ...]
    gateway: str
    idempotency_key: str
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
