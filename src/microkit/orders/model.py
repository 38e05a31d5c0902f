"""The order record: what was bought, by whom, for how much, and where it stands."""

from __future__ import annotations

import datetime as dt

import attrs

from ..money import Money

__all__ = ["Delivery", "Order", "OrderLine"]


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

    def is_late(self, now: dt.datetime) -> bool:
        """Whether work started and the due time passed with no delivery since."""
        return self.due_at is not None and now > self.due_at and self.state == "in_progress"
