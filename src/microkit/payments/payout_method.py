"""The payout-method contract a withdrawal plugin implements, and the records it exchanges."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Protocol, runtime_checkable

import attrs

from ..money import Money
from .gateway import WebhookEvent

__all__ = ["PayoutMethod", "PayoutRequest", "PayoutResult"]


@attrs.frozen
class PayoutRequest:
    """What microkit asks a payout method to send.

    .. versionadded:: 0.2
    """

    #: microkit's payout id; stable across retries.
    payout_id: str
    seller_id: str
    #: What to send: the withdrawal less its fee.
    amount: Money
    #: Where to, as the seller gave it (IBAN, wallet number, e-mail, …).
    destination: str
    #: Pass it to the processor: a retried send must not pay twice.
    idempotency_key: str


@attrs.frozen
class PayoutResult:
    """A payout method's answer.

    .. versionadded:: 0.2
    """

    #: ``paid``: done · ``pending``: accepted, a ``payout.*`` webhook or staff confirms
    #: later · ``failed``: refused (the money goes back to the seller's balance).
    status: Literal["paid", "pending", "failed"]
    reference: str | None = None
    failure: str | None = None


@runtime_checkable
class PayoutMethod(Protocol):
    """A way to pay sellers out. Register instances through ``microkit_payout_methods``.

    Methods may do network I/O; microkit calls them outside its database
    transactions. A method that raises leaves the payout ``requested`` and
    ``tick()`` retries it with the same idempotency key.

    .. versionadded:: 0.2
    """

    @property
    def name(self) -> str:
        """Unique name, used in ``payouts.request(..., method=name)``."""
        ...

    @property
    def currencies(self) -> frozenset[str]:
        """ISO 4217 codes it can send; empty for any."""
        ...

    def check_destination(self, destination: str) -> str | None:
        """None when ``destination`` looks usable, else why not (shown to the seller).

        ``destination`` comes without surrounding whitespace, as it is stored and sent.
        """
        ...

    def send(self, request: PayoutRequest) -> PayoutResult:
        """Send the money; idempotent by ``request.idempotency_key``."""
        ...

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Verify and parse a ``payout.paid`` / ``payout.failed`` notification.

        Raises:
            WebhookVerificationError: bad, stale or replayed signature, or a body
                that is not one of this method's events.
        """
        ...
