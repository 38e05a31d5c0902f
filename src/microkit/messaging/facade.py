"""``market.messages``: pre-purchase inquiries and order conversations, read markers,
unread counts, the contact-information filter and sellers' response times."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from .._checks import actor_checked, check_cursor, collection, whole_number
from .._core import Core, Unit
from ..actors import Actor
from ..errors import NotFound, PermissionDenied, PluginError, ValidationError
from ..hooks import call_plugin
from ..orders.facade import Page
from ..storage.base import Tx
from ..storage.records import (
    CONVERSATIONS,
    MESSAGES,
    ORDERS,
    RESPONSE_STATS,
    SERVICES,
    USERS,
)
from ._contact_filter import ContactMatch, redact
from .model import (
    Conversation,
    Message,
    ResponseStats,
    inquiry_conversation_id,
)

__all__ = ["MessagesFacade"]

#: At most this many attachment references per message.
MAX_ATTACHMENTS = 20
_DAY = dt.timedelta(days=1)


def _message_id(conversation_id: str, number: int) -> str:
    return f"{conversation_id}#{number:07d}"


@actor_checked
class MessagesFacade:
    """Conversations between buyers and sellers. Reached as ``market.messages``.

    Two kinds: a buyer's inquiry about a service before buying
    (:meth:`inquire`), and each order's conversation (id
    ``"order:{order_id}"``, see :func:`~microkit.messaging.model.order_conversation_id`),
    created by its first message. Staff may read every conversation and write
    in order conversations (support).

    .. versionadded:: 0.1
    """

    def __init__(self, core: Core) -> None:
        self._core = core

    # -- sending -------------------------------------------------------------------

    def inquire(
        self, service_id: str, *, by: Actor, body: str, attachments: Sequence[str] = ()
    ) -> Message:
        """A buyer asks a seller about a service before buying (opens or continues it).

        Raises:
            PermissionDenied: not a user, or the seller asking about their own service.
            NotFound: unknown or unapproved service; an unregistered user opening an
                inquiry.
            ValidationError: empty or too long body, bad attachments, contact information
                with ``message_filter="block"``.
        """
        if by.kind != "user":
            raise PermissionDenied(f"{by} may not send inquiries: buyers are users",
                                   actor=str(by), action="inquire")
        conv_id = inquiry_conversation_id(service_id, by.id)
        return self._send(conv_id, by, body, attachments, service_id=service_id)

    def send(
        self, conversation_id: str, *, by: Actor, body: str, attachments: Sequence[str] = ()
    ) -> Message:
        """Send a message in a conversation: an inquiry, or ``"order:{order_id}"``.

        Raises:
            NotFound: unknown conversation (or order).
            PermissionDenied: not a participant (staff: only in order conversations).
            ValidationError: a conversation id that is not a str; empty or too long body,
                bad attachments, contact information with ``message_filter="block"``.
        """
        if not isinstance(conversation_id, str):
            raise ValidationError(f"conversation_id: expected a conversation id (a str), got"
                                  f" {conversation_id!r:.80}", field="conversation_id",
                                  value=conversation_id)
        return self._send(conversation_id, by, body, attachments, service_id=None)

    def _send(
        self, conv_id: str, by: Actor, body: str, attachments: Sequence[str],
        *, service_id: str | None,
    ) -> Message:
        core = self._core
        text = self._check_body(body)
        refs = self._check_attachments(attachments)
        redacted: tuple[str, ...] = ()
        if by.kind == "user" and core.config.message_filter != "off":
            matches = self._contacts(text, by, conv_id)
            if matches:
                kinds = tuple(sorted({m.kind for m in matches}))
                if core.config.message_filter == "block":
                    raise ValidationError(
                        "body: contact information is not allowed in messages (found "
                        + ", ".join(kinds) + "); keep the conversation on the platform",
                        field="body",
                        value=kinds,
                    )
                text, redacted = redact(text, matches), kinds

        def command(u: Unit) -> Message:
            conv = u.tx.get(CONVERSATIONS, conv_id)
            if conv is None:
                conv = self._new_conversation(u, conv_id, by, service_id)
                u.tx.add(CONVERSATIONS, conv)
            role = self._role(conv, by, writing=True)
            number = conv.messages + 1
            msg = Message(_message_id(conv_id, number), conv_id, number, str(by), role, text,
                          refs, u.now, redacted)
            u.tx.add(MESSAGES, msg)
            changes: dict[str, Any] = {"messages": number, "last_message_at": u.now,
                                       "version": conv.version + 1}
            data: dict[str, Any] = {
                "conversation_id": conv_id, "number": number, "kind": conv.kind,
                "subject_id": conv.subject_id, "buyer_id": conv.buyer_id,
                "seller_id": conv.seller_id, "sender_role": role,
            }
            if redacted:
                data["redacted"] = list(redacted)
            if role == "buyer":
                changes.update(buyer_read=number, buyer_unread=0,
                               seller_unread=conv.seller_unread + 1)
                if conv.buyer_waiting_since is None:
                    changes["buyer_waiting_since"] = u.now
            elif role == "seller":
                changes.update(seller_read=number, seller_unread=0,
                               buyer_unread=conv.buyer_unread + 1)
                if conv.buyer_waiting_since is not None:
                    seconds = self._record_response(u, conv, conv.buyer_waiting_since)
                    changes["buyer_waiting_since"] = None
                    data["response_seconds"] = seconds
            else:
                changes.update(buyer_unread=conv.buyer_unread + 1,
                               seller_unread=conv.seller_unread + 1)
            u.tx.save(CONVERSATIONS, attrs.evolve(conv, **changes), conv.version)
            u.emit("message.sent", f"conversation:{conv_id}", str(by), data)
            return msg

        return core.run(command)

    def _new_conversation(
        self, u: Unit, conv_id: str, by: Actor, service_id: str | None
    ) -> Conversation:
        if service_id is not None:
            service = u.tx.get(SERVICES, service_id)
            if service is None or service.state != "approved":
                raise NotFound("service", service_id)
            if service.seller_id == by.id:
                raise PermissionDenied(f"{by} may not inquire about their own service",
                                       actor=str(by), action="inquire")
            u.need(USERS, by.id, "user")  # the buyer opening it is registered, as for orders
            return Conversation(conv_id, "inquiry", service_id, by.id, service.seller_id,
                                u.now, u.now)
        kind, _, order_id = conv_id.partition(":")
        order = u.tx.get(ORDERS, order_id) if kind == "order" else None
        if order is None:
            raise NotFound("conversation", conv_id)
        return Conversation(conv_id, "order", order_id, order.buyer_id, order.seller_id,
                            u.now, u.now)

    def _record_response(self, u: Unit, conv: Conversation, since: dt.datetime) -> int:
        """Add one response to the seller's response statistics; returns its seconds."""
        seconds = max(0, int((u.now - since).total_seconds()))
        stats = u.tx.get(RESPONSE_STATS, conv.seller_id)
        base = stats or ResponseStats(conv.seller_id)
        new = attrs.evolve(
            base, responses=base.responses + 1, total_seconds=base.total_seconds + seconds,
            within_day=base.within_day + (u.now - since <= _DAY), last_response_at=u.now,
            version=base.version + 1,
        )
        if stats is None:
            u.tx.add(RESPONSE_STATS, attrs.evolve(new, version=1))
        else:
            u.tx.save(RESPONSE_STATS, new, stats.version)
        return seconds

    def _contacts(self, text: str, by: Actor, conv_id: str) -> list[ContactMatch]:
        pm = self._core.pm
        found = call_plugin("microkit_check_message", lambda: pm.hook.microkit_check_message(
            text=text, sender=str(by), conversation_id=conv_id, config=self._core.config
        ))
        matches = [] if found is None else list(found) if isinstance(found, Iterable) else None
        if matches is None or not all(
            isinstance(m, ContactMatch) and text[m.start:m.end] == m.text for m in matches
        ):
            raise PluginError(
                f"microkit_check_message: expected ContactMatch records of the message,"
                f" got {found!r:.200}"
            )
        return matches

    def _check_body(self, body: object) -> str:
        cap = self._core.config.message_max_length
        if not isinstance(body, str) or not body.strip() or len(body) > cap:
            size = len(body) if isinstance(body, str) else type(body).__name__
            raise ValidationError(
                f"body: expected non-empty text of at most {cap} characters, got {size}"
                + (" characters" if isinstance(body, str) else ""),
                field="body",
                value=size,
            )
        return body

    @staticmethod
    def _check_attachments(attachments: Sequence[str]) -> tuple[str, ...]:
        refs = collection("attachments", attachments, one_str=True)
        if len(refs) > MAX_ATTACHMENTS or not all(
            isinstance(a, str) and 0 < len(a) <= 1000 for a in refs
        ):
            raise ValidationError(
                f"attachments: expected at most {MAX_ATTACHMENTS} references of 1..1000"
                f" characters, got {refs!r:.80}",
                field="attachments",
                value=refs,
            )
        return refs

    @staticmethod
    def _role(conv: Conversation, by: Actor, *, writing: bool = False) -> str:
        if by.kind == "user":
            if by.id == conv.buyer_id:
                return "buyer"
            if by.id == conv.seller_id:
                return "seller"
        elif by.kind == "staff" and (conv.kind == "order" or not writing):
            return "staff"
        raise PermissionDenied(f"{by} is not part of conversation {conv.id}", actor=str(by),
                               action="send" if writing else "read")

    # -- reading -------------------------------------------------------------------

    def get(self, conversation_id: str, *, by: Actor) -> Conversation:
        """A conversation with its unread counts. Raises NotFound, PermissionDenied."""
        conv = self._core.query(lambda tx: tx.get(CONVERSATIONS, conversation_id))
        if conv is None:
            raise NotFound("conversation", conversation_id)
        self._role(conv, by)
        return conv

    def list(
        self, conversation_id: str, *, by: Actor, after: int = 0, limit: int = 50
    ) -> list[Message]:
        """Messages after number ``after``, oldest first.

        Raises: NotFound, PermissionDenied, ValidationError (``after`` below 0 or
        ``limit`` outside 1..500).
        """
        if type(after) is not int or after < 0:
            raise ValidationError(f"after: expected a message number >= 0, got {after!r:.80}",
                                  field="after", value=after)
        whole_number("limit", limit, low=1, high=500)
        self.get(conversation_id, by=by)
        return self._core.query(lambda tx: tx.find(
            MESSAGES, {"conversation_id": conversation_id}, order_by="key",
            after=_message_id(conversation_id, after), limit=limit,
        ))

    def mark_read(
        self, conversation_id: str, *, by: Actor, up_to: int | None = None
    ) -> Conversation:
        """Mark messages read up to number ``up_to`` (all by default); markers never go back.

        Raises: NotFound, PermissionDenied (staff have no read marker), ValidationError.
        """

        def command(u: Unit) -> Conversation:
            conv = u.need(CONVERSATIONS, conversation_id, "conversation")
            role = self._role(conv, by)
            if role == "staff":
                raise PermissionDenied(f"{by} has no read marker in {conversation_id}",
                                       actor=str(by), action="mark_read")
            last = conv.messages if up_to is None else up_to
            if type(last) is not int or not 0 <= last <= conv.messages:
                raise ValidationError(
                    f"up_to: expected 0..{conv.messages}, got {up_to!r}", field="up_to",
                    value=up_to,
                )
            if last <= getattr(conv, f"{role}_read"):
                return conv
            unread = 0 if last == conv.messages else sum(
                1 for m in u.tx.find(MESSAGES, {"conversation_id": conversation_id},
                                     order_by="key", after=_message_id(conversation_id, last),
                                     limit=conv.messages)
                if m.sender_role != role
            )
            marker: dict[str, Any] = {f"{role}_read": last, f"{role}_unread": unread}
            new = attrs.evolve(conv, **marker, version=conv.version + 1)
            u.tx.save(CONVERSATIONS, new, conv.version)
            return new

        return self._core.run(command)

    def conversations(
        self, *, by: Actor, cursor: str | None = None, limit: int = 20
    ) -> Page[Conversation]:
        """The user's conversations (as buyer and as seller), most recent first.

        Raises: PermissionDenied (not a user), ValidationError (a limit outside 1..200, a
        cursor that is not a str).
        """
        if by.kind != "user":
            raise PermissionDenied(f"{by} has no inbox", actor=str(by), action="conversations")
        if type(limit) is not int or not 1 <= limit <= 200:
            raise ValidationError(f"limit: expected 1..200, got {limit!r}", field="limit",
                                  value=limit)
        check_cursor("cursor", cursor)

        def read(tx: Tx) -> list[Conversation]:
            rows = [
                c for col in ("buyer_id", "seller_id")
                for c in tx.find(CONVERSATIONS, {col: by.id}, order_by="recent",
                                 descending=True, after=cursor, limit=limit + 1)
            ]
            rows.sort(key=_recent, reverse=True)
            return rows[: limit + 1]

        rows = self._core.query(read)
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(tuple(rows), _recent(rows[-1]) if more and rows else None)

    def unread_count(self, *, by: Actor) -> int:
        """Unread messages across all of the user's conversations."""
        if by.kind != "user":
            raise PermissionDenied(f"{by} has no inbox", actor=str(by), action="unread_count")

        def read(tx: Tx) -> int:
            total = 0
            for col in ("buyer_id", "seller_id"):
                after: str | None = None
                while True:
                    page = tx.find(CONVERSATIONS, {col: by.id}, after=after, limit=1000)
                    total += sum(c.unread_for(by.id) for c in page)
                    if len(page) < 1000:
                        break
                    after = page[-1].id
            return total

        return self._core.query(read)

    def response_stats(self, user_id: str) -> ResponseStats:
        """How fast a seller has answered buyers (zeros before the first answer)."""
        found = self._core.query(lambda tx: tx.get(RESPONSE_STATS, user_id))
        return found or ResponseStats(user_id)


def _recent(conv: Conversation) -> str:
    return f"{conv.last_message_at.isoformat()}|{conv.id}"
