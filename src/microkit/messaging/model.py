"""Conversation and message records, and the ids that tie them to services and orders."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import attrs

__all__ = [
    "Conversation",
    "ConversationKind",
    "Message",
    "ResponseStats",
    "inquiry_conversation_id",
    "order_conversation_id",
]

#: ``"inquiry"``: a buyer asks a seller about a service before buying;
#: ``"order"``: the conversation of one order.
ConversationKind = Literal["inquiry", "order"]


def order_conversation_id(order_id: str) -> str:
    """The id of an order's conversation: ``"order:{order_id}"``."""
    return f"order:{order_id}"


def inquiry_conversation_id(service_id: str, buyer_id: str) -> str:
    """The id of a buyer's pre-purchase conversation about a service."""
    return f"inquiry:{service_id}:{buyer_id}"


@attrs.frozen
class Conversation:
    """A conversation between a buyer and a seller, with read markers and unread counts.

    .. versionadded:: 0.1
    """

    id: str
    kind: ConversationKind
    #: The service (inquiry) or the order (order conversation) it is about.
    subject_id: str
    buyer_id: str
    seller_id: str
    created_at: dt.datetime
    last_message_at: dt.datetime
    #: Messages so far; they are numbered 1..messages.
    messages: int = 0
    #: The last message number each side has read.
    buyer_read: int = 0
    seller_read: int = 0
    #: Messages from the other side each has not read.
    buyer_unread: int = 0
    seller_unread: int = 0
    #: When the oldest buyer message the seller has not answered was sent; None if answered.
    buyer_waiting_since: dt.datetime | None = None
    version: int = 1

    def unread_for(self, user_id: str) -> int:
        """Unread messages for one participant (0 for anyone else)."""
        if user_id == self.buyer_id:
            return self.buyer_unread
        if user_id == self.seller_id:
            return self.seller_unread
        return 0


@attrs.frozen
class Message:
    """One message: text and attachment references, after the contact filter.

    .. versionadded:: 0.1
    """

    #: ``"{conversation_id}#{number:07d}"``: sorts in conversation order.
    id: str
    conversation_id: str
    #: 1 for the first message of the conversation.
    number: int
    #: The sender, as ``str(actor)``: ``"user:amal"``, ``"staff:ops"``.
    sender: str
    #: ``"buyer"``, ``"seller"`` or ``"staff"``.
    sender_role: str
    body: str
    attachments: tuple[str, ...]
    sent_at: dt.datetime
    #: Kinds of contact information the filter redacted (``"phone"``, ``"email"``, …).
    redacted: tuple[str, ...] = ()
    version: int = 1


@attrs.frozen
class ResponseStats:
    """How fast a seller answers buyers: kept incrementally, read by seller levels.

    A response is the seller's first message after one or more unanswered
    buyer messages; its time runs from the oldest of them.

    .. versionadded:: 0.1
    """

    #: The seller's user id.
    id: str
    responses: int = 0
    total_seconds: int = 0
    #: Responses that came within 24 hours.
    within_day: int = 0
    last_response_at: dt.datetime | None = None
    version: int = 1

    @property
    def average_seconds(self) -> float | None:
        """Mean response time, or None before the first response."""
        return self.total_seconds / self.responses if self.responses else None
