"""The payout record: a seller's withdrawal, held in ``payout:{id}`` until paid or returned."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import attrs

from ..money import Money

__all__ = ["Payout", "PayoutState"]

#: ``requested``: held, not yet accepted by the method · ``sent``: the method took it,
#: confirmation pending · ``paid``: settled · ``returned``: failed, money back on the balance.
PayoutState = Literal["requested", "sent", "paid", "returned"]


@attrs.frozen
class Payout:
    """A withdrawal. The ledger's ``payout:{id}`` account holds ``amount`` while it is open.

    .. versionadded:: 0.2
    """

    id: str
    seller_id: str
    #: What left the seller's available balance.
    amount: Money
    #: The withdrawal fee the platform keeps (from config).
    fee: Money
    #: What the payout method sends: ``amount - fee``.
    net: Money
    method: str
    #: Where the method sends it (IBAN, wallet number, …), as the seller gave it.
    destination: str
    state: PayoutState
    created_at: dt.datetime
    updated_at: dt.datetime
    #: The method's own id for the transfer, once it has one.
    reference: str | None = None
    failure: str | None = None
    #: Calls made to the payout method so far.
    attempts: int = 0
    version: int = 1
