"""``market.payments``: charge an order through a gateway and fund its escrow."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TypeVar

from .._core import Core, Unit
from ..actors import Actor
from ..errors import Conflict, NotFound, PaymentError, PermissionDenied, ValidationError
from ..escrow import ledger
from ..money import Money
from ..orders.facade import apply_transition, role_of
from ..orders.model import Order
from ..storage.base import Tx
from ..storage.records import ORDERS, PAYMENTS
from .builtin import BALANCE
from .gateway import ChargeRequest, ChargeResult, Gateway
from .model import Payment

__all__ = ["PaymentsFacade", "funding_account"]

T = TypeVar("T")


def funding_account(gateway: str, buyer_id: str) -> str:
    """Where a charge's money comes from in the ledger: the buyer's balance or the gateway."""
    return ledger.user_available(buyer_id) if gateway == BALANCE else ledger.gateway(gateway)


def payment_id(buyer_id: str, idempotency_key: str) -> str:
    """Derived from the buyer's key, so a retried ``pay`` finds the first attempt."""
    digest = hashlib.sha256(f"{buyer_id}\x00{idempotency_key}".encode()).hexdigest()[:20]
    return f"p_{digest}"


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
        found = self._core.query(lambda tx: tx.get(PAYMENTS, payment_id))
        if found is None:
            raise NotFound("payment", payment_id)
        return found

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
            Conflict: the key was used for another order.
        """
        return self.pay_orders((order_id,), by=by, gateway=gateway,
                               idempotency_key=idempotency_key)

    def pay_orders(
        self, order_ids: Sequence[str], *, by: Actor, gateway: str, idempotency_key: str
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

        Raises:
            ValidationError: no orders, a repeated order id, or a bad key.
            NotFound, PermissionDenied, InvalidTransition, InsufficientFunds,
            PaymentError, Conflict: as :meth:`pay`, for any of the orders.

        .. versionadded:: 0.2
        """
        core = self._core
        ids = _order_ids(order_ids)
        gw = self.gateway(gateway)
        _check_key(idempotency_key)
        if gw.currencies and core.config.currency.code not in gw.currencies:
            raise PaymentError(
                f"gateway {gateway!r} cannot charge {core.config.currency.code}", gateway=gateway
            )
        pid = payment_id(by.id, idempotency_key)

        def check(tx: Tx) -> tuple[list[Order], Payment | None]:
            known = tx.get(PAYMENTS, pid)
            if known is not None and known.order_ids != ids:
                raise Conflict(
                    f"idempotency_key {idempotency_key!r} was used for order(s)"
                    f" {', '.join(known.order_ids)}",
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

        orders, known = core.query(check)
        if known is not None and known.state == "succeeded":
            return known
        # Fail before touching the card: the table must allow paying in this state.
        for order in orders:
            core.process.choose("pay", order.state, "buyer")
        total = sum((o.total for o in orders[1:]), orders[0].total)
        description = (f"order {ids[0]}: {orders[0].title}" if len(ids) == 1
                       else f"{len(ids)} orders: {', '.join(ids)}")
        result = call_gateway(gateway, lambda: gw.create_charge(
            ChargeRequest(pid, total, by.id, ids, f"microkit:{pid}", description)
        ))
        result = check_charge_result(gateway, result)
        if result.status == "failed":
            raise PaymentError(
                f"{gateway}: charge for order(s) {', '.join(ids)} failed:"
                f" {result.failure or 'declined'}",
                gateway=gateway,
            )

        def record(u: Unit) -> Payment:
            current, _ = check(u.tx)
            payment = self._record(u, pid, by.id, ids, total, gateway, idempotency_key, result)
            if result.status == "succeeded":
                self._fund(u, payment, current, by)
            return payment

        return core.run(record)

    def _record(
        self, u: Unit, pid: str, buyer_id: str, order_ids: tuple[str, ...], amount: Money,
        gateway: str, key: str, result: ChargeResult,
    ) -> Payment:
        existing = u.tx.get(PAYMENTS, pid)
        payment = Payment(
            pid, buyer_id, order_ids, gateway, key, amount, result.status,
            existing.created_at if existing else u.now, u.now, result.reference,
            result.redirect_url, result.failure,
            version=existing.version + 1 if existing else 1,
        )
        if existing is None:
            u.tx.add(PAYMENTS, payment)
        else:
            u.tx.save(PAYMENTS, payment, existing.version)
        u.emit(f"payment.{result.status}", f"payment:{pid}", f"user:{buyer_id}", {
            "payment_id": pid, "order_ids": list(order_ids), "gateway": gateway,
            "amount": amount.amount, "reference": result.reference,
        })
        return payment

    def _fund(self, u: Unit, payment: Payment, orders: Sequence[Order], by: Actor) -> None:
        """Money captured: fund each order's escrow; what can't be paid goes to the buyer.

        Each payable order gets its own ``order:{id}:pay`` transaction from the
        payment's funding account. An order that expired or was cancelled
        meanwhile can't take the money: its share lands on the buyer's balance
        (one ``payment:{id}:unapplied`` transaction for all such orders).
        """
        source = funding_account(payment.gateway, payment.buyer_id)
        unapplied: Money | None = None
        for order in orders:
            if order.state != "pending_payment":
                unapplied = order.total if unapplied is None else unapplied + order.total
                continue
            apply_transition(self._core, u, order, "pay", by, {
                "funding_account": source, "gateway": payment.gateway,
                "payment_id": payment.id,
            })
        if unapplied is not None:
            u.post(ledger.transfer(
                f"payment:{payment.id}:unapplied", "unapplied", source,
                {ledger.user_available(payment.buyer_id): unapplied}, at=u.now,
            ))


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
    """Call a plugin; anything it raises becomes a :class:`PaymentError` (chained)."""
    try:
        return call()
    except PaymentError:
        raise
    except Exception as exc:
        raise PaymentError(f"{gateway}: gateway raised {type(exc).__name__}: {exc}",
                           gateway=gateway) from exc


def check_charge_result(gateway: str, result: object) -> ChargeResult:
    """Refuse what is not a well-formed :class:`ChargeResult` with a known status."""
    if not isinstance(result, ChargeResult) or result.status not in (
        "succeeded", "pending", "requires_action", "failed"
    ):
        status = getattr(result, "status", result)
        raise PaymentError(f"{gateway}: unknown charge status {status!r:.80}", gateway=gateway)
    if result.status != "failed" and result.reference is not None and (
        not isinstance(result.reference, str) or not 0 < len(result.reference) <= 200
    ):
        raise PaymentError(f"{gateway}: bad charge reference {result.reference!r:.80}",
                           gateway=gateway)
    return result
