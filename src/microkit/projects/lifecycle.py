"""The lifecycles of projects, bids and custom offers, each one declarative table.

Like the catalog's moderation table, each :class:`Move` names its from-states,
its to-state, the roles that may run it and the event it appends; the facades
ask :meth:`Lifecycle.check` and never decide legality themselves. The order
tables' :class:`~microkit.orders.process.Process` is typed around an
:class:`~microkit.orders.model.Order` (escrow effects, timers pinned to its
version), so these smaller records get this smaller machine.

``python -m microkit diagram``-style output: :meth:`Lifecycle.mermaid`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Literal

import attrs

from ..errors import InvalidTransition, PermissionDenied

__all__ = ["BID", "OFFER", "PROJECT", "REQUEST", "Lifecycle", "Move", "Role"]

#: How an actor stands to a project, bid, request or offer.
Role = Literal["buyer", "seller", "staff", "system"]


def _states(states: Iterable[str]) -> frozenset[str]:
    return frozenset(states)


def _roles(roles: Iterable[Role]) -> frozenset[Role]:
    return frozenset(roles)


@attrs.frozen
class Move:
    """One row of a lifecycle table.

    .. versionadded:: 0.1
    """

    name: str
    from_states: frozenset[str] = attrs.field(converter=_states)
    to: str
    actors: frozenset[Role] = attrs.field(converter=_roles)
    #: The event appended when it runs.
    event: str
    doc: str = ""


@attrs.frozen
class Lifecycle:
    """A small state machine as data.

    .. versionadded:: 0.1
    """

    #: ``"project"``, ``"bid"``, ``"offer"``: for messages.
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

    def check(self, name: str, state: str, role: Role | None, *, actor: str, subject: str
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


M = Move
_UNDECIDED: Final = ("pending_review", "open", "closed")

#: Projects. Posted ``open`` (``pending_review`` with ``project_moderation`` on).
PROJECT: Final = Lifecycle("project", ("pending_review", "open"), (
    M("approve", {"pending_review"}, "open", {"staff"}, "project.approved",
      doc="Staff publish the project: sellers can find it and bid."),
    M("reject", {"pending_review"}, "rejected", {"staff"}, "project.rejected",
      doc="Staff refuse it with a reason the buyer is told."),
    M("close", {"open"}, "closed", {"buyer"}, "project.closed",
      doc="The buyer stops taking bids; the bids in hand can still be accepted."),
    M("reopen", {"closed"}, "open", {"buyer"}, "project.reopened",
      doc="The buyer takes bids again."),
    M("cancel", _UNDECIDED, "cancelled", {"buyer", "staff"}, "project.cancelled",
      doc="The buyer (or staff) withdraws the project; every live bid is closed."),
    M("award", {"open", "closed"}, "awarded", {"buyer"}, "project.awarded",
      doc="The buyer accepts a bid: an order is placed, the other bids are closed."),
    M("complete", {"awarded"}, "completed", {"system"}, "project.completed",
      doc="The project's order completed (or was settled by staff)."),
    M("abandon", {"awarded"}, "cancelled", {"system"}, "project.cancelled",
      doc="The project's order was cancelled or never paid."),
))

_LIVE: Final = ("live", "shortlisted")

#: Bids on a project.
BID: Final = Lifecycle("bid", ("live",), (
    M("edit", _LIVE, "live", {"seller"}, "bid.updated",
      doc="The seller changes amount, days or proposal until the buyer decides."),
    M("withdraw", _LIVE, "withdrawn", {"seller"}, "bid.withdrawn",
      doc="The seller takes the bid back."),
    M("shortlist", {"live"}, "shortlisted", {"buyer"}, "bid.shortlisted",
      doc="The buyer marks the bid for a closer look."),
    M("unshortlist", {"shortlisted"}, "live", {"buyer"}, "bid.unshortlisted",
      doc="The buyer takes it off the shortlist."),
    M("reject", _LIVE, "rejected", {"buyer"}, "bid.rejected",
      doc="The buyer turns the bid down; the seller is told."),
    M("accept", _LIVE, "accepted", {"buyer"}, "bid.accepted",
      doc="The buyer accepts: an order in pending_payment with the bid's amount and days."),
    M("close", _LIVE, "closed", {"system"}, "bid.closed",
      doc="Another bid was accepted, or the project was cancelled; the seller is told."),
))

#: Custom offers.
OFFER: Final = Lifecycle("offer", ("pending",), (
    M("accept", {"pending"}, "accepted", {"buyer"}, "offer.accepted",
      doc="The buyer accepts before it expires: an order in pending_payment."),
    M("decline", {"pending"}, "declined", {"buyer"}, "offer.declined",
      doc="The buyer turns it down."),
    M("withdraw", {"pending"}, "withdrawn", {"seller"}, "offer.withdrawn",
      doc="The seller takes it back."),
    M("expire", {"pending"}, "expired", {"system"}, "offer.expired",
      doc="Its time ran out (tick marks it; accept refuses it from the due instant)."),
))

#: Buyer requests.
REQUEST: Final = Lifecycle("request", ("open",), (
    M("close", {"open"}, "closed", {"buyer", "staff"}, "request.closed",
      doc="The buyer (or staff) stops taking responses."),
))
