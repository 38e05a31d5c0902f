"""The levels projector: keeps every seller's metrics current from the events of each command.

Registered in ``core.projectors``, it runs inside the command's unit of work
just before its events are appended, so metrics never lag the facts and a
rolled-back command leaves them untouched. It reads the order, review and
message events (and, where an event lacks a figure, the record the command
just saved), and adds to per-seller counters: all time and per day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

import attrs

from ..events import Event
from ..storage.records import (
    CONVERSATIONS,
    ORDERS,
    SELLER_BUYERS,
    SELLER_LEVELS,
    SELLER_METRICS,
    USERS,
)
from .metrics import bump, day_of
from .model import SellerBuyer, SellerMetrics, buyer_key

if TYPE_CHECKING:
    from .._core import Core, Unit
    from ..storage.base import RecordKind, Tx

__all__ = ["Change", "changes_for", "make_projector", "store"]

#: ``(seller_id, day, counter, delta)``.
Change = tuple[str, str, str, int]

_EVENTS: Final = frozenset({
    "order.completed", "order.dispute_resolved", "order.cancelled", "order.delivered",
    "review.published", "message.sent",
})


def _completed(tx: Tx, e: Event, d: Mapping[str, Any], seller: str, day: str,
               out: list[Change]) -> None:
    order = tx.get(ORDERS, d["order_id"])
    earned = 0
    if order is not None:
        earned = order.seller_net.amount
    out += [(seller, day, "completed", 1), (seller, day, "earnings", earned)]
    _served(tx, e, seller, d["buyer_id"], day, out)


def _served(tx: Tx, e: Event, seller: str, buyer: str, day: str, out: list[Change]) -> None:
    """One more completed order for ``buyer``: keeps distinct buyers countable by window."""
    key = buyer_key(seller, buyer)
    rec = tx.get(SELLER_BUYERS, key)
    if rec is None:
        tx.add(SELLER_BUYERS, SellerBuyer(key, seller, buyer, 1, e.at, day))
        out += [(seller, day, "buyers", 1), (seller, day, "buyers_total", 1)]
        return
    if rec.last_day != day:
        out += [(seller, rec.last_day, "buyers", -1), (seller, day, "buyers", 1)]
    tx.save(SELLER_BUYERS, attrs.evolve(rec, orders=rec.orders + 1, last_day=day,
                                        version=rec.version + 1), rec.version)


def changes_for(tx: Tx, events: Iterable[Event], *, response_hours: int) -> list[Change]:
    """The counter changes ``events`` make (and the buyer records they touch)."""
    out: list[Change] = []
    for e in events:
        if e.name not in _EVENTS:
            continue
        d = e.data
        day = day_of(e.at)
        if e.name == "order.completed":
            _completed(tx, e, d, d["seller_id"], day, out)
        elif e.name == "order.dispute_resolved":
            seller, to = d["seller_id"], d.get("to")
            if to == "completed":
                _completed(tx, e, d, seller, day, out)
            elif to == "settled":
                out += [(seller, day, "settled", 1), (seller, day, "disputes_lost", 1),
                        (seller, day, "earnings", int(d.get("seller_net", 0)))]
            elif to == "cancelled":
                out += [(seller, day, "cancelled", 1), (seller, day, "disputes_lost", 1)]
        elif e.name == "order.cancelled":
            if d.get("from") == "pending_payment":
                continue  # never paid: nothing the seller did
            out.append((d["seller_id"], day, "cancelled", 1))
            if d.get("transition") == "cancel_late":
                out.append((d["seller_id"], day, "first_deliveries", 1))
        elif e.name == "order.delivered":
            if d.get("delivery") != 1:
                continue  # only the first delivery decides "on time"
            order = tx.get(ORDERS, d["order_id"])
            on_time = order is not None and order.delivered_on_time is True
            out += [(d["seller_id"], day, "first_deliveries", 1),
                    (d["seller_id"], day, "on_time", int(on_time))]
        elif e.name == "review.published":
            if d.get("by_role") != "buyer":
                continue
            out += [(d["subject_id"], day, "ratings", 1),
                    (d["subject_id"], day, "rating_total", int(d["rating"]))]
        else:  # message.sent
            _message(tx, e, d, response_hours, out)
    return out


def _message(tx: Tx, e: Event, d: Mapping[str, Any], response_hours: int,
             out: list[Change]) -> None:
    role, seller = d.get("sender_role"), d.get("seller_id")
    if not seller:
        return
    if role == "buyer":
        started = d.get("wait_started")
        if started is None:
            # The buyer's message started a wait if the conversation waits since it.
            conv = tx.get(CONVERSATIONS, d["conversation_id"])
            started = conv is not None and conv.buyer_waiting_since == e.at
        if started:
            out.append((seller, day_of(e.at), "waits", 1))
    elif role == "seller" and "response_seconds" in d:
        seconds = int(d["response_seconds"])
        if seconds <= response_hours * 3600:
            # Counted on the day the wait started, like the wait itself.
            out.append((seller, day_of(e.at - dt.timedelta(seconds=seconds)), "answered", 1))


def store(tx: Tx, changes: Iterable[Change], *, now: dt.datetime, history_days: int) -> None:
    """Apply counter changes: one read and one write per seller touched."""
    by_seller: dict[str, list[tuple[str, str, int]]] = {}
    for seller, day, name, delta in changes:
        by_seller.setdefault(seller, []).append((day, name, delta))
    for seller, rows in by_seller.items():
        found = tx.get(SELLER_METRICS, seller)
        if found is None:
            user = tx.get(USERS, seller)
            base = SellerMetrics(seller, user.registered_at if user else now, version=0)
            tx.add(SELLER_METRICS, bump(base, rows, now=now, history_days=history_days))
        else:
            tx.save(SELLER_METRICS, bump(found, rows, now=now, history_days=history_days),
                    found.version)


def _reads(events: Iterable[Event]) -> list[tuple[RecordKind[Any], str]]:
    """The records :func:`changes_for` and :func:`store` will read for order events."""
    wanted: list[tuple[RecordKind[Any], str]] = []
    for e in events:
        seller = e.data.get("seller_id") if e.name.startswith("order.") else None
        if seller:
            wanted += [(SELLER_METRICS, seller), (USERS, seller)]
            if e.name in ("order.completed", "order.dispute_resolved"):
                wanted.append((SELLER_BUYERS, buyer_key(seller, e.data["buyer_id"])))
    return wanted


#: The order events that release escrow to the seller: :func:`~.privileges.clearance_days`
#: reads the seller's level then, and this projector the seller-buyer pair.
_RELEASES: Final = frozenset({"order.completed", "order.dispute_resolved"})

#: What an order command reads through this projector (the events it counts: the
#: seller's metrics, and the user for a first record; completion: the seller-buyer pair)
#: and :func:`~.privileges.clearance_days` (on release: the seller's level), by the
#: order's columns that make their keys, and the events of the commands that read them:
#: registered in ``core.read_with``, so they are read with the order.
ORDER_READS: Final = (
    (SELLER_METRICS, ("seller_id",), _EVENTS), (USERS, ("seller_id",), _EVENTS),
    (SELLER_LEVELS, ("seller_id",), _RELEASES),
    (SELLER_BUYERS, ("seller_id", "buyer_id"), _RELEASES),
)


def make_projector(core: Core) -> Callable[[Unit, list[Event]], None]:
    """The projector for ``core.projectors``, reading the ladder from ``core.config``."""
    ladder = core.config.levels

    def project(u: Unit, events: list[Event]) -> None:
        if not any(e.name in _EVENTS for e in events):
            return
        u.prefetch(*_reads(events))
        found = changes_for(u.tx, events, response_hours=ladder.response_hours)
        if found:
            store(u.tx, found, now=u.now, history_days=ladder.history_days)

    return project
