"""The service moderation lifecycle as one declarative table; the single truth of it.

Like the order transition table (:mod:`microkit.orders.process`), each row names
its from-states, to-state, the roles that may run it and the event it appends.
Moderation is a market setting (``MarketConfig.moderation``): when it is off, a
row's ``unmoderated`` target applies instead of ``pending_review``.

Only ``approved`` services can be bought or found.
"""

from __future__ import annotations

from typing import Final, Literal

import attrs

from .._lifecycle import Lifecycle
from .._lifecycle import Move as GenericMove
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


@attrs.frozen
class Move(GenericMove):
    """One row of the moderation table: a :class:`~microkit._lifecycle.Move` that may
    ask for a reason and lead elsewhere when moderation is off.

    .. versionadded:: 0.1
    """

    #: Whether a ``reason`` is required (and put in the event and ``moderation_note``).
    reason: bool = False
    #: The to-state when moderation is off (``SAME``: unchanged), if it differs.
    unmoderated: ServiceState | Literal["same"] | None = None
    #: The event when moderation is off, if it differs.
    unmoderated_event: str | None = None

    def target(self, current: ServiceState, moderation: bool) -> tuple[ServiceState, str]:
        """The state this move leads to from ``current``, and the event it appends."""
        if moderation or self.unmoderated is None:
            return self.to, self.event  # type: ignore[return-value]
        to = current if self.unmoderated == SAME else self.unmoderated
        return to, self.unmoderated_event or self.event


#: The moderation state machine as data (the shared small machine).
ModerationTable = Lifecycle

M = Move
_EDITABLE: Final[tuple[ServiceState, ...]] = ("pending_review", "approved", "rejected", "paused")

#: The service moderation lifecycle.
MODERATION: Final = Lifecycle("service", ("pending_review",), (
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
