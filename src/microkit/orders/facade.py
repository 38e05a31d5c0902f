"""``market.orders``: place orders and move them through the transition table."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Generic, Literal, TypeVar

import attrs

from .._checks import actor_checked, check_cursor, collection
from .._core import Core, Unit, new_id
from ..actors import Actor
from ..catalog.pricing import Quote, quote
from ..catalog.stats import record_sale
from ..errors import InvalidTransition, NotFound, PermissionDenied, ValidationError
from ..escrow import ledger
from ..events import Event
from ..levels.privileges import clearance_days
from ..messaging.model import order_conversation_id
from ..money import Money
from ..payments.refunds import gateway_refund_timer
from ..storage.base import Timer, Tx
from ..storage.records import CONVERSATIONS, ORDERS, SERVICES, USERS
from . import _steps
from .model import Order
from .process import Outcome, Process, Role

__all__ = ["OrdersFacade", "Page", "apply_transition", "role_of"]

T = TypeVar("T")


@attrs.frozen
class Page(Generic[T]):
    """One page of a listing, and the cursor of the next (None on the last page).

    .. versionadded:: 0.1
    """

    items: tuple[T, ...]
    next_cursor: str | None = None


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
    guards, effects = process.steps_of(command, order.state)
    params = {**params, **_facts(u, order, guards, effects, core)}
    outcome: Outcome = process.run(
        order, command, role=role, actor=str(by), config=core.config, now=u.now, params=params
    )
    _persist(u, order, outcome, by)
    return outcome.order


def _persist(u: Unit, order: Order, outcome: Outcome, by: Actor) -> None:
    transition = outcome.transition
    u.tx.save(ORDERS, outcome.order, order.version)
    for txn in outcome.transactions:
        u.post(txn)
        # Money booked back to a gateway account (refund_to="original") is only a ledger
        # fact until the gateway refunds the card: tick() does that after this commits.
        refund_timer = gateway_refund_timer(txn)
        if refund_timer is not None:
            u.tx.schedule(refund_timer)
    if outcome.order.state == "completed" and order.state != "completed" and order.service_id:
        record_sale(u.tx, order.service_id)  # "best_selling" in catalog search
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


def _facts(
    u: Unit, order: Order, guards: Collection[_steps.Guard],
    effects: Collection[_steps.Effect], core: Core | None = None,
) -> dict[str, Any]:
    """What the candidate transitions' ``guards`` and ``effects`` need beyond the order,
    read in the same unit of work (nothing when none needs anything)."""
    facts: dict[str, Any] = {}
    if core is not None and (_steps.release_escrow in effects
                             or _steps.split_escrow in effects):
        # Earnings clear after the seller's level's clearance days (seller levels).
        facts["clearance_days"] = clearance_days(u.tx, core.config, order.seller_id)
    if _steps.seller_unresponsive not in guards:
        return facts
    conv = u.tx.get(CONVERSATIONS, order_conversation_id(order.id))
    facts["buyer_waiting_since"] = conv.buyer_waiting_since if conv is not None else None
    return facts


@actor_checked
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
        return self._core.run(lambda u: self.place_in(u, service_id, by, upgrades))

    def place_in(
        self, u: Unit, service_id: str, by: Actor, upgrades: Sequence[str] | Mapping[str, int]
    ) -> Order:
        """:meth:`place` inside a running unit of work (the cart places several at once)."""
        core = self._core
        u.prefetch((SERVICES, service_id), (USERS, by.id))
        service = u.tx.get(SERVICES, service_id)
        if service is None or service.state != "approved":
            raise NotFound("service", service_id)
        if service.seller_id == by.id:
            raise PermissionDenied(
                f"{by} may not buy their own service {service_id}", actor=str(by),
                action="place",
            )
        q = quote(service, upgrades, core.config)
        return self._create(
            u, buyer_id=by.id, seller_id=service.seller_id, title=service.title, quote=q,
            source=f"service:{service.id}", service_id=service.id,
            requirements_prompt=service.requirements,
        )

    def _create(
        self, u: Unit, *, buyer_id: str, seller_id: str, title: str, quote: Quote,
        source: str, service_id: str = "", requirements_prompt: str = "",
    ) -> Order:
        """Add a ``pending_payment`` order priced by ``quote`` inside ``u``: the one creation
        path for orders of services, accepted bids and custom offers.

        ``source`` records where it came from (``"service:s_…"``, ``"project:p_…/bid:b_…"``,
        ``"offer:f_…"``); the ``order.placed`` event carries it into the order's history.
        """
        u.need(USERS, buyer_id, "user")
        order = Order(
            id=new_id("o"), service_id=service_id, buyer_id=buyer_id,
            seller_id=seller_id, title=title, lines=quote.lines,
            subtotal=quote.subtotal, buyer_fee=quote.buyer_fee, total=quote.total,
            seller_share=quote.seller_share, commission=quote.commission,
            delivery_days=quote.days, state=self.process.initial, placed_at=u.now,
            updated_at=u.now, requirements_prompt=requirements_prompt, source=source,
        )
        u.tx.add(ORDERS, order)
        for timer in self.process.timers_for(order, self._core.config, u.now):
            u.tx.schedule(timer)
        u.emit("order.placed", f"order:{order.id}", f"user:{buyer_id}", {
            "order_id": order.id, "service_id": service_id, "buyer_id": buyer_id,
            "seller_id": seller_id, "total": order.total.amount, "source": source,
        })
        return order

    def get(self, order_id: str) -> Order:
        """An order by id. Raises NotFound."""
        return self._core.get(ORDERS, order_id, "order")

    def history(self, order_id: str) -> list[Event]:
        """Every event of the order, oldest first: the audit trail."""
        self.get(order_id)
        return self._core.query(lambda tx: tx.events(0, 10_000, subject=f"order:{order_id}"))

    def _run(self, order_id: str, command: str, by: Actor, **params: Any) -> Order:
        core = self._core
        events = core.process.events_of(command)

        def run(u: Unit) -> Order:
            # apply_transition saves the order whenever it succeeds.
            order = core.need(u, ORDERS, order_id, "order", events, saved=True)
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

        Raises: NotFound, PermissionDenied, InvalidTransition, ValidationError (empty message,
        bad attachments).
        """
        refs = collection("attachments", attachments, one_str=True)
        return self._run(order_id, "deliver", by, message=message, attachments=refs)

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
        """Cancel, when a rule of the table allows it; paid orders are refunded in full.

        * buyer: an unpaid order at any time; an unstarted one once
          ``seller_start_days`` passed; a late one; one whose seller left the
          buyer's message unanswered for ``seller_response_hours``;
        * seller: declines any order not yet delivered;
        * staff: an unpaid order, or any order not yet delivered.

        Raises: NotFound, PermissionDenied, InvalidTransition (saying why each rule
        did not apply), ValidationError (reason over 10,000 characters).
        """
        return self._run(order_id, "cancel", by, reason=reason)

    def submit_requirements(
        self, order_id: str, *, by: Actor, text: str, attachments: Sequence[str] = ()
    ) -> Order:
        """The buyer sends what the service asked for; the order is ``paid`` (ready to start).

        Raises: NotFound, PermissionDenied, InvalidTransition, ValidationError.
        """
        return self._run(order_id, "submit_requirements", by, text=text,
                         attachments=collection("attachments", attachments, one_str=True))

    def request_cancellation(self, order_id: str, *, by: Actor, reason: str = "") -> Order:
        """Either side asks to cancel; the other has ``mutual_cancel_hours`` to answer.

        Silence until then follows ``mutual_cancel_default``. Every other timer
        of the order stops meanwhile.

        Raises: NotFound, PermissionDenied, InvalidTransition, ValidationError.
        """
        return self._run(order_id, "request_cancellation", by, reason=reason)

    def accept_cancellation(self, order_id: str, *, by: Actor) -> Order:
        """The other side agrees to cancel: ``cancelled``, full refund.

        Raises: NotFound, PermissionDenied (the side that asked), InvalidTransition.
        """
        return self._run(order_id, "accept_cancellation", by)

    def refuse_cancellation(self, order_id: str, *, by: Actor) -> Order:
        """The other side refuses: the order goes back to the state it was in.

        Raises: NotFound, PermissionDenied (the side that asked), InvalidTransition.
        """
        return self._run(order_id, "refuse_cancellation", by)

    def withdraw_cancellation(self, order_id: str, *, by: Actor) -> Order:
        """The side that asked takes the request back; the order goes on.

        Raises: NotFound, PermissionDenied (not the side that asked), InvalidTransition.
        """
        return self._run(order_id, "withdraw_cancellation", by)

    def open_dispute(self, order_id: str, *, by: Actor, reason: str) -> Order:
        """Buyer or seller asks support to decide; the order's timers stop until resolved.

        Raises: NotFound, PermissionDenied, InvalidTransition, ValidationError (no reason).
        """
        return self._run(order_id, "open_dispute", by, reason=reason)

    def resolve_dispute(
        self,
        order_id: str,
        *,
        by: Actor,
        outcome: Literal["release", "refund", "split"],
        resolution: str,
        seller_part: Money | None = None,
    ) -> Order:
        """Staff decide a dispute, with a written resolution both sides see.

        Args:
            outcome: ``"release"`` (the seller is paid as on completion: ``completed``),
                ``"refund"`` (the buyer gets everything back: ``cancelled``), or
                ``"split"`` (``settled``): ``seller_part`` of the price goes to the
                seller's side, less the commission on that part; the rest is refunded.
            resolution: the decision in words.
            seller_part: for ``"split"`` only; strictly between 0 and the order's price.

        Raises: NotFound, PermissionDenied (not staff), InvalidTransition (not disputed),
        ValidationError (no resolution, a bad outcome or seller_part).
        """
        if outcome not in ("release", "refund", "split"):
            raise ValidationError(
                f"outcome: expected 'release', 'refund' or 'split', got {outcome!r}",
                field="outcome", value=outcome,
            )
        if (seller_part is not None) != (outcome == "split"):
            raise ValidationError(
                "seller_part: expected Money for outcome='split' and None otherwise,"
                f" got {seller_part!r}",
                field="seller_part", value=seller_part,
            )
        return self._run(order_id, f"resolve_{outcome}", by, resolution=resolution,
                         seller_part=seller_part)

    def list(
        self,
        *,
        by: Actor,
        role: Literal["buyer", "seller"],
        state: str | Sequence[str] | None = None,
        cursor: str | None = None,
        limit: int = 20,
    ) -> Page[Order]:
        """The actor's orders as buyer or seller, newest first, for dashboards.

        Dashboard tabs are states: new (``("paid", "awaiting_requirements")``),
        in progress, awaiting acceptance (``"delivered"``), completed, cancelled.

        Args:
            state: one state, several, or None for all.
            cursor: ``page.next_cursor`` of the previous page.

        Raises:
            PermissionDenied: not a user.
            ValidationError: an unknown state or role, a bad limit.
        """
        if by.kind != "user":
            raise PermissionDenied(f"{by} has no orders of their own", actor=str(by),
                                   action="list")
        if role not in ("buyer", "seller"):
            raise ValidationError(f"role: expected 'buyer' or 'seller', got {role!r}",
                                  field="role", value=role)
        states: tuple[str | None, ...]
        if state is None:
            states = (None,)
        else:
            states = (state,) if isinstance(state, str) else tuple(state)
            known = set(self.process.states)
            if not states or any(st not in known for st in states):
                raise ValidationError(
                    f"state: expected states of {sorted(known)}, got {state!r}",
                    field="state", value=state,
                )
        if type(limit) is not int or not 1 <= limit <= 200:
            raise ValidationError(f"limit: expected 1..200, got {limit!r}", field="limit",
                                  value=limit)
        check_cursor("cursor", cursor)
        column = f"{role}_id"

        def read(tx: Tx) -> list[Order]:
            found: list[Order] = []
            for st in states:
                where: dict[str, str | int | None] = {column: by.id}
                if st is not None:
                    where["state"] = st
                found += tx.find(ORDERS, where, order_by="key", descending=True,
                                 after=cursor, limit=limit + 1)
            found.sort(key=lambda o: o.id, reverse=True)
            return found[: limit + 1]

        rows = self._core.query(read)
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(tuple(rows), rows[-1].id if more and rows else None)

    def _apply(self, order_id: str, transition: str, by: Actor, **params: Any) -> Order:
        """Run one named transition (tests of the table; commands choose theirs)."""
        core = self._core
        t = core.process.get(transition)

        def run(u: Unit) -> Order:
            order = core.need(u, ORDERS, order_id, "order", frozenset({t.event}))
            role = role_of(order, by)
            if role is None:
                raise PermissionDenied(f"{by} is neither the buyer nor the seller of order"
                                       f" {order_id}", actor=str(by), action=transition)
            facts = _facts(u, order, t.guards, t.effects, core)
            outcome = core.process.apply(order, t, role=role, actor=str(by),
                                         config=core.config, now=u.now,
                                         params={**params, **facts})
            _persist(u, order, outcome, by)
            return outcome.order

        return core.run(run)

    def run_timer(self, u: Unit, timer: Timer) -> str:
        """Run one due timer inside ``u``: a time-based transition or a clearance.

        Returns what happened: the transition name, ``"clear"``, or ``"dropped"``
        when the order moved on after the timer was set.
        """
        kind, _, order_id = timer.subject.partition(":")
        if kind == "reviews":
            from ..reviews.facade import publish_due

            return publish_due(self._core, u, timer)
        order = u.tx.get(ORDERS, order_id)
        if order is None:
            return "dropped"
        if timer.name == "clear":
            earned = order.seller_net
            if not earned.amount:  # a split that left the seller nothing: nothing to clear
                return "dropped"
            u.post(
                ledger.transfer(
                    f"order:{order.id}:clear", "clear", ledger.user_pending(order.seller_id),
                    {ledger.user_available(order.seller_id): earned}, at=u.now,
                )
            )
            u.emit("earnings.cleared", f"order:{order.id}", "system", {
                "order_id": order.id, "seller_id": order.seller_id,
                "amount": earned.amount,
            })
            return "clear"
        if order.version != timer.version:
            return "dropped"
        try:
            apply_transition(self._core, u, order, timer.name, Actor.system(), {})
        except InvalidTransition:
            return "dropped"
        return timer.name
