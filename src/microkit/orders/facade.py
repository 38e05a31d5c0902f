"""``market.orders``: place orders and move them through the transition table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._core import Core, Unit, new_id
from ..actors import Actor
from ..catalog.pricing import quote
from ..errors import InvalidTransition, NotFound, PermissionDenied
from ..escrow import ledger
from ..events import Event
from ..storage.base import Timer
from ..storage.records import ORDERS, SERVICES, USERS
from .model import Order
from .process import Outcome, Process, Role

__all__ = ["OrdersFacade", "apply_transition", "role_of"]


def role_of(order: Order, by: Actor) -> Role | None:
    """How ``by`` stands to ``order``; None for a user who is neither buyer nor seller."""
    if by.kind == "user":
        if by.id == order.buyer_id:
            return "buyer"
        if by.id == order.seller_id:
            return "seller"
        return None
    return by.kind


def apply_transition(
    core: Core,
    u: Unit,
    order: Order,
    command: str,
    by: Actor,
    params: Mapping[str, Any],
) -> Order:
    """Run the transition ``command`` means for ``order``'s state, and persist all it produced.

    The one path every order change takes: role and state checks, guards,
    effects, the compare-and-set save, ledger postings, timers and the event.
    """
    process = core.process
    role = role_of(order, by)
    if role is None:
        raise PermissionDenied(
            f"{by} is neither the buyer nor the seller of order {order.id}",
            actor=str(by),
            action=command,
        )
    transition = process.choose(command, order.state, role)
    outcome: Outcome = process.apply(
        order, transition, role=role, actor=str(by), config=core.config, now=u.now, params=params
    )
    u.tx.save(ORDERS, outcome.order, order.version)
    for txn in outcome.transactions:
        u.post(txn)
    for timer in outcome.timers:
        u.tx.schedule(timer)
    u.emit(
        transition.event,
        f"order:{order.id}",
        str(by),
        {
            "order_id": order.id,
            "transition": transition.name,
            "from": order.state,
            "to": outcome.order.state,
            "buyer_id": order.buyer_id,
            "seller_id": order.seller_id,
            **outcome.data,
        },
    )
    return outcome.order


class OrdersFacade:
    """Orders. Reached as ``market.orders``. Each method names one command of the table.

    .. versionadded:: 0.1
    """

    def __init__(self, core: Core) -> None:
        self._core = core

    @property
    def process(self) -> Process:
        """The transition table this market runs (see ``python -m microkit diagram``)."""
        return self._core.process

    def place(
        self,
        service_id: str,
        *,
        by: Actor,
        upgrades: Sequence[str] | Mapping[str, int] = (),
    ) -> Order:
        """The buyer orders an approved service with chosen upgrades: ``pending_payment``.

        Raises:
            PermissionDenied: not a user, or the seller buying their own service.
            NotFound: unknown buyer or service, or the service is not approved.
            ValidationError: an unknown upgrade or a bad quantity.
        """
        if by.kind != "user":
            raise PermissionDenied(f"{by} may not place orders: buyers are users",
                                   actor=str(by), action="place")
        core = self._core

        def command(u: Unit) -> Order:
            service = u.tx.get(SERVICES, service_id)
            if service is None or service.state != "approved":
                raise NotFound("service", service_id)
            if service.seller_id == by.id:
                raise PermissionDenied(
                    f"{by} may not buy their own service {service_id}", actor=str(by),
                    action="place",
                )
            u.need(USERS, by.id, "user")
            q = quote(service, upgrades, core.config)
            order = Order(
                id=new_id("o"), service_id=service.id, buyer_id=by.id,
                seller_id=service.seller_id, title=service.title, lines=q.lines,
                subtotal=q.subtotal, buyer_fee=q.buyer_fee, total=q.total,
                seller_share=q.seller_share, commission=q.commission, delivery_days=q.days,
                state=self.process.initial, placed_at=u.now, updated_at=u.now,
            )
            u.tx.add(ORDERS, order)
            for timer in self.process.timers_for(order, core.config, u.now):
                u.tx.schedule(timer)
            u.emit("order.placed", f"order:{order.id}", str(by), {
                "order_id": order.id, "service_id": service.id, "buyer_id": by.id,
                "seller_id": service.seller_id, "total": order.total.amount,
            })
            return order

        return core.run(command)

    def get(self, order_id: str) -> Order:
        """An order by id. Raises NotFound."""
        found = self._core.query(lambda tx: tx.get(ORDERS, order_id))
        if found is None:
            raise NotFound("order", order_id)
        return found

    def history(self, order_id: str) -> list[Event]:
        """Every event of the order, oldest first: the audit trail."""
        self.get(order_id)
        return self._core.query(lambda tx: tx.events(0, 10_000, subject=f"order:{order_id}"))

    def _run(self, order_id: str, command: str, by: Actor, **params: Any) -> Order:
        core = self._core

        def run(u: Unit) -> Order:
            order = u.need(ORDERS, order_id, "order")
            return apply_transition(core, u, order, command, by, params)

        return core.run(run)

    def start(self, order_id: str, *, by: Actor) -> Order:
        """The seller starts work on a paid order; the due time is set.

        Raises: NotFound, PermissionDenied, InvalidTransition.
        """
        return self._run(order_id, "start", by)

    def deliver(
        self, order_id: str, *, by: Actor, message: str, attachments: Sequence[str] = ()
    ) -> Order:
        """The seller delivers; auto-completion is scheduled from this delivery.

        Raises: NotFound, PermissionDenied, InvalidTransition, ValidationError (empty message).
        """
        return self._run(order_id, "deliver", by, message=message, attachments=tuple(attachments))

    def request_revision(self, order_id: str, *, by: Actor, reason: str) -> Order:
        """The buyer asks for changes to a delivery; the order is back in progress.

        Raises: NotFound, PermissionDenied, InvalidTransition, ValidationError,
        LimitExceeded (``max_revisions`` reached).
        """
        return self._run(order_id, "request_revision", by, reason=reason)

    def accept(self, order_id: str, *, by: Actor) -> Order:
        """The buyer accepts the delivery: the seller earns, the platform takes its commission.

        Raises: NotFound, PermissionDenied, InvalidTransition.
        """
        return self._run(order_id, "accept", by)

    def cancel(self, order_id: str, *, by: Actor, reason: str = "") -> Order:
        """Cancel: unpaid orders simply; paid ones before the seller starts, with a full refund.

        Raises: NotFound, PermissionDenied, InvalidTransition.
        """
        return self._run(order_id, "cancel", by, reason=reason)

    def run_timer(self, u: Unit, timer: Timer) -> str:
        """Run one due timer inside ``u``: a time-based transition or a clearance.

        Returns what happened: the transition name, ``"clear"``, or ``"dropped"``
        when the order moved on after the timer was set.
        """
        order_id = timer.subject.partition(":")[2]
        order = u.tx.get(ORDERS, order_id)
        if order is None:
            return "dropped"
        if timer.name == "clear":
            u.post(
                ledger.transfer(
                    f"order:{order.id}:clear", "clear", ledger.user_pending(order.seller_id),
                    {ledger.user_available(order.seller_id): order.seller_share}, at=u.now,
                )
            )
            u.emit("earnings.cleared", f"order:{order.id}", "system", {
                "order_id": order.id, "seller_id": order.seller_id,
                "amount": order.seller_share.amount,
            })
            return "clear"
        if order.version != timer.version:
            return "dropped"
        try:
            apply_transition(self._core, u, order, timer.name, Actor.system(), {})
        except InvalidTransition:
            return "dropped"
        return timer.name
