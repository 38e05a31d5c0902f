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

from .._checks import text
from ..config import MarketConfig
from ..errors import InvalidTransition, LimitExceeded, PermissionDenied, ValidationError
from ..escrow import ledger
from ..escrow.ledger import LedgerTransaction
from ..money import Money, percent_of
from ..storage.base import Timer
from .model import CancellationRequest, Delivery, Dispute, Order, Requirements

__all__ = [
    "Effect",
    "Guard",
    "Step",
    "accept_cancellation",
    "close",
    "count_revision",
    "fund_escrow",
    "is_requester",
    "mark_ready",
    "no_requirements_asked",
    "not_requester",
    "open_dispute",
    "order_late",
    "record_cancellation_request",
    "record_delivery",
    "record_reason",
    "record_requirements",
    "refund_escrow",
    "release_escrow",
    "requirements_asked",
    "resolve_dispute",
    "resume",
    "revisions_left",
    "seller_unresponsive",
    "split_escrow",
    "start_clock",
    "start_window_passed",
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
    #: How the actor stands to the order (``"buyer"``, ``"seller"``, ``"staff"``, ``"system"``).
    role: str | None = None
    #: The transition running (for error messages).
    transition: str = ""


Guard = Callable[[Step], None]
Effect = Callable[[Step], None]


def _text(step: Step, name: str, *, max_len: int = 10_000, required: bool = True) -> str:
    return text(name, step.params.get(name, ""), max_len=max_len, required=required,
                strip=False)


def _attachments(step: Step) -> tuple[str, ...]:
    attachments = step.params.get("attachments", ())
    if isinstance(attachments, str):
        attachments = (attachments,)
    attachments = tuple(attachments)
    if len(attachments) > 50 or not all(
        isinstance(a, str) and 0 < len(a) <= 1000 for a in attachments
    ):
        raise ValidationError(
            "attachments: expected at most 50 references as non-empty strings of at most"
            f" 1000 characters, got {attachments!r:.80}",
            field="attachments",
            value=attachments,
        )
    return attachments


def refuse(step: Step, why: str) -> InvalidTransition:
    """The error a guard raises when the order's circumstances don't allow the transition.

    :meth:`Process.apply` fills in what the state allows.
    """
    return InvalidTransition(
        f"cannot {step.transition} order {step.order.id} ({step.order.state!r}): {why}",
        transition=step.transition,
        state=step.order.state,
        allowed=(),
    )


def _since(step: Step, when: dt.datetime | None, delay: dt.timedelta) -> bool:
    return when is not None and step.now >= when + delay


# -- guards ------------------------------------------------------------------


def requirements_asked(step: Step) -> None:
    """The service asks the buyer for requirements before work starts."""
    if not step.order.requirements_prompt:
        raise refuse(step, "the service asks for no requirements")


def no_requirements_asked(step: Step) -> None:
    """The service asks for no requirements: a paid order is ready for work at once."""
    if step.order.requirements_prompt:
        raise refuse(step, "the service asks for requirements first")


def start_window_passed(step: Step) -> None:
    """``seller_start_days`` passed since the order became ready for work, unstarted."""
    order = step.order
    anchor = order.ready_at
    delay = dt.timedelta(days=step.config.seller_start_days)
    if not _since(step, anchor, delay):
        until = (anchor + delay).isoformat() if anchor else "?"
        raise refuse(step, f"the seller has seller_start_days to start, until {until}")


def order_late(step: Step) -> None:
    """The order passed its due time with no delivery (and ``late_cancel`` is on)."""
    if not step.config.late_cancel:
        raise refuse(step, "late_cancel is off in this market")
    if not step.order.is_late(step.now):
        due = step.order.due_at.isoformat() if step.order.due_at else "not set"
        raise refuse(step, f"the order is not late (due {due})")


def seller_unresponsive(step: Step) -> None:
    """The buyer's message on the order waited ``seller_response_hours`` with no answer.

    Reads ``params["buyer_waiting_since"]``: the time of the oldest buyer message on the
    order's conversation the seller has not answered (the unit of work supplies it).
    """
    hours = step.config.seller_response_hours
    if hours is None:
        raise refuse(step, "seller_response_hours is off in this market")
    since = step.params.get("buyer_waiting_since")
    if not _since(step, since, dt.timedelta(hours=hours)):
        raise refuse(step, f"no buyer message waited {hours} hours for the seller's answer")


def not_requester(step: Step) -> None:
    """Only the other side answers a cancellation request."""
    request = step.order.cancellation
    if request is not None and request.requested_by == step.role:
        raise PermissionDenied(
            f"{step.actor} asked for this cancellation; the other side answers it",
            actor=step.actor,
            action=step.transition,
        )


def is_requester(step: Step) -> None:
    """Only the side that asked may withdraw a cancellation request."""
    request = step.order.cancellation
    if request is None or request.requested_by != step.role:
        raise PermissionDenied(
            f"{step.actor} did not ask for this cancellation", actor=step.actor,
            action=step.transition,
        )


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
    payment_id = step.params.get("payment_id")
    step.changes["paid_via"] = step.params["gateway"]
    step.changes["payment_id"] = payment_id
    step.changes["paid_at"] = step.now
    step.data["payment_id"] = payment_id
    step.data["gateway"] = step.params["gateway"]


def start_clock(step: Step) -> None:
    """The seller starts: the due time runs from now for the order's delivery days."""
    step.changes["started_at"] = step.now
    step.changes["due_at"] = step.now + dt.timedelta(days=step.order.delivery_days)
    step.data["due_at"] = step.changes["due_at"].isoformat()


def mark_ready(step: Step) -> None:
    """The order is ready for work: ``seller_start_days`` count from now."""
    step.changes["ready_at"] = step.now


def record_requirements(step: Step) -> None:
    """Keep the buyer's instructions (text and attachment references) on the order."""
    text = _text(step, "text")
    step.changes["requirements"] = Requirements(text, _attachments(step), step.now)


def record_delivery(step: Step) -> None:
    """Keep the delivery's message and attachment references on the order."""
    message = _text(step, "message")
    attachments = _attachments(step)
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


def close(step: Step) -> None:
    """The order reaches a final state now."""
    step.changes["closed_at"] = step.now


def _clearance(step: Step) -> None:
    order = step.order
    # The seller's level may set its own (``params["clearance_days"]``, read by the unit).
    days = step.params.get("clearance_days", step.config.clearance_days)
    step.timers.append(
        Timer(
            f"clear:{order.id}",
            f"order:{order.id}",
            "clear",
            step.now + dt.timedelta(days=days),
        )
    )


def _refund_destination(step: Step) -> str:
    order = step.order
    via = order.paid_via
    if step.config.refund_to == "original" and via and via != "balance":
        return ledger.gateway(via)
    return ledger.user_available(order.buyer_id)


def release_escrow(step: Step) -> None:
    """Escrow → seller's pending earnings + platform commission; schedule the clearance."""
    order = step.order
    step.changes["seller_earned"] = order.seller_share
    step.changes["closed_at"] = step.now
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
    _clearance(step)


def refund_escrow(step: Step) -> None:
    """Escrow → back to the buyer: site balance, or the gateway for ``refund_to="original"``."""
    order = step.order
    destination = _refund_destination(step)
    step.changes["refunded"] = order.total
    step.changes["closed_at"] = step.now
    step.transactions.append(
        ledger.transfer(
            f"order:{order.id}:refund", "refund", ledger.escrow(order.id),
            {destination: order.total}, at=step.now,
        )
    )
    step.data["refunded_to"] = destination


def split_escrow(step: Step) -> None:
    """Escrow → part to the seller (less the commission on that part), the rest refunded.

    ``params["seller_part"]``: the part of the price (subtotal) awarded to the
    seller's side, strictly between zero and the subtotal. The commission on it
    comes from :meth:`MarketConfig.commission`, the function placement uses; the
    buyer fee is kept in proportion (the same rate on the part); the buyer gets
    the exact rest of the total back.
    """
    order, config = step.order, step.config
    part = step.params.get("seller_part")
    if not isinstance(part, Money) or part.currency != order.total.currency or not (
        0 < part.amount < order.subtotal.amount
    ):
        raise ValidationError(
            f"seller_part: expected Money in {order.total.currency.code} strictly between 0"
            f" and the order's price {order.subtotal}, got {part!r}",
            field="seller_part",
            value=part,
        )
    commission = config.commission(part)
    net = part - commission
    fee_kept = percent_of(part, config.buyer_fee_rate, config.commission_rounding)
    refund = order.total - part - fee_kept
    step.transactions.append(
        ledger.transfer(
            f"order:{order.id}:split",
            "split",
            ledger.escrow(order.id),
            [
                (ledger.user_pending(order.seller_id), net),
                (ledger.PLATFORM_COMMISSION, commission + fee_kept),
                (_refund_destination(step), refund),
            ],
            at=step.now,
        )
    )
    step.changes["seller_earned"] = net
    step.changes["refunded"] = refund
    step.changes["closed_at"] = step.now
    step.data.update(seller_part=part.amount, commission=commission.amount,
                     seller_net=net.amount, refunded=refund.amount)
    if net.amount:
        _clearance(step)


def record_cancellation_request(step: Step) -> None:
    """Keep who asked to cancel and why, and the state to go back to if refused."""
    reason = _text(step, "reason", required=False)
    step.changes["cancellation"] = CancellationRequest(str(step.role), reason, step.now)
    step.changes["resume_state"] = step.order.state
    step.data["requested_by"] = step.role
    if reason:
        step.data["reason"] = reason


def resume(step: Step) -> None:
    """The cancellation request is over and the order goes back to where it was."""
    step.changes["cancellation"] = None
    step.changes["resume_state"] = None
    step.data["resumed"] = step.order.resume_state


def accept_cancellation(step: Step) -> None:
    """The cancellation request is granted (the refund is a separate effect)."""
    step.changes["cancellation"] = None
    step.changes["resume_state"] = None


def open_dispute(step: Step) -> None:
    """Keep who opened the dispute and why; timers stop (the disputed state has none)."""
    reason = _text(step, "reason")
    step.changes["dispute"] = Dispute(str(step.role), reason, step.now)
    step.changes["cancellation"] = None
    step.changes["resume_state"] = None
    step.data["reason"] = reason
    step.data["opened_by"] = step.role


def resolve_dispute(step: Step) -> None:
    """Staff's written resolution, kept on the order for both sides to see."""
    resolution = _text(step, "resolution")
    dispute = step.order.dispute
    outcome = step.transition.removeprefix("resolve_")
    part = step.params.get("seller_part") if outcome == "split" else None
    if dispute is None:  # not reachable through the table; keeps the record whole
        dispute = Dispute("staff", "", step.now)
    step.changes["dispute"] = attrs.evolve(
        dispute, outcome=outcome, resolution=resolution, resolved_by=step.actor,
        resolved_at=step.now, seller_part=part,
    )
    step.data["outcome"] = outcome
    step.data["resolution"] = resolution
