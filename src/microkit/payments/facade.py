"""``market.payments``: charges, top-ups, split payments, webhooks, refunds through gateways."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import attrs

from .._checks import actor_checked
from .._core import Core, Unit
from ..actors import Actor
from ..errors import (
    Conflict,
    CurrencyMismatch,
    InvalidTransition,
    NotFound,
    PaymentError,
    PermissionDenied,
    ValidationError,
)
from ..escrow import ledger
from ..money import Money
from ..orders.facade import role_of
from ..orders.model import Order
from ..storage.base import RecordKind, Timer, Tx, assume_read, prefetch
from ..storage.records import ORDERS, PAYMENT_LINKS, PAYMENTS, REFUNDS
from . import _settle, _webhooks, refunds
from ._settle import funding_account
from .builtin import BALANCE
from .gateway import ChargeRequest, ChargeResult, Gateway, RefundResult
from .manual import MANUAL
from .model import Payment, Refund, WebhookResult

__all__ = ["PaymentsFacade", "funding_account"]

T = TypeVar("T")


def payment_id(buyer_id: str, idempotency_key: str) -> str:
    """Derived from the buyer's key, so a retried ``pay`` finds the first attempt."""
    digest = hashlib.sha256(f"{buyer_id}\x00{idempotency_key}".encode()).hexdigest()[:20]
    return f"p_{digest}"


@actor_checked
class PaymentsFacade:
    """Payments. Reached as ``market.payments``.

    .. versionadded:: 0.1
    """

    def __init__(self, core: Core) -> None:
        self._core = core

    def gateway(self, name: str) -> Gateway:
        """A registered gateway by name. Raises NotFound."""
        found = self._core.gateways.get(name)
        if found is None:
            raise NotFound("gateway", name)
        return found

    def get(self, payment_id: str) -> Payment:
        """A payment by id. Raises NotFound."""
        return self._core.get(PAYMENTS, payment_id, "payment")

    def pay(self, order_id: str, *, by: Actor, gateway: str, idempotency_key: str) -> Payment:
        """Charge the order's total through ``gateway``; on success the order is ``paid``.

        The gateway is called outside the database transaction with an
        idempotency key derived from yours; the result is recorded in one
        transaction. The same key again returns the first payment and
        charges nothing. A charge left ``pending`` or ``requires_action``
        completes later through the gateway's webhook.

        Raises:
            NotFound: unknown order or gateway.
            PermissionDenied: ``by`` is not the order's buyer.
            InvalidTransition: the order is not waiting for payment (e.g. paid already).
            InsufficientFunds: ``gateway="balance"`` and the balance is short.
            PaymentError: the gateway declined, failed, or cannot charge this currency.
                With ``outcome_unknown`` set its answer was lost, and the charge may
                have gone through: the payment is kept ``pending`` until the
                processor's webhook, a retry with the same key (which learns the
                outcome) or ``payment_timeout``.
            Conflict: the key was used for another order, or for this order
                through another gateway.
        """
        return self.pay_orders((order_id,), by=by, gateway=gateway,
                               idempotency_key=idempotency_key)

    def pay_orders(
        self,
        order_ids: Sequence[str],
        *,
        by: Actor,
        gateway: str,
        idempotency_key: str,
        from_balance: Money | None = None,
    ) -> Payment:
        """Charge several orders of one buyer at once (a cart checkout): one charge.

        The gateway is charged the orders' sum once; on success each order's
        escrow is funded by its own ledger transaction (``order:{id}:pay``)
        from the same funding account, all in one unit of work: either every
        order is ``paid`` or none is. Retries and failures behave as in
        :meth:`pay`.

        Args:
            order_ids: one or more distinct orders, all ``pending_payment`` and all
                bought by ``by``.
            from_balance: a split payment: this much comes from the buyer's site
                balance, the rest through ``gateway``. The balance part is held
                (``payment:{id}``) before the card is charged and released if the
                charge fails or expires (not when its answer is lost: the charge may
                have gone through). A capture after that (a late webhook) holds it
                again, or, if the buyer has spent it meanwhile, puts the card's part
                on the buyer's balance and leaves the orders unpaid.

        Raises:
            ValidationError: no orders, a repeated order id, a bad key, or a
                ``from_balance`` not strictly between 0 and the total.
            NotFound, PermissionDenied, InvalidTransition, InsufficientFunds,
            PaymentError, Conflict: as :meth:`pay`, for any of the orders.

        .. versionadded:: 0.2
        """
        core = self._core
        ids = _order_ids(order_ids)
        gw = self._usable(gateway)
        _check_key(idempotency_key)
        pid = payment_id(by.id, idempotency_key)

        def check(tx: Tx) -> tuple[list[Order], Payment | None]:
            prefetch(tx, (PAYMENTS, pid), *((ORDERS, oid) for oid in ids))
            known = tx.get(PAYMENTS, pid)
            if known is not None and (known.order_ids, known.gateway, known.from_balance) != (
                    ids, gateway, from_balance):
                # The same key is the same request: a retry may not change how it is paid.
                raise Conflict(
                    f"idempotency_key {idempotency_key!r} was used for order(s)"
                    f" {', '.join(known.order_ids) or '(a top-up)'} through"
                    f" {known.gateway!r}"
                    + (f" with {known.from_balance} from the balance"
                       if known.from_balance is not None else ""),
                    key=idempotency_key,
                )
            orders = []
            for oid in ids:
                order = tx.get(ORDERS, oid)
                if order is None:
                    raise NotFound("order", oid)
                if role_of(order, by) != "buyer":
                    raise PermissionDenied(f"{by} is not the buyer of order {oid}",
                                           actor=str(by), action="pay")
                orders.append(order)
            return orders, known

        orders, known = core.query(check, snapshot=False)  # ``again`` checks in the unit
        if known is not None and known.state == "succeeded":
            return known
        # Fail before touching the card: the table must allow paying in this state.
        for order in orders:
            core.process.choose("pay", order.state, "buyer")
        total = sum((o.total for o in orders[1:]), orders[0].total)
        if from_balance is not None:
            self._check_split(from_balance, total, gateway)
        template = Payment(pid, by.id, ids, gateway, idempotency_key, total, "pending",
                           core.clock.now(), core.clock.now(), from_balance=from_balance)
        description = (f"order {ids[0]}: {orders[0].title}" if len(ids) == 1
                       else f"{len(ids)} orders: {', '.join(ids)}")

        def again(tx: Tx) -> None:
            check(tx)

        # The unit recording the answer starts from what ``check`` just read: it saves
        # the orders compare-and-set and adds the payment, so a change meanwhile makes
        # it run again on fresh reads. (A split payment's hold adds the payment first.)
        seen: list[tuple[RecordKind[Any], str, Any]] = [] if from_balance is not None else [
            (PAYMENTS, pid, known), *((ORDERS, o.id, o) for o in orders)]
        return self._charge(gw, template, by, description, recheck=again, seen=seen)

    def top_up(
        self, amount: Money, *, by: Actor, gateway: str, idempotency_key: str
    ) -> Payment:
        """Add money to the buyer's site balance through ``gateway``.

        Works like :meth:`pay` (idempotent by key; pending charges settle by
        webhook or expire); on capture ``gateway:{name}`` → ``user:{id}:available``.

        Raises:
            ValidationError: not a positive amount; ``gateway="balance"``; a bad key.
            CurrencyMismatch: the amount is not in the market's currency.
            PermissionDenied: ``by`` is not a user.
            NotFound: unknown gateway. PaymentError: declined or failed.
            Conflict: the key was used for another payment.

        .. versionadded:: 0.2
        """
        core = self._core
        if by.kind != "user":
            raise PermissionDenied(f"{by} may not top up: balances belong to users",
                                   actor=str(by), action="top_up")
        self._check_amount(amount)
        if gateway == BALANCE:
            raise ValidationError("gateway: a top-up cannot be paid from the balance itself",
                                  field="gateway", value=gateway)
        gw = self._usable(gateway)
        _check_key(idempotency_key)
        pid = payment_id(by.id, idempotency_key)

        def again(tx: Tx) -> None:
            known = tx.get(PAYMENTS, pid)
            if known is not None and (known.order_ids or known.amount != amount
                                      or known.gateway != gateway):
                raise Conflict(f"idempotency_key {idempotency_key!r} was used for another"
                               " payment", key=idempotency_key)

        core.query(again)
        known = core.query(lambda tx: tx.get(PAYMENTS, pid))
        if known is not None and known.state == "succeeded":
            return known
        template = Payment(pid, by.id, (), gateway, idempotency_key, amount, "pending",
                           core.clock.now(), core.clock.now())
        return self._charge(gw, template, by, f"balance top-up {amount}", recheck=again)

    def confirm_manual(self, payment_id: str, *, by: Actor, reference: str) -> Payment:
        """Staff saw an offline bank transfer arrive: the ``manual`` payment is captured.

        Args:
            reference: the bank transfer's reference, kept on the payment.

        Raises:
            PermissionDenied: ``by`` is not staff.
            NotFound: unknown payment.
            ValidationError: not a ``manual`` payment; an empty reference.
            InvalidTransition: the payment is not pending (already confirmed, expired, …).

        .. versionadded:: 0.2
        """
        _staff(by, "confirm_manual")
        _text("reference", reference)

        def command(u: Unit) -> Payment:
            payment = u.need(PAYMENTS, payment_id, "payment")
            if payment.gateway != MANUAL:
                raise ValidationError(f"payment_id: {payment_id} is a {payment.gateway!r}"
                                      " payment, not a manual one", field="payment_id",
                                      value=payment_id)
            if payment.state not in _settle.OPEN:
                raise InvalidTransition(
                    f"cannot confirm a payment that is {payment.state!r}",
                    transition="confirm_manual", state=payment.state, allowed=(),
                )
            payment = attrs.evolve(payment, transfer_reference=reference,
                                   version=payment.version + 1)
            u.tx.save(PAYMENTS, payment, payment.version - 1)
            u.emit("payment.confirmed", f"payment:{payment.id}", str(by), {
                "payment_id": payment.id, "reference": reference})
            return _settle.capture(self._core, u, payment, Actor.system())

        return self._core.run(command)

    # -- refunds ---------------------------------------------------------------

    def refund(self, refund_id: str) -> Refund:
        """A refund through a gateway by id. Raises NotFound.

        .. versionadded:: 0.2
        """
        return self._core.get(REFUNDS, refund_id, "refund")

    def refunds_of(self, payment_id: str) -> list[Refund]:
        """Every gateway refund of one payment, oldest first.

        .. versionadded:: 0.2
        """
        found = self._core.query(lambda tx: tx.find(REFUNDS, {"payment_id": payment_id},
                                                     limit=1000))
        return sorted(found, key=lambda r: (r.created_at, r.id))

    def confirm_refund(self, refund_id: str, *, by: Actor, reference: str) -> Refund:
        """Staff made a pending refund's transfer themselves (e.g. a ``manual`` payment's).

        Raises:
            PermissionDenied: ``by`` is not staff. NotFound: unknown refund.
            InvalidTransition: the refund is settled already.

        .. versionadded:: 0.2
        """
        _staff(by, "confirm_refund")
        _text("reference", reference)

        def command(u: Unit) -> Refund:
            current = u.need(REFUNDS, refund_id, "refund")
            if current.state not in refunds.OPEN_STATES:
                raise InvalidTransition(f"cannot confirm a refund that is {current.state!r}",
                                        transition="confirm_refund", state=current.state,
                                        allowed=())
            return refunds.record(u, refund_id, RefundResult("succeeded", reference), str(by))

        return self._core.run(command)

    # -- webhooks --------------------------------------------------------------

    def handle_webhook(
        self, gateway: str, headers: Mapping[str, str], body: bytes
    ) -> WebhookResult:
        """Verify a gateway's webhook and apply its event exactly once.

        Call it from your HTTP endpoint with the raw body; answer 2xx when it
        returns, and an error status when it raises (the processor retries).
        Deliveries of an event id seen before do nothing (``duplicate``). An
        event that arrives out of order is applied only if it still moves
        something (``ignored`` otherwise). A ``charge.*`` event for a charge
        microkit has not recorded yet is kept (``unmatched``) and applied when
        the charge's own answer is recorded; likewise a ``refund.*`` event for a
        refund whose answer is not recorded yet. A capture for an order that
        expired or was cancelled meanwhile lands on the buyer's balance.

        Raises:
            NotFound: unknown gateway.
            WebhookVerificationError: bad, stale or tampered signature; not an event.
            PaymentError: the gateway raised, returned garbage, or reported an
                amount other than microkit charged (nothing is recorded; look at it).

        .. versionadded:: 0.2
        """
        gw = self.gateway(gateway)
        event = _webhooks.parse(gateway, lambda: gw.parse_webhook(headers, body))
        return self._core.run(lambda u: _webhooks.apply(self._core, u, gateway, event))

    # -- timers (run by Marketplace.tick) -------------------------------------

    def run_timer(self, timer: Timer, now: dt.datetime) -> str | None:
        """Run one due payment or refund timer; the gateway is called after its commit.

        Returns what it did, or None when another tick took the timer.
        """
        core = self._core
        kind, _, key = timer.subject.partition(":")

        def take(u: Unit) -> str | None:
            if not u.tx.delete_timer(timer):
                return None
            if kind == "payment":
                payment = u.tx.get(PAYMENTS, key)
                if payment is None or payment.state not in _settle.OPEN:
                    return "dropped"
                _settle.fail(u, payment, "not paid within payment_timeout", "system",
                             state="expired")
                return "payment_expired"
            if timer.name == "gateway_refund":
                opened = refunds.open_refund(core, u, key)
                return None if opened is None else f"refund:{opened.id}"
            return f"refund:{key}"

        outcome = core.run(take, now=now)
        if outcome is None or not outcome.startswith("refund:"):
            return outcome
        refund = refunds.attempt(core, outcome.partition(":")[2], now)
        return f"refund_{refund.state}"

    # -- internals -------------------------------------------------------------

    def _usable(self, gateway: str) -> Gateway:
        gw = self.gateway(gateway)
        code = self._core.config.currency.code
        if gw.currencies and code not in gw.currencies:
            raise PaymentError(f"gateway {gateway!r} cannot charge {code}", gateway=gateway)
        return gw

    def _check_amount(self, amount: Money, field: str = "amount") -> None:
        cur = self._core.config.currency
        if not isinstance(amount, Money):
            raise ValidationError(f"{field}: expected Money, got {amount!r:.80}", field=field,
                                  value=amount)
        if amount.currency != cur:
            raise CurrencyMismatch(f"{field}: expected {cur.code}, got {amount.currency.code}",
                                   field=field, value=amount)
        if amount.amount <= 0:
            raise ValidationError(f"{field}: expected more than 0, got {amount}",
                                  field=field, value=amount)

    def _check_split(self, part: Money, total: Money, gateway: str) -> None:
        self._check_amount(part, "from_balance")
        if gateway == BALANCE or part.amount >= total.amount:
            raise ValidationError(
                f"from_balance: expected less than the total {total} with a card gateway,"
                f" got {part} through {gateway!r} (pay it all with gateway='balance')",
                field="from_balance", value=part,
            )

    def _charge(
        self, gw: Gateway, template: Payment, by: Actor, description: str,
        recheck: Callable[[Tx], None],
        seen: Sequence[tuple[RecordKind[Any], str, Any]] = (),
    ) -> Payment:
        """Call the gateway outside any transaction, then record its answer in one.

        ``seen``: records a pre-check read, which the recording unit may take as read
        on its first attempt (:func:`~microkit.storage.base.assume_read`).
        """
        core, pid, name = self._core, template.id, template.gateway
        if template.from_balance is not None:
            core.run(lambda u: self._hold(u, template, recheck))
        request = ChargeRequest(pid, template.charged, by.id, template.order_ids,
                                f"microkit:{pid}", description)
        try:
            result = check_charge_result(name, call_gateway(name, lambda: gw.create_charge(
                request)))
        except PaymentError as error:
            if error.outcome_unknown:
                # In doubt: the charge may have gone through. The payment waits, pending
                # (a split payment keeps its hold), for the processor's webhook, a retry
                # with this key or its timeout, so money taken always finds its record.
                core.run(lambda u: self._in_doubt(u, template, by))
            elif template.from_balance is not None:
                core.run(lambda u: self._give_up(u, pid, "gateway error", by))
            raise

        if result.status == "failed":
            # Nothing was captured: record nothing (a split payment's hold is released).
            if template.from_balance is not None:
                core.run(lambda u: self._give_up(u, pid, result.failure or "declined", by))
            raise PaymentError(
                f"{name}: charge {pid} failed: {result.failure or 'declined'}", gateway=name
            )

        link = None if result.reference is None else _settle.charge_link(name, result.reference)
        if seen and link is not None:  # a webhook's placeholder there: the add of the link
            seen = (*seen, (PAYMENT_LINKS, link, None))  # fails, and the retry reads it

        def record(u: Unit) -> Payment:
            if u.attempt == 1:
                for kind, key, found in seen:
                    assume_read(u.tx, kind, key, found)
            if link is not None:  # everything record_answer reads first, in one go
                u.prefetch((PAYMENTS, pid), *((ORDERS, oid) for oid in template.order_ids),
                           (PAYMENT_LINKS, link))
            recheck(u.tx)
            return _settle.record_answer(core, u, template, result, by)

        return core.run(record)

    def _hold(self, u: Unit, template: Payment, recheck: Callable[[Tx], None]) -> None:
        """A split payment: hold the balance part before the card is charged."""
        recheck(u.tx)
        if u.tx.get(PAYMENTS, template.id) is not None:
            return
        assert template.from_balance is not None
        u.post(ledger.transfer(f"payment:{template.id}:hold", "hold",
                               ledger.user_available(template.buyer_id),
                               {ledger.payment_hold(template.id): template.from_balance},
                               at=u.now))
        self._open(u, template)

    def _in_doubt(self, u: Unit, template: Payment, by: Actor) -> None:
        """The gateway's answer was lost: keep the payment pending until its timeout
        (a split payment's hold recorded it already)."""
        if u.tx.get(PAYMENTS, template.id) is None:
            _settle.emit(u, self._open(u, template), str(by))

    def _open(self, u: Unit, template: Payment) -> Payment:
        """Store ``template`` as a pending payment that expires after ``payment_timeout``."""
        payment = attrs.evolve(template, created_at=u.now, updated_at=u.now)
        u.tx.add(PAYMENTS, payment)
        u.tx.schedule(_settle.expire_timer(payment, self._core.config.payment_timeout))
        return payment

    def _give_up(self, u: Unit, pid: str, why: str, by: Actor) -> None:
        payment = u.tx.get(PAYMENTS, pid)
        if payment is not None:
            _settle.fail(u, payment, why, str(by))


def _staff(by: Actor, action: str) -> None:
    if by.kind != "staff":
        raise PermissionDenied(f"{by} may not {action}: staff only", actor=str(by),
                               action=action)


def _text(field: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise ValidationError(f"{field}: expected 1..200 characters, got {value!r:.80}",
                              field=field, value=value)


def _order_ids(order_ids: Sequence[str]) -> tuple[str, ...]:
    ids = (order_ids,) if isinstance(order_ids, str) else tuple(order_ids)
    if not ids or len(set(ids)) != len(ids) or not all(
        isinstance(i, str) and 0 < len(i) <= 200 for i in ids
    ):
        raise ValidationError(
            f"order_ids: expected one or more distinct order ids, got {order_ids!r:.120}",
            field="order_ids",
            value=order_ids,
        )
    return ids


def _check_key(idempotency_key: object) -> None:
    if not isinstance(idempotency_key, str) or not 0 < len(idempotency_key) <= 200:
        raise ValidationError(
            f"idempotency_key: expected 1..200 characters, got {idempotency_key!r}",
            field="idempotency_key",
            value=idempotency_key,
        )


def call_gateway(gateway: str, call: Callable[[], T]) -> T:
    """Call a gateway's ``create_charge``; anything it raises becomes a :class:`PaymentError`
    with ``outcome_unknown`` (chained): a decline is an answer (``ChargeResult("failed")``),
    so a raise means there was none -- a plugin's own PaymentError around a timeout too."""
    try:
        return call()
    except PaymentError as exc:
        if exc.outcome_unknown:
            raise
        raise PaymentError(str(exc), gateway=exc.gateway, outcome_unknown=True) from exc
    except Exception as exc:
        raise PaymentError(f"{gateway}: gateway raised {type(exc).__name__}: {exc}",
                           gateway=gateway, outcome_unknown=True) from exc


def check_charge_result(gateway: str, result: object) -> ChargeResult:
    """Refuse what is not a well-formed :class:`ChargeResult` with a known status."""
    if not isinstance(result, ChargeResult) or result.status not in (
        "succeeded", "pending", "requires_action", "failed"
    ):
        status = getattr(result, "status", result)
        raise PaymentError(f"{gateway}: unknown charge status {status!r:.80}", gateway=gateway,
                           outcome_unknown=True)
    if result.status != "failed" and result.reference is not None and (
        not isinstance(result.reference, str) or not 0 < len(result.reference) <= 200
    ):
        raise PaymentError(f"{gateway}: bad charge reference {result.reference!r:.80}",
                           gateway=gateway, outcome_unknown=True)
    if result.status in ("pending", "requires_action") and not result.reference:
        raise PaymentError(f"{gateway}: a {result.status} charge needs a reference",
                           gateway=gateway, outcome_unknown=True)
    return result
