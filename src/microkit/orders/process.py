"""The order lifecycle as one declarative table of transitions; the single truth of it.

In the manner of Sharetribe's transaction process: each :class:`Transition`
names its from-states, its to-state, the roles that may run it, its guards
and its effects in order. A time-based transition has a :class:`Due` instead
of a human actor: whenever an order enters one of its from-states, a timer is
set, pinned to the order's version, and :meth:`Marketplace.tick` runs it
when due unless the order has moved on first.

No other module decides which transitions are legal; the facade's typed
methods each name one command, and :func:`Process.apply` does the rest.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal

import attrs

from .._evolve import evolve
from ..config import MarketConfig
from ..errors import InvalidTransition, PermissionDenied
from ..escrow.ledger import LedgerTransaction
from ..storage.base import Timer
from . import _steps as s
from .model import Order

__all__ = ["ORDER_PROCESS", "RESUME", "Due", "Outcome", "Process", "Role", "Transition"]

#: How an actor stands to an order.
Role = Literal["buyer", "seller", "staff", "system"]

#: A ``to`` that means "back to the state the order was in" (``order.resume_state``):
#: a refused or withdrawn cancellation request returns the order to where it was.
RESUME: Final = "(previous state)"


@attrs.frozen
class Due:
    """When a time-based transition fires: ``config.<setting>`` after entering the state.

    .. versionadded:: 0.1
    """

    #: A MarketConfig field holding a number of ``unit`` (int) or a timedelta.
    setting: str
    #: ``"days"`` or ``"hours"``, for an int setting.
    unit: Literal["days", "hours"] = "days"
    #: Scheduled only when ``config.<when[0]> == when[1]`` (e.g. what silence means).
    when: tuple[str, object] | None = None
    #: The order's datetime attribute the delay counts from (``"last_delivered_at"``);
    #: None: from entering the state. A state entered again (a refused cancellation
    #: request going back to ``delivered``) then does not restart the clock.
    #:
    #: .. versionadded:: 0.3
    since: str | None = None

    def delay(self, config: MarketConfig) -> dt.timedelta:
        value = getattr(config, self.setting)
        if isinstance(value, dt.timedelta):
            return value
        return dt.timedelta(days=value) if self.unit == "days" else dt.timedelta(hours=value)

    def applies(self, config: MarketConfig) -> bool:
        """Whether this market's config schedules it at all."""
        return self.when is None or getattr(config, self.when[0]) == self.when[1]

    def due_at(self, order: Order, config: MarketConfig, entered: dt.datetime) -> dt.datetime:
        """When it fires for ``order``, which entered its state at ``entered``."""
        start = getattr(order, self.since) if self.since is not None else None
        return (entered if start is None else start) + self.delay(config)

    def describe(self) -> str:
        text = f"{self.setting}" + (f" {self.unit}" if self.unit == "hours" else "")
        if self.when is not None:
            text += f" if {self.when[0]}={self.when[1]}"
        return text


def _states(states: Iterable[str]) -> frozenset[str]:
    return frozenset(states)


def _roles(roles: Iterable[Role]) -> frozenset[Role]:
    return frozenset(roles)


@attrs.frozen
class Transition:
    """One row of the table.

    .. versionadded:: 0.1
    """

    name: str
    from_states: frozenset[str] = attrs.field(converter=_states)
    to: str
    #: Roles allowed to run it; ``system`` alone for time-based ones.
    actors: frozenset[Role] = attrs.field(converter=_roles)
    #: The event appended when it runs.
    event: str
    guards: tuple[s.Guard, ...] = ()
    effects: tuple[s.Effect, ...] = ()
    #: Set for time-based transitions.
    due: Due | None = None
    #: The facade command that runs it; several transitions may share one (``cancel``).
    command: str = ""
    #: One line for the docs and the diagram.
    doc: str = ""

    @property
    def command_name(self) -> str:
        return self.command or self.name


@attrs.frozen
class Outcome:
    """What applying a transition produced; the unit of work persists it."""

    order: Order
    transition: Transition
    transactions: tuple[LedgerTransaction, ...]
    timers: tuple[Timer, ...]
    data: Mapping[str, Any]


@attrs.frozen
class Process:
    """A state machine as data: initial state, terminal states, the transitions.

    .. versionadded:: 0.1
    """

    initial: str
    transitions: tuple[Transition, ...]

    @property
    def states(self) -> tuple[str, ...]:
        seen = [self.initial]
        for t in self.transitions:
            for state in (*sorted(t.from_states), t.to):
                if state not in seen and state != RESUME:
                    seen.append(state)
        return tuple(seen)

    def targets(self, transition: Transition) -> tuple[str, ...]:
        """The states ``transition`` may lead to (several for a :data:`RESUME` one)."""
        if transition.to != RESUME:
            return (transition.to,)
        return tuple(sorted({
            src for t in self.transitions if t.to in transition.from_states
            for src in t.from_states
        }))

    @property
    def terminal(self) -> frozenset[str]:
        return frozenset(self.states) - {st for t in self.transitions for st in t.from_states}

    def get(self, name: str) -> Transition:
        for t in self.transitions:
            if t.name == name:
                return t
        raise KeyError(name)

    def allowed_from(self, state: str) -> tuple[str, ...]:
        """Names of the transitions that may leave ``state``."""
        return tuple(t.name for t in self.transitions if state in t.from_states)

    def timed_from(self, state: str) -> Iterable[Transition]:
        return self._timed.get(state, ())

    @functools.cached_property
    def _by_command(self) -> dict[tuple[str, str], list[Transition]]:
        table: dict[tuple[str, str], list[Transition]] = {}
        for t in self.transitions:
            for state in t.from_states:
                table.setdefault((t.command_name, state), []).append(t)
        return table

    @functools.cached_property
    def _timed(self) -> dict[str, list[Transition]]:
        table: dict[str, list[Transition]] = {}
        for t in self.transitions:
            if t.due is not None:
                for state in t.from_states:
                    table.setdefault(state, []).append(t)
        return table

    @functools.cached_property
    def _steps_by_command(self) -> dict[tuple[str, str], tuple[frozenset[s.Guard],
                                                               frozenset[s.Effect]]]:
        return {
            key: (frozenset(g for t in ts for g in t.guards),
                  frozenset(e for t in ts for e in t.effects))
            for key, ts in self._by_command.items()
        }

    def steps_of(
        self, command: str, state: str
    ) -> tuple[frozenset[s.Guard], frozenset[s.Effect]]:
        """The guards and the effects of every transition ``command`` may mean in ``state``."""
        return self._steps_by_command.get((command, state), (frozenset(), frozenset()))

    @functools.cached_property
    def _events_by_command(self) -> dict[str, frozenset[str]]:
        table: dict[str, set[str]] = {}
        for t in self.transitions:
            table.setdefault(t.command_name, set()).add(t.event)
        return {command: frozenset(events) for command, events in table.items()}

    def events_of(self, command: str) -> frozenset[str]:
        """The events the transitions ``command`` may mean append (empty if none)."""
        return self._events_by_command.get(command, frozenset())

    def candidates(self, command: str, state: str) -> tuple[Transition, ...]:
        """The transitions ``command`` may mean in ``state``, in table order."""
        return tuple(self._by_command.get((command, state), ()))

    def choose(self, command: str, state: str, role: Role | None = None) -> Transition:
        """The transition ``command`` means in ``state`` (preferring one ``role`` may run).

        Raises:
            InvalidTransition: no transition of that command leaves ``state``.
        """
        matching = self._by_command.get((command, state), ())
        for t in matching:
            if role in t.actors:
                return t
        if matching:
            return matching[0]
        allowed = self.allowed_from(state)
        raise InvalidTransition(
            f"cannot {command} an order that is {state!r}; allowed from {state!r}: "
            + (", ".join(allowed) or "nothing (final state)"),
            transition=command,
            state=state,
            allowed=allowed,
        )

    def timers_for(self, order: Order, config: MarketConfig, now: dt.datetime) -> list[Timer]:
        """The time-based transitions to schedule for an order that just entered its state."""
        return [
            Timer(
                f"order:{order.id}:{t.name}:{order.version}",
                f"order:{order.id}",
                t.name,
                t.due.due_at(order, config, now),
                order.version,
            )
            for t in self.timed_from(order.state)
            if t.due is not None and t.due.applies(config)
        ]

    def run(
        self,
        order: Order,
        command: str,
        *,
        role: Role | None,
        actor: str,
        config: MarketConfig,
        now: dt.datetime,
        params: Mapping[str, Any],
    ) -> Outcome:
        """Run the transition ``command`` means for ``order`` and ``role``.

        Several transitions may share a command (``cancel`` is one for the
        late order, another for the unanswered buyer, …): the first whose
        role and guards allow it runs. When none does, the error says why
        each was refused.

        Raises:
            PermissionDenied: no transition of the command is open to ``role``.
            InvalidTransition: none leaves the order's state, or every guard refused.
        """
        candidates = self.candidates(command, order.state)
        if not candidates:
            self.choose(command, order.state)  # raises with the allowed list
        mine = [t for t in candidates if role in t.actors]
        if not mine:
            return self.apply(order, candidates[0], role=role, actor=actor, config=config,
                              now=now, params=params)  # raises PermissionDenied
        refusals: list[InvalidTransition] = []
        for t in mine:
            try:
                step = self.check(order, t, role=role, actor=actor, config=config, now=now,
                                  params=params)
            except InvalidTransition as exc:
                refusals.append(exc)
                continue
            return self._effects(order, t, step, config, now)
        raise InvalidTransition(
            f"cannot {command} order {order.id} ({order.state!r}): "
            + "; ".join(str(e).partition("): ")[2] or str(e) for e in refusals),
            transition=command,
            state=order.state,
            allowed=self.allowed_from(order.state),
        )

    def check(
        self,
        order: Order,
        transition: Transition,
        *,
        role: Role | None,
        actor: str,
        config: MarketConfig,
        now: dt.datetime,
        params: Mapping[str, Any],
    ) -> s.Step:
        """Role, state, due time and guards of ``transition``; the step to apply, if allowed.

        Raises:
            PermissionDenied: ``role`` may not run it (or a guard says so).
            InvalidTransition: the order's state or circumstances do not allow it.
            LimitExceeded: a guard's limit (``max_revisions``).
        """
        if role not in transition.actors:
            raise PermissionDenied(
                f"{actor} may not {transition.command_name} order {order.id}"
                f" (allowed: {', '.join(sorted(transition.actors))})",
                actor=actor,
                action=transition.name,
            )
        if order.state not in transition.from_states:
            self.choose(transition.command_name, order.state)  # raises with the allowed list
            raise InvalidTransition(
                f"cannot {transition.name} an order that is {order.state!r}",
                transition=transition.name, state=order.state,
                allowed=self.allowed_from(order.state),
            )
        step = s.Step(order, config, now, actor, params, role=role, transition=transition.name)
        try:
            due = transition.due
            if due is not None and not due.applies(config):
                raise s.refuse(step, f"this market does not run it ({due.describe()})")
            if due is not None and now < due.due_at(order, config, order.updated_at):
                raise s.refuse(step, f"not due before {due.describe()} passed")
            for guard in transition.guards:
                guard(step)
        except InvalidTransition as exc:
            raise InvalidTransition(
                str(exc), transition=exc.transition, state=exc.state,
                allowed=self.allowed_from(order.state),
            ) from None
        return step

    def apply(
        self,
        order: Order,
        transition: Transition,
        *,
        role: Role | None,
        actor: str,
        config: MarketConfig,
        now: dt.datetime,
        params: Mapping[str, Any],
    ) -> Outcome:
        """Run ``transition`` on ``order``: check role, state and guards, then the effects.

        Raises:
            PermissionDenied: ``role`` may not run it.
            InvalidTransition: the order's state does not allow it.
            ValidationError, LimitExceeded: from guards and effects.
        """
        step = self.check(order, transition, role=role, actor=actor, config=config, now=now,
                          params=params)
        return self._effects(order, transition, step, config, now)

    def _effects(
        self, order: Order, transition: Transition, step: s.Step, config: MarketConfig,
        now: dt.datetime,
    ) -> Outcome:
        for effect in transition.effects:
            effect(step)
        to = transition.to
        if to == RESUME:
            to = order.resume_state or order.state
        new = evolve(
            order,
            state=to,
            updated_at=now,
            version=order.version + 1,
            **step.changes,
        )
        timers = [*step.timers, *self.timers_for(new, config, now)]
        return Outcome(new, transition, tuple(step.transactions), tuple(timers), step.data)

    def mermaid(self) -> str:
        """The process as a Mermaid state diagram (the docs embed this output)."""
        lines = ["stateDiagram-v2", f"    [*] --> {self.initial}"]
        for t in self.transitions:
            who = "⏱ " + t.due.describe() if t.due else ", ".join(sorted(t.actors))
            for src in sorted(t.from_states):
                for dst in self.targets(t):
                    lines.append(f"    {src} --> {dst}: {t.name} ({who})")
        lines += [f"    {state} --> [*]" for state in sorted(self.terminal)]
        return "\n".join(lines)

    def describe(self) -> list[dict[str, Any]]:
        """The table as plain data: one dict per transition."""
        return [
            {
                "name": t.name,
                "command": t.command_name,
                "from": sorted(t.from_states),
                "to": t.to,
                "actors": sorted(t.actors),
                "event": t.event,
                "guards": [g.__name__ for g in t.guards],
                "effects": [e.__name__ for e in t.effects],
                "due": t.due.describe() if t.due else None,
                "doc": t.doc,
            }
            for t in self.transitions
        ]


T = Transition

#: Where work has not started yet; where it has; every state a dispute may be opened from.
_UNSTARTED: Final = ("awaiting_requirements", "paid")
_ACTIVE: Final = (*_UNSTARTED, "in_progress")
_OPEN: Final = (*_ACTIVE, "delivered")

#: The marketplace order lifecycle.
ORDER_PROCESS: Final = Process(
    initial="pending_payment",
    transitions=(
        # -- payment -------------------------------------------------------------------
        T("pay", {"pending_payment"}, "paid", {"buyer", "system"}, "order.paid",
          guards=(s.no_requirements_asked,), effects=(s.fund_escrow, s.mark_ready),
          doc="Payment captured: the total moves into the order's escrow; the seller is told."),
        T("pay_awaiting_requirements", {"pending_payment"}, "awaiting_requirements",
          {"buyer", "system"}, "order.paid", guards=(s.requirements_asked,),
          effects=(s.fund_escrow,), command="pay",
          doc="Payment captured for a service that asks for requirements: the buyer sends them"
              " next."),
        T("expire", {"pending_payment"}, "expired", {"system"}, "order.expired",
          effects=(s.close,), due=Due("payment_timeout"),
          doc="Never paid within payment_timeout."),
        T("cancel_unpaid", {"pending_payment"}, "cancelled", {"buyer", "staff"},
          "order.cancelled", effects=(s.record_reason, s.close), command="cancel",
          doc="The buyer drops an order before paying; no money moved."),
        # -- before work starts --------------------------------------------------------
        T("submit_requirements", {"awaiting_requirements"}, "paid", {"buyer"},
          "order.requirements_submitted", effects=(s.record_requirements, s.mark_ready),
          doc="The buyer sends the requirements; the seller's start window opens."),
        T("start", set(_UNSTARTED), "in_progress", {"seller"}, "order.started",
          effects=(s.start_clock,),
          doc="The seller starts (with or without requirements); due = now + delivery days."),
        T("cancel_not_started", {"paid"}, "cancelled", {"buyer"}, "order.cancelled",
          guards=(s.start_window_passed,), effects=(s.record_reason, s.refund_escrow),
          command="cancel",
          doc="The seller did not start within seller_start_days of the order being ready"
              " (paid, requirements sent): full refund."),
        # -- cancellations while active --------------------------------------------------
        T("cancel_late", {"in_progress"}, "cancelled", {"buyer"}, "order.cancelled",
          guards=(s.order_late,), effects=(s.record_reason, s.refund_escrow),
          command="cancel", doc="The due time passed with no delivery: full refund."),
        T("cancel_unanswered", set(_ACTIVE), "cancelled", {"buyer"}, "order.cancelled",
          guards=(s.seller_unresponsive,), effects=(s.record_reason, s.refund_escrow),
          command="cancel",
          doc="The buyer's message waited seller_response_hours unanswered: full refund."),
        T("decline", set(_ACTIVE), "cancelled", {"seller"}, "order.cancelled",
          effects=(s.record_reason, s.refund_escrow), command="cancel",
          doc="The seller declines the order before delivering: full refund."),
        T("staff_cancel", set(_ACTIVE), "cancelled", {"staff"}, "order.cancelled",
          effects=(s.record_reason, s.refund_escrow), command="cancel",
          doc="Support cancels an order that was not delivered: full refund."),
        # -- work ------------------------------------------------------------------------
        T("deliver", {"in_progress"}, "delivered", {"seller"}, "order.delivered",
          effects=(s.record_delivery,), doc="The seller delivers a message and files."),
        T("request_revision", {"delivered"}, "in_progress", {"buyer"},
          "order.revision_requested", guards=(s.revisions_left,), effects=(s.count_revision,),
          doc="The buyer asks for changes, up to max_revisions."),
        T("accept", {"delivered"}, "completed", {"buyer"}, "order.completed",
          effects=(s.release_escrow,),
          doc="The buyer accepts: escrow goes to the seller's pending earnings and commission."),
        T("auto_complete", {"delivered"}, "completed", {"system"}, "order.completed",
          effects=(s.release_escrow,), due=Due("auto_complete_days", since="last_delivered_at"),
          doc="No answer auto_complete_days after the last delivery: completed."),
        # -- mutual cancellation ---------------------------------------------------------
        T("request_cancellation", set(_OPEN), "cancellation_requested", {"buyer", "seller"},
          "order.cancellation_requested", effects=(s.record_cancellation_request,),
          doc="One side asks to cancel; the other has mutual_cancel_hours to answer."),
        T("accept_cancellation", {"cancellation_requested"}, "cancelled", {"buyer", "seller"},
          "order.cancelled", guards=(s.not_requester,),
          effects=(s.accept_cancellation, s.refund_escrow),
          doc="The other side agrees: cancelled with a full refund."),
        T("refuse_cancellation", {"cancellation_requested"}, RESUME, {"buyer", "seller"},
          "order.cancellation_refused", guards=(s.not_requester,), effects=(s.resume,),
          doc="The other side refuses: the order goes back to where it was."),
        T("withdraw_cancellation", {"cancellation_requested"}, RESUME, {"buyer", "seller"},
          "order.cancellation_withdrawn", guards=(s.is_requester,), effects=(s.resume,),
          doc="The side that asked takes it back."),
        T("cancellation_lapsed", {"cancellation_requested"}, "cancelled", {"system"},
          "order.cancelled", effects=(s.accept_cancellation, s.refund_escrow),
          due=Due("mutual_cancel_hours", "hours", ("mutual_cancel_default", "cancel")),
          doc="No answer within mutual_cancel_hours and silence means yes: full refund."),
        T("cancellation_ignored", {"cancellation_requested"}, RESUME, {"system"},
          "order.cancellation_refused", effects=(s.resume,),
          due=Due("mutual_cancel_hours", "hours", ("mutual_cancel_default", "continue")),
          doc="No answer within mutual_cancel_hours and silence means no: the order goes on."),
        # -- disputes --------------------------------------------------------------------
        T("open_dispute", {*_OPEN, "cancellation_requested"}, "disputed", {"buyer", "seller"},
          "order.disputed", effects=(s.open_dispute,),
          doc="Either side asks support to decide; every timer stops."),
        T("resolve_release", {"disputed"}, "completed", {"staff"}, "order.dispute_resolved",
          effects=(s.resolve_dispute, s.release_escrow),
          doc="Staff release the escrow to the seller, with a written resolution."),
        T("resolve_refund", {"disputed"}, "cancelled", {"staff"}, "order.dispute_resolved",
          effects=(s.resolve_dispute, s.refund_escrow),
          doc="Staff refund the buyer in full, with a written resolution."),
        T("resolve_split", {"disputed"}, "settled", {"staff"}, "order.dispute_resolved",
          effects=(s.resolve_dispute, s.split_escrow),
          doc="Staff split: part to the seller less commission on it, the rest refunded."),
    ),
)
