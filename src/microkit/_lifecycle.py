"""A small declarative state machine for records other than orders.

A :class:`Lifecycle` is a table of :class:`Move` rows: from-states, to-state,
the roles that may run it and the event it appends. Facades ask
:meth:`Lifecycle.check` and never decide legality themselves. Service
moderation, projects, bids, requests and custom offers use it; orders have
the richer :class:`~microkit.orders.process.Process` (guards, escrow effects,
time-based transitions pinned to the order's version).
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from .errors import InvalidTransition, PermissionDenied

__all__ = ["Lifecycle", "Move"]


def _states(states: Iterable[str]) -> frozenset[str]:
    return frozenset(states)


def _roles(roles: Iterable[str]) -> frozenset[str]:
    return frozenset(roles)


@attrs.frozen
class Move:
    """One row of a lifecycle table.

    .. versionadded:: 0.1
    """

    name: str
    from_states: frozenset[str] = attrs.field(converter=_states)
    to: str
    #: Roles that may run it: ``"buyer"``, ``"seller"``, ``"staff"``, ``"system"``.
    actors: frozenset[str] = attrs.field(converter=_roles)
    #: The event appended when it runs.
    event: str
    doc: str = ""


@attrs.frozen
class Lifecycle:
    """A small state machine as data.

    .. versionadded:: 0.1
    """

    #: ``"project"``, ``"service"``, ``"offer"``: for messages.
    noun: str
    initial: tuple[str, ...]
    moves: tuple[Move, ...]

    def get(self, name: str) -> Move:
        for move in self.moves:
            if move.name == name:
                return move
        raise KeyError(name)

    @property
    def states(self) -> tuple[str, ...]:
        seen = list(self.initial)
        for m in self.moves:
            for state in (*sorted(m.from_states), m.to):
                if state not in seen:
                    seen.append(state)
        return tuple(seen)

    @property
    def terminal(self) -> frozenset[str]:
        return frozenset(self.states) - {s for m in self.moves for s in m.from_states}

    def allowed_from(self, state: str) -> tuple[str, ...]:
        """Names of the moves that may leave ``state``."""
        return tuple(m.name for m in self.moves if state in m.from_states)

    def check(self, name: str, state: str, role: str | None, *, actor: str, subject: str
              ) -> Move:
        """The move ``name`` if ``role`` may run it from ``state``.

        Raises:
            PermissionDenied: the role may not run it (checked first).
            InvalidTransition: not allowed from ``state``; says what is.
        """
        move = self.get(name)
        if role not in move.actors:
            raise PermissionDenied(
                f"{actor} may not {name} {self.noun} {subject}"
                f" (allowed: {', '.join(sorted(move.actors))})",
                actor=actor,
                action=name,
            )
        if state not in move.from_states:
            allowed = self.allowed_from(state)
            raise InvalidTransition(
                f"cannot {name} a {self.noun} that is {state!r}; allowed from {state!r}: "
                + (", ".join(allowed) or "nothing (final state)"),
                transition=name,
                state=state,
                allowed=allowed,
            )
        return move

    def mermaid(self) -> str:
        """The table as a Mermaid state diagram."""
        lines = ["stateDiagram-v2", *(f"    [*] --> {s}" for s in self.initial)]
        for m in self.moves:
            for src in sorted(m.from_states):
                lines.append(f"    {src} --> {m.to}: {m.name} ({', '.join(sorted(m.actors))})")
        lines += [f"    {s} --> [*]" for s in sorted(self.terminal)]
        return "\n".join(lines)

