"""Guards and effects the transition table is made of. Pure: no storage, no clock reads.

A guard looks at the order and the step and raises a typed error when the
transition may not run. An effect adds to the step: changes to the order,
ledger transactions, timers. The table in :mod:`microkit.orders.process`
says which run, in which order, for which transition.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ..config import MarketConfig
from ..errors import LimitExceeded, ValidationError
from ..escrow import ledger
from ..escrow.ledger import LedgerTransaction
from ..storage.base import Timer
from .model import Delivery, Order

__all__ = [
    "Effect",
    "Guard",
    "Step",
    "count_revision",
    "fund_escrow",
    "record_delivery",
    "refund_escrow",
    "release_escrow",
    "revisions_left",
    "start_clock",
]


@attrs.define
class Step:
    """What one transition is doing: its inputs, and what its effects have added so far."""

    order: Order
    config: MarketConfig
    now: dt.datetime
    actor: str
    #: The command's keyword arguments (message, attachments, reason, funding account, …).
    params: Mapping[str, Any]
    changes: dict[str, Any] = attrs.field(factory=dict)
    transactions: list[LedgerTransaction] = attrs.field(factory=list)
    timers: list[Timer] = attrs.field(factory=list)
    #: Extra event data the effects want recorded.
    data: dict[str, Any] = attrs.field(factory=dict)


Guard = Callable[[Step], None]
Effect = Callable[[Step], None]


def _text(step: Step, name: str, *, max_len: int = 10_000, required: bool = True) -> str:
    value = step.params.get(name, "")
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > max_len:
        raise ValidationError(
            f"{name}: expected {'non-empty ' if required else ''}text of at most {max_len}"
            f" characters, got {value!r:.80}",
            field=name,
            value=value,
        )
    return value


# -- guards ------------------------------------------------------------------


def revisions_left(step: Step) -> None:
    """The buyer has revision requests left under ``max_revisions``."""
    cap = step.config.max_revisions
    if cap is not None and step.order.revisions >= cap:
        raise LimitExceeded(
            f"max_revisions: order {step.order.id} already had {step.order.revisions}"
            f" of {cap} revisions",
            limit="max_revisions",
            value=cap,
        )


# -- effects -----------------------------------------------------------------


def fund_escrow(step: Step) -> None:
    """Move the order total from the funding account (gateway or buyer balance) into escrow."""
    order = step.order
    source = step.params["funding_account"]
    step.transactions.append(
        ledger.transfer(
            f"order:{order.id}:pay", "pay", source, {ledger.escrow(order.id): order.total},
            at=step.now,
        )
    )
    step.changes["paid_via"] = step.params["gateway"]
    step.data["payment_id"] = step.params.get("payment_id")
    step.data["gateway"] = step.params["gateway"]


def start_clock(step: Step) -> None:
    """The seller starts: the due time runs from now for the order's delivery days."""
    step.changes["started_at"] = step.now
    step.changes["due_at"] = step.now + dt.timedelta(days=step.order.delivery_days)
    step.data["due_at"] = step.changes["due_at"].isoformat()


def record_delivery(step: Step) -> None:
    """Keep the delivery's message and attachment references on the order."""
    message = _text(step, "message")
    attachments = tuple(step.params.get("attachments", ()))
    if not all(isinstance(a, str) and 0 < len(a) <= 1000 for a in attachments):
        raise ValidationError(
            f"attachments: expected references as non-empty strings, got {attachments!r:.80}",
            field="attachments",
            value=attachments,
        )
    step.changes["deliveries"] = (*step.order.deliveries, Delivery(message, attachments, step.now))
    step.data["delivery"] = len(step.changes["deliveries"])


def count_revision(step: Step) -> None:
    """Count the revision request and keep its reason."""
    reason = _text(step, "reason")
    step.changes["revisions"] = step.order.revisions + 1
    step.changes["last_reason"] = reason
    step.data["reason"] = reason


def record_reason(step: Step) -> None:
    """Keep the reason given for a cancellation (optional text)."""
    reason = _text(step, "reason", required=False)
    step.changes["last_reason"] = reason or None
    if reason:
        step.data["reason"] = reason


def release_escrow(step: Step) -> None:
    """Escrow → seller's pending earnings + platform commission; schedule the clearance."""
    order = step.order
    step.transactions.append(
        ledger.transfer(
            f"order:{order.id}:release",
            "release",
            ledger.escrow(order.id),
            [
                (ledger.user_pending(order.seller_id), order.seller_share),
                (ledger.PLATFORM_COMMISSION, order.commission + order.buyer_fee),
            ],
            at=step.now,
        )
    )
    step.timers.append(
        Timer(
            f"clear:{order.id}",
            f"order:{order.id}",
            "clear",
            step.now + dt.timedelta(days=step.config.clearance_days),
        )
    )


def refund_escrow(step: Step) -> None:
    """Escrow → back to the buyer: site balance, or the gateway for ``refund_to="original"``."""
    order = step.order
    via = order.paid_via
    if step.config.refund_to == "original" and via and via != "balance":
        destination = ledger.gateway(via)
    else:
        destination = ledger.user_available(order.buyer_id)
    step.transactions.append(
        ledger.transfer(
            f"order:{order.id}:refund", "refund", ledger.escrow(order.id),
            {destination: order.total}, at=step.now,
        )
    )
    step.data["refunded_to"] = destination
