"""Inside a unit of work: record a charge's answer, capture it, fail or expire it.

Every path that learns a charge's outcome -- the ``pay`` call itself, a
webhook, staff confirming a bank transfer, the timeout -- ends here, so the
money moves the same way whoever brought the news. A payment only moves
forward: ``pending``/``requires_action`` → anything; ``failed``/``expired`` →
``succeeded`` (a late capture is money that arrived: it is applied);
``succeeded`` is final.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Final

import attrs

from .._core import Core, Unit
from .._evolve import evolve
from ..actors import Actor
from ..errors import InsufficientFunds
from ..escrow import ledger
from ..money import Money
from ..orders.cart import PAYMENT_KEY_PREFIX, settle_checkout
from ..orders.facade import apply_transition
from ..orders.model import Order
from ..storage.base import Timer
from ..storage.records import ORDERS, PAYMENT_LINKS, PAYMENTS, WEBHOOKS
from .builtin import BALANCE
from .gateway import ChargeResult
from .model import Payment, PaymentLink, PaymentState, ProcessedWebhook

__all__ = [
    "AWAITED",
    "await_link",
    "capture",
    "charge_link",
    "emit",
    "expire_timer",
    "fail",
    "funding_account",
    "learn_reference",
    "link",
    "linked",
    "record_answer",
    "take_unmatched",
]

OPEN: tuple[PaymentState, ...] = ("pending", "requires_action")
#: Ended without the money; a split payment's balance part was released then.
LAPSED: tuple[PaymentState, ...] = ("failed", "expired")


def funding_account(gateway: str, buyer_id: str) -> str:
    """Where a charge's money comes from in the ledger: the buyer's balance or the gateway."""
    return ledger.user_available(buyer_id) if gateway == BALANCE else ledger.gateway(gateway)


def charge_link(gateway: str, reference: str) -> str:
    return f"{gateway}:charge:{reference}"


#: The target of a link written by a webhook that found nothing to apply to yet
#: (:func:`await_link`); recording the charge's, refund's or payout's answer replaces it.
AWAITED: Final = ""


def link(u: Unit, key: str, target: str) -> None:
    """Remember ``key`` → ``target`` (first writer wins; an :data:`AWAITED` one is replaced)."""
    found = u.tx.get(PAYMENT_LINKS, key)
    if found is None:
        u.tx.add(PAYMENT_LINKS, PaymentLink(key, target))
    elif found.target == AWAITED and target != AWAITED:
        u.tx.save(PAYMENT_LINKS, attrs.evolve(found, target=target, version=found.version + 1),
                  found.version)


def linked(u: Unit, key: str) -> str | None:
    """The target ``key`` links to; None if nothing recorded it yet (or only a webhook)."""
    found = u.tx.get(PAYMENT_LINKS, key)
    return None if found is None or found.target == AWAITED else found.target


def learn_reference(u: Unit, payment: Payment, reference: str) -> Payment:
    """A payment recorded without its charge's reference (the gateway's answer was lost)
    learns it from a webhook about it: kept for refunds to the card, and linked so later
    webhooks without the payment id find it."""
    if payment.reference is not None or not reference:
        return payment
    new = _save(u, payment, reference=reference)
    link(u, charge_link(payment.gateway, reference), payment.id)
    return new


def await_link(u: Unit, key: str) -> None:
    """A webhook found nothing linked at ``key`` (a charge, refund or payout reference):
    write that link row, as a placeholder.

    Recording the answer that carries the reference writes the same row (:func:`link`),
    so a webhook and the command recording the answer at the same moment collide on it
    (an insert or a compare-and-set): one of the two runs again and sees the other's
    commit. Without that, under READ COMMITTED each could miss the other -- the webhook
    filed ``unmatched`` after the answer had looked for unmatched webhooks
    (:func:`take_unmatched`) -- and the money would stay in flight.
    """
    found = u.tx.get(PAYMENT_LINKS, key)
    if found is None:
        u.tx.add(PAYMENT_LINKS, PaymentLink(key, AWAITED))
    else:  # an earlier early webhook's placeholder: touch it all the same
        u.tx.save(PAYMENT_LINKS, attrs.evolve(found, version=found.version + 1), found.version)


def expire_timer(payment: Payment, timeout: dt.timedelta) -> Timer:
    return Timer(f"payment:{payment.id}:expire", f"payment:{payment.id}", "expire",
                 payment.created_at + timeout)


def _save(u: Unit, old: Payment, **changes: Any) -> Payment:
    new = evolve(old, updated_at=u.now, version=old.version + 1, **changes)
    u.tx.save(PAYMENTS, new, old.version)
    return new


def emit(u: Unit, payment: Payment, actor: str) -> None:
    """``payment.{state}``, with what a notifier needs."""
    u.emit(f"payment.{payment.state}", f"payment:{payment.id}", actor, {
        "payment_id": payment.id, "order_ids": list(payment.order_ids),
        "gateway": payment.gateway, "amount": payment.amount.amount,
        "reference": payment.reference,
    })


def record_answer(
    core: Core, u: Unit, template: Payment, result: ChargeResult, by: Actor
) -> Payment:
    """Store the gateway's answer to ``create_charge`` and act on it.

    ``template`` is the payment as it would be new; an existing record (a
    retry, or a split payment's hold) is moved forward only.
    """
    existing = u.tx.get(PAYMENTS, template.id)
    if existing is not None and existing.state == "succeeded":
        return existing
    if existing is None:
        payment = evolve(template, state="pending", reference=result.reference,
                         redirect_url=result.redirect_url, failure=result.failure)
        if result.status != "succeeded":  # else capture stores it, captured, in one write
            u.tx.add(PAYMENTS, payment)
    else:
        payment = _save(u, existing, reference=result.reference or existing.reference,
                        redirect_url=result.redirect_url, failure=result.failure)
    if result.reference:
        link(u, charge_link(payment.gateway, result.reference), payment.id)
    if result.status == "succeeded":
        payment = capture(core, u, payment, by, fee=result.fee, stored=existing is not None)
    elif result.status == "failed":
        payment = fail(u, payment, result.failure or "declined", str(by))
    else:
        if payment.state != result.status and payment.state in OPEN:
            payment = _save(u, payment, state=result.status)
        emit(u, payment, str(by))
        u.tx.schedule(expire_timer(payment, core.config.payment_timeout))
        payment = _apply_unmatched(core, u, payment)
    return payment


def take_unmatched(u: Unit, ref: str, kind: str) -> list[ProcessedWebhook]:
    """Webhooks about ``ref`` (``"{source}:{reference}"``) of types ``{kind}.*`` that came
    before the answer carrying that reference and were filed ``unmatched``: marked
    ``applied`` now, for the caller to apply, oldest first."""
    taken = []
    for hook in u.tx.find(WEBHOOKS, {"ref": ref}, limit=20):
        if hook.outcome == "unmatched" and hook.type.startswith(f"{kind}."):
            u.tx.save(WEBHOOKS, attrs.evolve(hook, outcome="applied", version=hook.version + 1),
                      hook.version)
            taken.append(hook)
    return sorted(taken, key=lambda h: h.at)


def _apply_unmatched(core: Core, u: Unit, payment: Payment) -> Payment:
    """Webhooks that arrived before the charge's own answer was recorded: apply them now."""
    if payment.reference is None:
        return payment
    for hook in take_unmatched(u, f"{payment.gateway}:{payment.reference}", "charge"):
        if hook.type == "charge.succeeded":
            payment = capture(core, u, payment, Actor.system())
        elif payment.state in OPEN:
            payment = fail(u, payment, "declined (webhook)", "system")
    return payment


def capture(
    core: Core, u: Unit, payment: Payment, by: Actor, *, fee: Money | None = None,
    stored: bool = True,
) -> Payment:
    """The money is in: fund the orders (or the top-up); idempotent by ledger ids.

    ``stored=False``: ``payment`` is new to this unit of work and not stored yet; it is
    added once, captured (as version + 1, the record an add then save would leave).
    """
    if payment.state == "succeeded":
        return payment
    pid, buyer = payment.id, payment.buyer_id
    if stored:
        new = _save(u, payment, state="succeeded", failure=None)
    else:
        new = evolve(payment, updated_at=u.now, version=payment.version + 1,
                     state="succeeded", failure=None)
        u.tx.add(PAYMENTS, new)
    emit(u, new, str(by))
    if payment.is_top_up:
        u.post(ledger.transfer(f"payment:{pid}:topup", "topup", ledger.gateway(payment.gateway),
                               {ledger.user_available(buyer): payment.amount}, at=u.now))
    else:
        orders = [u.need(ORDERS, oid, "order") for oid in payment.order_ids]
        if payment.from_balance is not None:
            source = ledger.payment_hold(pid)
            u.post(ledger.transfer(f"payment:{pid}:capture", "capture",
                                   ledger.gateway(payment.gateway),
                                   {source: payment.charged}, at=u.now))
            if payment.state in LAPSED and not _hold_again(u, payment):
                orders = []  # the card's part alone cannot fund them
                u.post(ledger.transfer(
                    f"payment:{pid}:unapplied", "unapplied", source,
                    {ledger.user_available(buyer): payment.charged}, at=u.now))
        else:
            source = funding_account(payment.gateway, buyer)
        _fund(core, u, payment, orders, source, by)
        if payment.idempotency_key.startswith(PAYMENT_KEY_PREFIX):  # a cart's checkout
            settle_checkout(u, f"{buyer}:{payment.idempotency_key[len(PAYMENT_KEY_PREFIX):]}",
                            payment.order_ids)
    if fee is not None and fee.amount > 0 and payment.gateway != BALANCE:
        # Informational: the processor keeps its fee; the settlement report shows it.
        u.emit("payment.fee", f"payment:{pid}", str(by), {
            "payment_id": pid, "gateway": payment.gateway, "fee": fee.amount})
    return new


def _hold_again(u: Unit, payment: Payment) -> bool:
    """A late capture of a split payment: its balance part was released when the charge
    failed or expired. Hold it again if the buyer still has it (then the orders are
    funded as if nothing had lapsed); else False, and the caller puts what the card paid
    on the buyer's balance."""
    assert payment.from_balance is not None
    available = ledger.user_available(payment.buyer_id)
    balances, _ = u.tx.balances([available])
    if balances.get(available, 0) < payment.from_balance.amount:
        return False
    u.post(ledger.transfer(f"payment:{payment.id}:rehold", "hold", available,
                           {ledger.payment_hold(payment.id): payment.from_balance}, at=u.now))
    return True


def _fund(
    core: Core, u: Unit, payment: Payment, orders: Sequence[Order], source: str, by: Actor
) -> None:
    """Fund each payable order's escrow; what can't be paid goes to the buyer's balance.

    Each payable order gets its own ``order:{id}:pay`` transaction from
    ``source``. An order that expired or was cancelled meanwhile can't take
    the money: its share lands on the buyer's balance (one
    ``payment:{id}:unapplied`` transaction for all such orders).
    """
    payable = [o for o in orders if o.state == "pending_payment"]
    if len(payable) > 1 and source == ledger.user_available(payment.buyer_id):
        # One posting per order would fail part-way and name that order's need against
        # what the earlier ones left: say what the buyer has and the payment needs.
        balances, _ = u.tx.balances([source])
        have, need = balances.get(source, 0), sum(o.total.amount for o in payable)
        if have < need:
            raise InsufficientFunds(f"{source}: balance {have} minor units, needs {need}",
                                    account=source, balance=have, needed=need)
    unapplied: Money | None = None
    for order in orders:
        if order.state != "pending_payment":
            unapplied = order.total if unapplied is None else unapplied + order.total
            continue
        apply_transition(core, u, order, "pay", by, {
            "funding_account": source, "gateway": payment.gateway, "payment_id": payment.id,
        })
    if unapplied is not None:
        u.post(ledger.transfer(
            f"payment:{payment.id}:unapplied", "unapplied", source,
            {ledger.user_available(payment.buyer_id): unapplied}, at=u.now,
        ))


def fail(u: Unit, payment: Payment, why: str, actor: str, *,
         state: PaymentState = "failed") -> Payment:
    """The charge will not complete: release a split payment's balance hold."""
    if payment.state not in OPEN:
        return payment
    if payment.from_balance is not None:
        u.post(ledger.transfer(f"payment:{payment.id}:release", "release_hold",
                               ledger.payment_hold(payment.id),
                               {ledger.user_available(payment.buyer_id): payment.from_balance},
                               at=u.now))
    new = _save(u, payment, state=state, failure=why)
    emit(u, new, actor)
    return new
