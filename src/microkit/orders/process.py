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

from ..config import MarketConfig
from ..errors import InvalidTransition, PermissionDenied
from ..escrow.ledger import LedgerTransaction
from ..storage.base import Timer
from . import _steps as s
from .model import Order

__all__ = ["ORDER_PROCESS", "Due", "Outcome", "Process", "Role", "Transition"]

#: How an actor stands to an order.
Role = Literal["buyer", "seller", "staff", "system"]


@attrs.frozen
class Due:
    """When a time-based transition fires: ``config.<setting>`` after entering the state."""

    #: A MarketConfig field holding days (int) or a timedelta.
    setting: str

    def delay(self, config: MarketConfig) -> dt.timedelta:
        value = getattr(config, self.setting)
        return value if isinstance(value, dt.timedelta) else dt.timedelta(days=value)


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
                if state not in seen:
                    seen.append(state)
        return tuple(seen)

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
                now + t.due.delay(config),
                order.version,
            )
            for t in self.timed_from(order.state)
            if t.due is not None
        ]

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
        if role not in transition.actors:
            raise PermissionDenied(
                f"{actor} may not {transition.command_name} order {order.id}"
                f" (allowed: {', '.join(sorted(transition.actors))})",
                actor=actor,
                action=transition.name,
            )
        if order.state not in transition.from_states:
            self.choose(transition.command_name, order.state)  # raises with the allowed list
        step = s.Step(order, config, now, actor, params)
        for guard in transition.guards:
            guard(step)
        for effect in transition.effects:
            effect(step)
        new = attrs.evolve(
            order,
            state=transition.to,
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
            who = "⏱ " + t.due.setting if t.due else ", ".join(sorted(t.actors))
            for src in sorted(t.from_states):
                lines.append(f"    {src} --> {t.to}: {t.name} ({who})")
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
                "due": t.due.setting if t.due else None,
                "doc": t.doc,
            }
            for t in self.transitions
        ]


T = Transition

#: The marketplace order lifecycle.
ORDER_PROCESS: Final = Process(
    initial="pending_payment",
    transitions=(
        T("pay", {"pending_payment"}, "paid", {"buyer", "system"}, "order.paid",
          effects=(s.fund_escrow,),
          doc="Payment captured: the total moves into the order's escrow; the seller is told."),
        T("expire", {"pending_payment"}, "expired", {"system"}, "order.expired",
          due=Due("payment_timeout"), doc="Never paid within payment_timeout."),
        T("cancel_unpaid", {"pending_payment"}, "cancelled", {"buyer", "staff"},
          "order.cancelled", effects=(s.record_reason,), command="cancel",
          doc="The buyer drops an order before paying; no money moved."),
        T("start", {"paid"}, "in_progress", {"seller"}, "order.started",
          effects=(s.start_clock,), doc="The seller starts; the due time is set."),
        T("cancel_before_start", {"paid"}, "cancelled", {"buyer", "seller", "staff"},
          "order.cancelled", effects=(s.record_reason, s.refund_escrow), command="cancel",
          doc="Cancelled before the seller started: full refund."),
        T("deliver", {"in_progress"}, "delivered", {"seller"}, "order.delivered",
          effects=(s.record_delivery,), doc="The seller delivers a message and files."),
        T("request_revision", {"delivered"}, "in_progress", {"buyer"},
          "order.revision_requested", guards=(s.revisions_left,), effects=(s.count_revision,),
          doc="The buyer asks for changes, up to max_revisions."),
        T("accept", {"delivered"}, "completed", {"buyer"}, "order.completed",
          effects=(s.release_escrow,),
          doc="The buyer accepts: escrow goes to the seller's pending earnings and commission."),
        T("auto_complete", {"delivered"}, "completed", {"system"}, "order.completed",
          effects=(s.release_escrow,), due=Due("auto_complete_days"),
          doc="No answer auto_complete_days after the last delivery: completed."),
    ),
)
