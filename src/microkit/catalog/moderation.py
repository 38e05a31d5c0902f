"""The service moderation lifecycle as one declarative table; the single truth of it.

Like the order transition table (:mod:`microkit.orders.process`), each row names
its from-states, to-state, the roles that may run it and the event it appends.
Moderation is a market setting (``MarketConfig.moderation``): when it is off, a
row's ``unmoderated`` target applies instead of ``pending_review``.

Only ``approved`` services can be bought or found.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Literal

import attrs

from ..errors import InvalidTransition, PermissionDenied
from .model import ServiceState

__all__ = ["MODERATION", "SAME", "STATES", "ModerationRole", "ModerationTable", "Move"]

#: How an actor stands to a service.
ModerationRole = Literal["seller", "staff"]
#: Every state a service can be in.
STATES: Final[tuple[ServiceState, ...]] = (
    "pending_review", "approved", "rejected", "paused", "suspended",
)
#: ``unmoderated`` value meaning "the state does not change".
SAME: Final = "same"


def _states(states: Iterable[ServiceState]) -> frozenset[ServiceState]:
    return frozenset(states)


def _roles(roles: Iterable[ModerationRole]) -> frozenset[ModerationRole]:
    return frozenset(roles)


@attrs.frozen
class Move:
    """One row of the moderation table.

    .. versionadded:: 0.1
    """

    #: The facade command: ``market.catalog.<name>(service_id, by=...)``.
    name: str
    from_states: frozenset[ServiceState] = attrs.field(converter=_states)
    to: ServiceState
    actors: frozenset[ModerationRole] = attrs.field(converter=_roles)
    #: The event appended when it runs (``data`` has service_id, seller_id, from, to).
    event: str
    #: Whether a ``reason`` is required (and put in the event and ``moderation_note``).
    reason: bool = False
    #: The to-state when moderation is off (``SAME``: unchanged), if it differs.
    unmoderated: ServiceState | Literal["same"] | None = None
    #: The event when moderation is off, if it differs.
    unmoderated_event: str | None = None
    doc: str = ""

    def target(self, current: ServiceState, moderation: bool) -> tuple[ServiceState, str]:
        """The state this move leads to from ``current``, and the event it appends."""
        if moderation or self.unmoderated is None:
            return self.to, self.event
        to = current if self.unmoderated == SAME else self.unmoderated
        return to, self.unmoderated_event or self.event


@attrs.frozen
class ModerationTable:
    """The moderation state machine as data.

    .. versionadded:: 0.1
    """

    moves: tuple[Move, ...]

    def get(self, name: str) -> Move:
        for move in self.moves:
            if move.name == name:
                return move
        raise KeyError(name)

    def allowed_from(self, state: str) -> tuple[str, ...]:
        """Names of the moves that may leave ``state``."""
        return tuple(m.name for m in self.moves if state in m.from_states)

    def check(self, name: str, state: ServiceState, role: ModerationRole | None, *,
              actor: str, service_id: str) -> Move:
        """The move ``name`` if ``role`` may run it from ``state``.

        Raises:
            PermissionDenied: the role may not run it (checked first).
            InvalidTransition: not allowed from ``state``; says what is.
        """
        move = self.get(name)
        if role not in move.actors:
            raise PermissionDenied(
                f"{actor} may not {name} service {service_id}"
                f" (allowed: {', '.join(sorted(move.actors))})",
                actor=actor,
                action=name,
            )
        if state not in move.from_states:
            allowed = self.allowed_from(state)
            raise InvalidTransition(
                f"cannot {name} a service that is {state!r}; allowed from {state!r}: "
                + ", ".join(allowed),
                transition=name,
                state=state,
                allowed=allowed,
            )
        return move

    def mermaid(self) -> str:
        """The table as a Mermaid state diagram."""
        lines = ["stateDiagram-v2", "    [*] --> pending_review: create_service (seller)"]
        for m in self.moves:
            for src in sorted(m.from_states):
                lines.append(f"    {src} --> {m.to}: {m.name} ({', '.join(sorted(m.actors))})")
        return "\n".join(lines)


M = Move
_EDITABLE: Final[tuple[ServiceState, ...]] = ("pending_review", "approved", "rejected", "paused")

#: The service moderation lifecycle.
MODERATION: Final = ModerationTable((
    M("approve", {"pending_review", "rejected"}, "approved", {"staff"}, "service.approved",
      doc="Staff publish the service: it can be bought and found."),
    M("reject", {"pending_review"}, "rejected", {"staff"}, "service.rejected", reason=True,
      doc="Staff refuse it with a reason the seller is told."),
    M("update_service", _EDITABLE, "pending_review", {"seller"}, "service.updated",
      unmoderated=SAME,
      doc="The seller edits it; with moderation on it waits for review again."),
    M("resubmit", {"rejected"}, "pending_review", {"seller"}, "service.submitted",
      unmoderated="approved", unmoderated_event="service.approved",
      doc="The seller asks for another review after a rejection."),
    M("pause", {"approved"}, "paused", {"seller"}, "service.paused",
      doc="The seller stops taking orders for a while; hidden from search."),
    M("resume", {"paused"}, "approved", {"seller"}, "service.resumed",
      doc="The seller takes orders again."),
    M("suspend", _EDITABLE, "suspended", {"staff"}, "service.suspended", reason=True,
      doc="Staff take it down (policy breach); the seller cannot change it."),
    M("unsuspend", {"suspended"}, "approved", {"staff"}, "service.unsuspended",
      doc="Staff lift a suspension: published again."),
))
