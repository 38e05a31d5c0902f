"""Event records: the audit trail and durable outbox every command appends to."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["Event"]


@attrs.frozen
class Event:
    """Something that happened, appended in the same transaction as the change.

    ``seq`` is given by storage when the event is appended; it orders the log
    and is what :meth:`~microkit.market.EventsFacade.read` pages by.

    .. versionadded:: 0.1
    """

    #: Dotted name, e.g. ``"order.paid"``, ``"service.rejected"``.
    name: str
    #: What it is about, as ``"kind:id"``, e.g. ``"order:o_1a2b"``.
    subject: str
    #: Who caused it, as ``str(actor)``.
    actor: str
    #: When, from the market's clock.
    at: dt.datetime
    #: JSON-serializable details (ids, amounts as minor-unit ints, reasons).
    data: Mapping[str, Any] = attrs.field(factory=dict)
    #: Position in the log; 0 until stored.
    seq: int = 0
