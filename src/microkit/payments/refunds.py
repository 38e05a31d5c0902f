"""Refunds back through the gateway (``refund_to="original"``), full or partial.

How money goes back, in two steps that can never lose it:

1. The command that decides the refund (a cancellation, a dispute split)
   posts, in its own unit of work, escrow → ``gateway:{name}`` for the
   amount, and schedules :func:`gateway_refund_timer` in the same unit.
   The ledger now says the money is on its way out.
2. ``tick()`` runs that timer: it opens a :class:`~microkit.payments.model.Refund`
   record and, after that commit, calls the gateway's ``refund`` with an
   idempotency key. The answer is recorded: ``succeeded``; ``pending``
   (a ``refund.*`` webhook or staff settle it); a refusal is retried with a
   new key and, after :data:`MAX_DECLINES` refusals, the money goes to the
   buyer's site balance instead (``gateway:{name}`` → ``user:{id}:available``).
   A timeout (unknown outcome) is retried with the *same* key, so the
   processor can never refund twice.

More than the card part of a payment (a split payment, or several partial
refunds) is never asked of the gateway: the excess goes to the balance.

:func:`refund_transaction` and :func:`gateway_refund_timer` are pure: the
transition table's effects use them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, Final

import attrs

from .._core import Core, Unit
from ..config import MarketConfig
from ..errors import CurrencyMismatch, NotFound, ValidationError
from ..escrow import ledger
from ..escrow.ledger import LedgerTransaction
from ..money import Money
from ..orders.model import Order
from ..storage.base import Timer
from ..storage.records import ORDERS, PAYMENTS, REFUNDS
from .builtin import BALANCE
from .gateway import RefundRequest, RefundResult
from .model import Refund

__all__ = [
    "MAX_DECLINES",
    "gateway_refund_timer",
    "refund_destination",
    "refund_id",
    "refund_link",
    "refund_transaction",
]

#: Refusals by the gateway after which the money goes to the buyer's balance instead.
MAX_DECLINES: Final = 3
#: First retry delay; doubled per attempt, capped at :data:`MAX_DELAY`.
RETRY_DELAY: Final = dt.timedelta(minutes=5)
MAX_DELAY: Final = dt.timedelta(hours=24)
OPEN_STATES: Final = ("pending", "processing", "retrying")


def refund_id(txn_id: str) -> str:
    """A refund's id, derived from the ledger transaction that moved the money."""
    return "r_" + hashlib.sha256(txn_id.encode()).hexdigest()[:20]


def refund_destination(order: Order, config: MarketConfig) -> str:
    """The account a refund of ``order`` goes to under ``config.refund_to``."""
    via = order.paid_via
    if config.refund_to == "original" and via and via != BALANCE:
        return ledger.gateway(via)
    return ledger.user_available(order.buyer_id)


def refund_transaction(
    order: Order, amount: Money, config: MarketConfig, *, txn_id: str, at: dt.datetime
) -> LedgerTransaction:
    """Escrow → the buyer (balance or gateway) for ``amount``: full or partial.

    Raises:
        ValidationError: ``amount`` is not positive or is more than the order's total.
        CurrencyMismatch: ``amount`` is in another currency.

    .. versionadded:: 0.2
    """
    if not isinstance(amount, Money) or amount.currency != order.total.currency:
        got = amount.currency.code if isinstance(amount, Money) else type(amount).__name__
        raise CurrencyMismatch(f"amount: expected {order.total.currency.code}, got {got}",
                               field="amount", value=amount)
    if not 0 < amount.amount <= order.total.amount:
        raise ValidationError(
            f"amount: expected more than 0 and at most the order's total {order.total},"
            f" got {amount}",
            field="amount",
            value=amount,
        )
    return ledger.transfer(txn_id, "refund", ledger.escrow(order.id),
                           {refund_destination(order, config): amount}, at=at)


def gateway_refund_timer(txn: LedgerTransaction) -> Timer | None:
    """The timer that makes ``tick()`` call the gateway for a refund transaction, if one is
    needed (the transaction pays into a ``gateway:`` account). Schedule it in the same unit
    of work as the transaction.

    .. versionadded:: 0.2
    """
    if not any(p.account.startswith("gateway:") and p.amount > 0 for p in txn.postings):
        return None
    return Timer(f"refund:{txn.id}", f"refund:{txn.id}", "gateway_refund", txn.at)


def open_refund(core: Core, u: Unit, txn_id: str) -> Refund | None:
    """Create the refund record for a refund transaction (once); None if nothing to do."""
    rid = refund_id(txn_id)
    existing = u.tx.get(REFUNDS, rid)
    if existing is not None:
        return existing
    txn = u.tx.ledger_transaction(txn_id)
    if txn is None:
        return None
    out = next((p for p in txn.postings if p.account.startswith("gateway:") and p.amount > 0),
               None)
    source = next((p.account for p in txn.postings if p.amount < 0), "")
    if out is None or not source.startswith("escrow:order:"):
        return None
    gateway = out.account.partition(":")[2]
    amount = Money(out.amount, txn.currency)
    order_id = source.removeprefix("escrow:order:")
    order = u.need(ORDERS, order_id, "order")
    payment = None if order.payment_id is None else u.tx.get(PAYMENTS, order.payment_id)
    refundable = 0
    if payment is not None and payment.reference is not None:
        done = sum(r.amount.amount for r in u.tx.find(REFUNDS, {"payment_id": payment.id},
                                                      limit=1000))
        refundable = max(payment.charged.amount - done, 0)
    via_gateway = min(amount.amount, refundable)
    excess = amount.amount - via_gateway
    if excess:
        u.post(ledger.transfer(f"refund:{rid}:excess", "refund_excess", out.account,
                               {ledger.user_available(order.buyer_id): Money(excess,
                                                                             txn.currency)},
                               at=u.now))
    refund = Refund(
        rid, txn_id, payment.id if payment else "", order_id, order.buyer_id, gateway,
        Money(via_gateway, txn.currency), "pending" if via_gateway else "to_balance",
        u.now, u.now,
    )
    u.tx.add(REFUNDS, refund)
    _emit(u, refund, "refund.requested", excess=excess)
    return refund


def _emit(u: Unit, refund: Refund, name: str, **extra: object) -> None:
    u.emit(name, f"refund:{refund.id}", "system", {
        "refund_id": refund.id, "payment_id": refund.payment_id, "order_id": refund.order_id,
        "gateway": refund.gateway, "amount": refund.amount.amount, "state": refund.state,
        "reference": refund.reference, **extra,
    })


def _save(u: Unit, old: Refund, **changes: Any) -> Refund:
    new = attrs.evolve(old, updated_at=u.now, version=old.version + 1, **changes)
    u.tx.save(REFUNDS, new, old.version)
    return new


def call(core: Core, refund: Refund) -> RefundResult | None:
    """Ask the gateway (outside any transaction); None when the outcome is unknown."""
    gw = core.gateways.get(refund.gateway)
    payment = core.query(lambda tx: tx.get(PAYMENTS, refund.payment_id))
    if gw is None or payment is None or payment.reference is None:
        return RefundResult("failed", failure="gateway or charge not available")
    try:
        result = gw.refund(RefundRequest(refund.id, payment.reference, refund.amount,
                                         refund.idempotency_key))
    except Exception:
        return None
    if not isinstance(result, RefundResult) or result.status not in (
        "succeeded", "pending", "failed"
    ):
        return None  # garbage: treat as unknown, retry with the same key
    return result


def record(u: Unit, refund_id_: str, result: RefundResult | None, actor: str = "system"
           ) -> Refund:
    """Store the outcome of one gateway call (or webhook, or staff confirmation)."""
    refund = u.need(REFUNDS, refund_id_, "refund")
    if refund.state not in OPEN_STATES:
        return refund
    if result is not None and result.status == "succeeded":
        new = _save(u, refund, state="succeeded", reference=result.reference or refund.reference,
                    failure=None)
        _link(u, new)
        _emit(u, new, "refund.succeeded")
        return new
    if result is not None and result.status == "pending":
        new = _save(u, refund, state="processing", reference=result.reference, failure=None)
        _link(u, new)
        _emit(u, new, "refund.processing")
        return _apply_unmatched(u, new)
    if result is not None:  # a definite refusal
        declines = refund.declines + 1
        if declines >= MAX_DECLINES:
            u.post(ledger.transfer(f"refund:{refund.id}:to_balance", "refund_to_balance",
                                   ledger.gateway(refund.gateway),
                                   {ledger.user_available(refund.buyer_id): refund.amount},
                                   at=u.now))
            new = _save(u, refund, state="to_balance", declines=declines,
                        failure=result.failure or "refused")
            _emit(u, new, "refund.failed")
            return new
        new = _save(u, refund, state="retrying", declines=declines,
                    failure=result.failure or "refused")
    else:
        new = _save(u, refund, state="retrying", failure="no answer from the gateway")
    delay = min(RETRY_DELAY * 2 ** min(new.attempts, 20), MAX_DELAY)
    u.tx.schedule(Timer(f"refund:{new.id}:retry:{new.attempts}", f"refund:{new.id}", "retry",
                        u.now + delay))
    _emit(u, new, "refund.retrying")
    return new


def refund_link(gateway: str, reference: str) -> str:
    """The link key of a gateway's refund reference."""
    return f"{gateway}:refund:{reference}"


def _link(u: Unit, refund: Refund) -> None:
    from ._settle import link

    if refund.reference:
        link(u, refund_link(refund.gateway, refund.reference), refund.id)


def _apply_unmatched(u: Unit, refund: Refund) -> Refund:
    """Webhooks that arrived before the refund's own answer was recorded: apply them now."""
    from ._settle import take_unmatched

    if refund.reference is None:
        return refund
    for hook in take_unmatched(u, f"{refund.gateway}:{refund.reference}", "refund"):
        result = (RefundResult("succeeded", refund.reference) if hook.type == "refund.succeeded"
                  else RefundResult("failed", refund.reference, failure="refused (webhook)"))
        refund = record(u, refund.id, result, f"gateway:{refund.gateway}")
    return refund


def attempt(core: Core, rid: str, now: dt.datetime | None = None) -> Refund:
    """One gateway call for an open refund, and its outcome recorded."""
    refund = core.query(lambda tx: tx.get(REFUNDS, rid))
    if refund is None:
        raise NotFound("refund", rid)
    if refund.state not in ("pending", "retrying"):
        return refund
    result = call(core, refund)

    def store(u: Unit) -> Refund:
        current = u.need(REFUNDS, rid, "refund")
        if current.state not in ("pending", "retrying"):
            return current
        counted = _save(u, current, attempts=current.attempts + 1)
        return record(u, counted.id, result)

    return core.run(store, now=now)
