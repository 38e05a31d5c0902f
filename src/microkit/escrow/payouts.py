"""``market.payouts``: sellers withdraw their available balance through a payout method.

A withdrawal moves ``amount`` from ``user:{id}:available`` into the hold
account ``payout:{id}`` at once (pending, uncleared earnings live in
``user:{id}:pending`` and can never be withdrawn). The payout method is
called after that commit. When the transfer is confirmed -- by the method's
answer, its ``payout.paid`` webhook, or staff -- the hold settles:
``net`` to ``payout_method:{name}`` and ``fee`` to ``platform:payout_fees``.
When it fails, the whole amount goes back to the seller's balance. A method
that raises or never answers is retried by ``tick()`` with the same
idempotency key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any, Final

import attrs

from .._checks import actor_checked, whole_number
from .._core import Core, Unit, new_id
from ..actors import Actor
from ..errors import (
    Conflict,
    CurrencyMismatch,
    InvalidAmount,
    InvalidTransition,
    LimitExceeded,
    NotFound,
    PaymentError,
    PermissionDenied,
    PluginError,
    ValidationError,
)
from ..hooks import call_plugin
from ..money import Money, percent_of
from ..payments import _settle, _webhooks
from ..payments.model import WebhookResult
from ..payments.payout_method import PayoutMethod, PayoutRequest, PayoutResult
from ..storage.base import Timer
from ..storage.records import PAYOUTS, USERS
from . import ledger
from ._payout import Payout, PayoutState

__all__ = ["Payout", "PayoutState", "PayoutsFacade", "withdrawal_fee"]

#: First retry of a send that got no answer; doubled per attempt, capped at a day.
RETRY_DELAY: Final = dt.timedelta(minutes=5)
MAX_DELAY: Final = dt.timedelta(hours=24)
#: Most payouts one :meth:`PayoutsFacade.of` call returns (and reads).
MAX_LIMIT: Final = 10_000


def withdrawal_fee(amount: Money, *, rate: Any, cap: Money | None, fixed: Money | None) -> Money:
    """The fee on a withdrawal: ``rate`` × amount (half-up, at most ``cap``) + ``fixed``."""
    fee = percent_of(amount, rate, "half_up")
    if cap is not None and cap < fee:
        fee = cap
    return fee + fixed if fixed is not None else fee


@actor_checked
class PayoutsFacade:
    """Withdrawals. Reached as ``market.payouts``.

    .. versionadded:: 0.2
    """

    def __init__(self, core: Core, methods: Mapping[str, PayoutMethod]) -> None:
        self._core = core
        self._methods = dict(methods)

    @property
    def methods(self) -> tuple[str, ...]:
        """Names of the registered payout methods."""
        return tuple(sorted(self._methods))

    def method(self, name: str) -> PayoutMethod:
        """A registered payout method by name. Raises NotFound."""
        found = self._methods.get(name)
        if found is None:
            raise NotFound("payout method", name)
        return found

    def get(self, payout_id: str) -> Payout:
        """A payout by id. Raises NotFound."""
        return self._core.get(PAYOUTS, payout_id, "payout")

    def of(self, seller_id: str, *, limit: int = 100) -> list[Payout]:
        """A seller's payouts, newest first. Raises ValidationError (a limit not in
        1..10000)."""
        whole_number("limit", limit, low=1, high=MAX_LIMIT)
        found = self._core.query(lambda tx: tx.find(PAYOUTS, {"seller_id": seller_id},
                                                    limit=MAX_LIMIT))
        return sorted(found, key=lambda p: (p.created_at, p.id), reverse=True)[:limit]

    def fee(self, amount: Money) -> Money:
        """The fee a withdrawal of ``amount`` would cost under the market's config.

        Raises: ValidationError (not Money), CurrencyMismatch (not the market's currency),
        InvalidAmount (zero or less: nothing to withdraw).
        """
        self._check_amount(amount)
        if amount.amount <= 0:
            raise InvalidAmount(f"amount: expected more than zero, got {amount}",
                                field="amount", value=amount)
        return self._fee(amount)

    def _fee(self, amount: Money) -> Money:
        c = self._core.config
        return withdrawal_fee(amount, rate=c.withdrawal_fee_rate, cap=c.withdrawal_fee_cap,
                              fixed=c.withdrawal_fee_fixed)

    def request(
        self,
        amount: Money,
        *,
        by: Actor,
        method: str,
        destination: str,
        idempotency_key: str | None = None,
    ) -> Payout:
        """Withdraw ``amount`` from the seller's available balance through ``method``.

        The amount is held at once; the method is called after the commit.
        The fee (config: percent with cap, plus fixed) is kept by the platform
        and the method sends ``amount - fee``.

        Args:
            amount: what leaves the available balance, fee included.
            destination: where the method sends it; checked by the method, stored and
                compared on a retry without surrounding whitespace.
            idempotency_key: the same key again returns the first payout.

        Raises:
            PermissionDenied: ``by`` is not a user.
            NotFound: unknown user or payout method.
            ValidationError: not Money; a bad destination or key.
            CurrencyMismatch: not the market's currency.
            LimitExceeded: under ``withdrawal_min``, or not more than the fee.
            InsufficientFunds: more than the available balance (pending earnings
                do not count).
            Conflict: the key was used for another withdrawal.
        """
        core = self._core
        if by.kind != "user":
            raise PermissionDenied(f"{by} may not withdraw: balances belong to users",
                                   actor=str(by), action="withdraw")
        pm = self.method(method)
        cur = core.config.currency
        self._check_amount(amount)
        if pm.currencies and cur.code not in pm.currencies:
            raise PaymentError(f"payout method {method!r} cannot send {cur.code}",
                               gateway=method)
        if amount < core.config.withdrawal_min:
            raise LimitExceeded(
                f"withdrawal_min: expected at least {core.config.withdrawal_min}, got {amount}",
                limit="withdrawal_min", value=core.config.withdrawal_min,
            )
        fee = self._fee(amount)  # nothing left of it, for an amount of zero too
        if fee.amount >= amount.amount:
            raise LimitExceeded(f"withdrawal fee {fee} leaves nothing of {amount}",
                                limit="withdrawal_fee", value=fee)
        if not isinstance(destination, str) or not 0 < len(destination.strip()) <= 500:
            raise ValidationError(f"destination: expected 1..500 characters, got"
                                  f" {destination!r:.80}", field="destination",
                                  value=destination)
        raw_destination, destination = destination, destination.strip()  # as stored and sent
        why = call_plugin(f"payout method {method!r}: check_destination",
                          lambda: pm.check_destination(destination))
        if why is not None and not isinstance(why, str):
            raise PluginError(f"payout method {method!r}: check_destination: expected None or"
                              f" the reason as a str, got {why!r:.80}")
        if why:
            raise ValidationError(f"destination: {why}", field="destination",
                                  value=raw_destination)
        if idempotency_key is not None and (not isinstance(idempotency_key, str)
                                            or not 0 < len(idempotency_key) <= 200):
            raise ValidationError(f"idempotency_key: expected 1..200 characters, got"
                                  f" {idempotency_key!r}", field="idempotency_key",
                                  value=idempotency_key)
        pid = (new_id("po") if idempotency_key is None else "po_" + hashlib.sha256(
            f"{by.id}\x00{idempotency_key}".encode()).hexdigest()[:20])

        def command(u: Unit) -> tuple[Payout, bool]:
            known = u.tx.get(PAYOUTS, pid)
            if known is not None:
                if (known.amount, known.method, known.destination) != (amount, method,
                                                                       destination):
                    raise Conflict(f"idempotency_key {idempotency_key!r} was used for another"
                                   " withdrawal", key=str(idempotency_key))
                return known, False
            u.need(USERS, by.id, "user")
            u.post(ledger.transfer(f"payout:{pid}:hold", "payout_hold",
                                   ledger.user_available(by.id), {ledger.payout(pid): amount},
                                   at=u.now))
            payout = Payout(pid, by.id, amount, fee, amount - fee, method, destination,
                            "requested", u.now, u.now)
            u.tx.add(PAYOUTS, payout)
            # Safety net: if this process dies before the method is called, tick() sends it.
            u.tx.schedule(Timer(f"payout:{pid}:send:0", f"payout:{pid}", "send",
                                u.now + RETRY_DELAY))
            _emit(u, payout, "payout.requested", str(by))
            return payout, True

        payout, new = core.run(command)
        return self._send(payout.id) if new or payout.state == "requested" else payout

    def confirm(self, payout_id: str, *, by: Actor, reference: str) -> Payout:
        """Staff confirm the transfer was made (``manual_bank``): the payout settles.

        Raises: PermissionDenied (not staff), NotFound, ValidationError (empty
        reference), InvalidTransition (paid or returned already).
        """
        _staff(by, "confirm payouts")
        _text("reference", reference)
        return self._core.run(lambda u: self._settle(u, payout_id, PayoutResult(
            "paid", reference), str(by), strict=True))

    def fail(self, payout_id: str, *, by: Actor, reason: str) -> Payout:
        """Staff mark the transfer failed: the whole amount returns to the seller's balance.

        Raises: PermissionDenied (not staff), NotFound, ValidationError (empty
        reason), InvalidTransition (paid or returned already).
        """
        _staff(by, "fail payouts")
        _text("reason", reason)
        return self._core.run(lambda u: self._settle(u, payout_id, PayoutResult(
            "failed", failure=reason), str(by), strict=True))

    def handle_webhook(
        self, method: str, headers: Mapping[str, str], body: bytes
    ) -> WebhookResult:
        """Verify a payout method's webhook and apply ``payout.paid`` / ``payout.failed`` once.

        An event for a payout whose ``send`` answer is not recorded yet is kept
        (``unmatched``) and applied when that answer is recorded.

        Raises:
            NotFound: unknown method.
            WebhookVerificationError: bad, stale or tampered signature.
            PaymentError: the method raised or returned garbage.
        """
        pm = self.method(method)
        source = f"payout:{method}"
        event = _webhooks.parse(method, lambda: pm.parse_webhook(headers, body))

        def command(u: Unit) -> WebhookResult:
            done = _webhooks.dedupe(u, source, event)
            if done is not None:
                return done
            if not event.type.startswith("payout."):
                return _webhooks.remember(u, source, event, "ignored", None)
            key = f"{source}:{event.reference}"
            target = _settle.linked(u, key)
            if target is None:  # the method's answer is not recorded yet: applied when it is
                _settle.await_link(u, key)
                return _webhooks.remember(u, source, event, "unmatched", None)
            payout = u.need(PAYOUTS, target, "payout")
            if payout.state in ("paid", "returned"):
                return _webhooks.remember(u, source, event, "ignored", f"payout:{payout.id}")
            self._settle(u, payout.id, _hook_result(event.type, event.reference),
                         f"gateway:{method}", strict=False)
            return _webhooks.remember(u, source, event, "applied", f"payout:{payout.id}")

        return self._core.run(command)

    def run_timer(self, timer: Timer, now: dt.datetime) -> str | None:
        """Run a due payout timer: send a payout the method never accepted. (Used by tick.)"""
        payout_id = timer.subject.partition(":")[2]

        def take(u: Unit) -> bool | None:
            if not u.tx.delete_timer(timer):
                return None
            found = u.tx.get(PAYOUTS, payout_id)
            return found is not None and found.state == "requested"

        due = self._core.run(take, now=now)
        if due is None:
            return None
        if not due:
            return "dropped"
        return f"payout_{self._send(payout_id, now).state}"

    # -- internals -------------------------------------------------------------

    def _check_amount(self, amount: Money) -> None:
        cur = self._core.config.currency
        if not isinstance(amount, Money):
            raise ValidationError(f"amount: expected Money, got {amount!r:.80}",
                                  field="amount", value=amount)
        if amount.currency != cur:
            raise CurrencyMismatch(f"amount: expected {cur.code}, got {amount.currency.code}",
                                   field="amount", value=amount)

    def _send(self, payout_id: str, now: dt.datetime | None = None) -> Payout:
        """Call the method (outside any transaction) and record its answer."""
        payout = self.get(payout_id)
        pm = self._methods.get(payout.method)
        result: PayoutResult | None = None
        if pm is not None:
            try:
                answer = pm.send(PayoutRequest(payout.id, payout.seller_id, payout.net,
                                               payout.destination, f"microkit:{payout.id}"))
                if isinstance(answer, PayoutResult) and answer.status in (
                    "paid", "pending", "failed"
                ):
                    result = answer
            except Exception:
                result = None  # unknown outcome: retried with the same key

        def record(u: Unit) -> Payout:
            current = u.need(PAYOUTS, payout_id, "payout")
            if current.state != "requested":
                return current
            current = _save(u, current, attempts=current.attempts + 1)
            if result is None:
                delay = min(RETRY_DELAY * 2 ** min(current.attempts, 20), MAX_DELAY)
                u.tx.schedule(Timer(f"payout:{payout_id}:send:{current.attempts}",
                                    f"payout:{payout_id}", "send", u.now + delay))
                return current
            if result.reference:
                _link(u, current, result.reference)
            if result.status == "pending":
                new = _save(u, current, state="sent", reference=result.reference)
                _emit(u, new, "payout.sent", "system")
                return self._apply_unmatched(u, new)
            return self._settle(u, payout_id, result, "system", strict=False)

        return self._core.run(record, now=now)

    def _apply_unmatched(self, u: Unit, payout: Payout) -> Payout:
        """Webhooks that arrived before the method's answer was recorded: apply them now."""
        reference = payout.reference
        if reference is None:
            return payout
        for hook in _settle.take_unmatched(u, f"payout:{payout.method}:{reference}", "payout"):
            payout = self._settle(u, payout.id, _hook_result(hook.type, reference),
                                  f"gateway:{payout.method}", strict=False)
        return payout

    def _settle(self, u: Unit, payout_id: str, result: PayoutResult, actor: str, *,
                strict: bool) -> Payout:
        payout = u.need(PAYOUTS, payout_id, "payout")
        if payout.state in ("paid", "returned"):
            if strict:
                raise InvalidTransition(f"payout {payout_id} is {payout.state} already",
                                        transition="settle", state=payout.state, allowed=())
            return payout
        # The record first, then the money: of two settlements racing (confirm and fail,
        # a webhook and staff), the loser's compare-and-set fails and it runs again to find
        # the payout settled -- rather than tripping over the emptied hold with
        # InsufficientFunds (under READ COMMITTED the posting would wait and fail first).
        hold = ledger.payout(payout.id)
        if result.status == "paid":
            new = _save(u, payout, state="paid", reference=result.reference or payout.reference)
            u.post(ledger.transfer(f"payout:{payout.id}:paid", "payout", hold, [
                (ledger.payout_method(payout.method), payout.net),
                (ledger.PLATFORM_PAYOUT_FEES, payout.fee),
            ], at=u.now))
            _emit(u, new, "payout.paid", actor)
        else:
            new = _save(u, payout, state="returned", failure=result.failure or "failed")
            u.post(ledger.transfer(f"payout:{payout.id}:returned", "payout_returned", hold,
                                   {ledger.user_available(payout.seller_id): payout.amount},
                                   at=u.now))
            _emit(u, new, "payout.returned", actor)
        return new


def _link(u: Unit, payout: Payout, reference: str) -> None:
    _settle.link(u, f"payout:{payout.method}:{reference}", payout.id)


def _hook_result(event_type: str, reference: str) -> PayoutResult:
    """What a ``payout.paid`` / ``payout.failed`` webhook says, as the method's answer."""
    if event_type == "payout.paid":
        return PayoutResult("paid", reference)
    return PayoutResult("failed", reference, "failed (webhook)")


def _save(u: Unit, old: Payout, **changes: Any) -> Payout:
    new = attrs.evolve(old, updated_at=u.now, version=old.version + 1, **changes)
    u.tx.save(PAYOUTS, new, old.version)
    return new


def _emit(u: Unit, payout: Payout, name: str, actor: str) -> None:
    u.emit(name, f"payout:{payout.id}", actor, {
        "payout_id": payout.id, "seller_id": payout.seller_id, "amount": payout.amount.amount,
        "fee": payout.fee.amount, "net": payout.net.amount, "method": payout.method,
        "state": payout.state, "reference": payout.reference,
    })


def _staff(by: Actor, action: str) -> None:
    if by.kind != "staff":
        raise PermissionDenied(f"{by} may not {action}: staff only", actor=str(by),
                               action=action)


def _text(field: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > 500:
        raise ValidationError(f"{field}: expected 1..500 characters, got {value!r:.80}",
                              field=field, value=value)
