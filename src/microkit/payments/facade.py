"""``market.payments``: charge an order through a gateway and fund its escrow."""

from __future__ import annotations

import hashlib

from .._core import Core, Unit
from ..actors import Actor
from ..errors import Conflict, NotFound, PaymentError, PermissionDenied, ValidationError
from ..escrow import ledger
from ..orders.facade import apply_transition, role_of
from ..orders.model import Order
from ..storage.records import ORDERS, PAYMENTS
from .builtin import BALANCE
from .gateway import ChargeRequest, ChargeResult, Gateway
from .model import Payment

__all__ = ["PaymentsFacade", "funding_account"]


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
        core = self._core
        gw = self.gateway(gateway)
        if not isinstance(idempotency_key, str) or not 0 < len(idempotency_key) <= 200:
            raise ValidationError(
                f"idempotency_key: expected 1..200 characters, got {idempotency_key!r}",
                field="idempotency_key",
                value=idempotency_key,
            )
        if gw.currencies and core.config.currency.code not in gw.currencies:
            raise PaymentError(
                f"gateway {gateway!r} cannot charge {core.config.currency.code}", gateway=gateway
            )
        pid = payment_id(by.id, idempotency_key)

        def check(tx_order: Order | None, known: Payment | None) -> Order:
            if known is not None and known.order_ids != (order_id,):
                raise Conflict(
                    f"idempotency_key {idempotency_key!r} was used for order(s)"
                    f" {', '.join(known.order_ids)}",
                    key=idempotency_key,
                )
            if tx_order is None:
                raise NotFound("order", order_id)
            if role_of(tx_order, by) != "buyer":
                raise PermissionDenied(f"{by} is not the buyer of order {order_id}",
                                       actor=str(by), action="pay")
            return tx_order

        order, known = core.query(lambda tx: (tx.get(ORDERS, order_id), tx.get(PAYMENTS, pid)))
        order = check(order, known)
        if known is not None and known.state == "succeeded":
            return known
        # Fail before touching the card: the table must allow paying in this state.
        core.process.choose("pay", order.state, "buyer")
        result = gw.create_charge(
            ChargeRequest(pid, order.total, by.id, (order_id,), f"microkit:{pid}",
                          f"order {order_id}: {order.title}")
        )
        if result.status == "failed":
            raise PaymentError(
                f"{gateway}: charge for order {order_id} failed: {result.failure or 'declined'}",
                gateway=gateway,
            )
        if result.status not in ("succeeded", "pending", "requires_action"):
            raise PaymentError(f"{gateway}: unknown charge status {result.status!r}",
                               gateway=gateway)

        def record(u: Unit) -> Payment:
            current = check(u.tx.get(ORDERS, order_id), u.tx.get(PAYMENTS, pid))
            payment = self._record(u, pid, current, gateway, idempotency_key, result)
            if result.status == "succeeded":
                self._fund(u, payment, current, by)
            return payment

        return core.run(record)

    def _record(
        self, u: Unit, pid: str, order: Order, gateway: str, key: str, result: ChargeResult
    ) -> Payment:
        existing = u.tx.get(PAYMENTS, pid)
        payment = Payment(
            pid, order.buyer_id, (order.id,), gateway, key, order.total, result.status,
            existing.created_at if existing else u.now, u.now, result.reference,
            result.redirect_url, result.failure,
            version=existing.version + 1 if existing else 1,
        )
        if existing is None:
            u.tx.add(PAYMENTS, payment)
        else:
            u.tx.save(PAYMENTS, payment, existing.version)
        u.emit(f"payment.{result.status}", f"payment:{pid}", f"user:{order.buyer_id}", {
            "payment_id": pid, "order_ids": [order.id], "gateway": gateway,
            "amount": order.total.amount, "reference": result.reference,
        })
        return payment

    def _fund(self, u: Unit, payment: Payment, order: Order, by: Actor) -> None:
        """Money captured: fund the order's escrow, or credit the buyer if it can't be paid."""
        source = funding_account(payment.gateway, payment.buyer_id)
        if order.state != "pending_payment":
            # Captured for an order that expired or was cancelled meanwhile:
            # the money is the buyer's, so it lands on their balance.
            u.post(ledger.transfer(
                f"payment:{payment.id}:unapplied", "unapplied", source,
                {ledger.user_available(payment.buyer_id): payment.amount}, at=u.now,
            ))
            return
        apply_transition(self._core, u, order, "pay", by, {
            "funding_account": source, "gateway": payment.gateway, "payment_id": payment.id,
        })
