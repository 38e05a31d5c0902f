"""The order record: what was bought, by whom, for how much, and where it stands."""

from __future__ import annotations

import datetime as dt

import attrs

from ..money import Money

__all__ = [
    "CancellationRequest",
    "Delivery",
    "Dispute",
    "Order",
    "OrderLine",
    "Requirements",
]


@attrs.frozen
class OrderLine:
    """One priced line of an order: the base service or an upgrade, with its quantity.

    .. versionadded:: 0.1
    """

    #: ``"service"`` for the base line, else the upgrade's id.
    ref: str
    title: str
    unit_price: Money
    quantity: int = 1
    #: Delivery days this line adds (the base line carries the service's days).
    days: int = 0

    @property
    def amount(self) -> Money:
        return self.unit_price * self.quantity


@attrs.frozen
class Delivery:
    """One delivery by the seller: a message and attachment references.

    .. versionadded:: 0.1
    """

    message: str
    attachments: tuple[str, ...]
    at: dt.datetime


@attrs.frozen
class Requirements:
    """The buyer's instructions for a service that asks for them.

    .. versionadded:: 0.1
    """

    text: str
    attachments: tuple[str, ...]
    at: dt.datetime


@attrs.frozen
class CancellationRequest:
    """One side asked to cancel; the other accepts or refuses within ``mutual_cancel_hours``.

    .. versionadded:: 0.1
    """

    #: ``"buyer"`` or ``"seller"``.
    requested_by: str
    reason: str
    at: dt.datetime


@attrs.frozen
class Dispute:
    """A dispute: who opened it and why, and staff's written resolution once resolved.

    .. versionadded:: 0.1
    """

    #: ``"buyer"`` or ``"seller"``.
    opened_by: str
    reason: str
    opened_at: dt.datetime
    #: ``"release"``, ``"refund"`` or ``"split"`` once resolved.
    outcome: str | None = None
    #: Staff's written resolution; both sides see it.
    resolution: str | None = None
    resolved_by: str | None = None
    resolved_at: dt.datetime | None = None
    #: For a split: the part of the price that went to the seller's side, before commission.
    seller_part: Money | None = None


@attrs.frozen
class Order:
    """An order snapshot. Change it only through the transition table.

    ``seller_share``, ``commission`` and ``buyer_fee`` are computed once, when
    the order is placed, and sum exactly to ``total``.

    .. versionadded:: 0.1
    """

    id: str
    service_id: str
    buyer_id: str
    seller_id: str
    title: str
    lines: tuple[OrderLine, ...]
    #: The lines' sum: the price the seller set.
    subtotal: Money
    #: Charged to the buyer on top of the subtotal (``buyer_fee_rate``; 0 in both presets).
    buyer_fee: Money
    #: What the buyer pays: subtotal + buyer fee.
    total: Money
    #: What the seller earns on completion: subtotal − commission.
    seller_share: Money
    #: The platform's commission on the subtotal, taken from the seller's side.
    commission: Money
    #: Delivery days: the service's plus its upgrades' (never below 1).
    delivery_days: int
    state: str
    placed_at: dt.datetime
    updated_at: dt.datetime
    #: Set when the seller starts; the clock for ``due_at`` runs from here.
    started_at: dt.datetime | None = None
    due_at: dt.datetime | None = None
    deliveries: tuple[Delivery, ...] = ()
    revisions: int = 0
    #: The gateway that funded the escrow, once paid.
    paid_via: str | None = None
    #: The reason given with the last cancellation or revision request.
    last_reason: str | None = None
    #: Bumped by every transition; saves are compare-and-set on it.
    version: int = 1
    #: What the service asks the buyer to send before work starts ("" for nothing).
    requirements_prompt: str = ""
    #: The buyer's answer to ``requirements_prompt``, once sent.
    requirements: Requirements | None = None
    #: When the escrow was funded.
    paid_at: dt.datetime | None = None
    #: When the order became ready for work (paid, and requirements sent if asked);
    #: ``seller_start_days`` count from here.
    ready_at: dt.datetime | None = None
    #: A pending mutual-cancellation request, while the order is ``cancellation_requested``.
    cancellation: CancellationRequest | None = None
    #: The state to go back to when a cancellation request is refused or withdrawn.
    resume_state: str | None = None
    #: The open or resolved dispute, if there was one.
    dispute: Dispute | None = None
    #: When the order reached a final state (completed, cancelled, settled, expired).
    closed_at: dt.datetime | None = None
    #: What the seller earned net of commission, once released (less than
    #: ``seller_share`` after a split).
    seller_earned: Money | None = None
    #: What went back to the buyer, once refunded.
    refunded: Money | None = None
    #: Where the order came from: ``"service:s_…"``, ``"project:p_…/bid:b_…"`` or
    #: ``"offer:f_…"`` ("" for orders stored before sources were recorded).
    source: str = ""
    #: The payment that funded the escrow (None before payment, or when staff funded it).
    payment_id: str | None = None

    @property
    def last_delivered_at(self) -> dt.datetime | None:
        """When the seller last delivered; None before the first delivery.

        .. versionadded:: 0.3
        """
        return self.deliveries[-1].at if self.deliveries else None

    @property
    def seller_net(self) -> Money:
        """What the seller earns net of commission: ``seller_earned`` once released (it
        may be zero after a split), ``seller_share`` until then.

        .. versionadded:: 0.3
        """
        return self.seller_share if self.seller_earned is None else self.seller_earned

    def is_late(self, now: dt.datetime) -> bool:
        """Whether work started and the due time passed before any delivery."""
        return (
            self.due_at is not None
            and now > self.due_at
            and self.state == "in_progress"
            and not self.deliveries
        )

    @property
    def delivered_on_time(self) -> bool | None:
        """Whether the first delivery came by the due time; None before any delivery."""
        if not self.deliveries or self.due_at is None:
            return None
        return self.deliveries[0].at <= self.due_at
