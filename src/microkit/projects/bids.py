"""Bid commands of ``market.projects``: bid, edit, withdraw, shortlist, reject, accept,
and talking to a bidder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from .._checks import actor_checked, check_cursor, text
from .._core import Core, Unit, new_id
from ..actors import Actor
from ..catalog.pricing import Quote
from ..config import MarketConfig
from ..errors import (
    Conflict,
    InvalidTransition,
    LimitExceeded,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from ..levels.privileges import level_of
from ..messaging.model import Conversation, Message
from ..money import Money
from ..orders.model import Order, OrderLine
from ..storage.base import Tx
from ..storage.records import BIDS, CONVERSATIONS, PROJECTS, USERS
from . import search as ps
from ._common import check_days, check_money, evolve, open_conversation, user_only
from ._steps import close_bids, move_project, reindex
from .lifecycle import BID, PROJECT, Role
from .model import Bid

if TYPE_CHECKING:
    from ..orders.facade import OrdersFacade

__all__ = ["BidCommands", "bid_limit", "bid_role", "normalize_skills",
           "project_conversation_id"]

#: Most skills one project may ask for.
MAX_SKILLS: Final = 20
#: Longest proposal, in characters.
MAX_PROPOSAL: Final = 10_000


def normalize_skills(skills: object) -> tuple[str, ...]:
    """Skills as stored: normalized, de-duplicated, in the order given. Raises
    ValidationError."""
    if isinstance(skills, str) or not isinstance(skills, Sequence) or len(skills) > MAX_SKILLS:
        raise ValidationError(f"skills: expected a list of at most {MAX_SKILLS} skills, got"
                              f" {skills!r:.80}", field="skills", value=skills)
    out: list[str] = []
    for skill in skills:
        name = ps.normalize_skill(skill) if isinstance(skill, str) else ""
        if not 1 <= len(name) <= 50:
            raise ValidationError(f"skills: expected skills of 1..50 characters, got"
                                  f" {skill!r:.80}", field="skills", value=skill)
        if name not in out:
            out.append(name)
    return tuple(out)


def project_conversation_id(project_id: str, seller_id: str) -> str:
    """The conversation between a project's buyer and one bidder."""
    return f"project:{project_id}:{seller_id}"


def bid_role(bid: Bid, by: Actor) -> Role | None:
    """How ``by`` stands to ``bid``: the project's buyer, the bidding seller, staff."""
    if by.kind == "staff":
        return "staff"
    if by.kind == "system":
        return "system"
    if by.id == bid.buyer_id:
        return "buyer"
    return "seller" if by.id == bid.seller_id else None


def bid_limit(tx: Tx, config: MarketConfig, seller_id: str) -> int | None:
    """Bids the seller may send this month: their level's ``max_bids_per_month`` when the
    ladder sets one, else ``config.max_bids_per_month`` (None: no limit)."""
    own = level_of(tx, config.levels, seller_id).privileges.max_bids_per_month
    return config.max_bids_per_month if own is None else own


@actor_checked
class BidCommands:
    """The bid half of :class:`~microkit.projects.facade.ProjectsFacade`."""

    _core: Core
    _orders: OrdersFacade

    def _check_bid(self, amount: object, days: object, proposal: object
                   ) -> tuple[Money, int, str]:
        return (check_money("amount", amount, self._core.config), check_days("days", days),
                text("proposal", proposal, max_len=MAX_PROPOSAL))

    def bid(self, project_id: str, *, by: Actor, amount: Money, days: int, proposal: str
            ) -> Bid:
        """A seller bids on an open project: one live bid per seller per project.

        Raises:
            PermissionDenied: not a user, or the project's own buyer.
            NotFound: unknown project or user.
            InvalidTransition: the project is not open (closed, awarded, cancelled, …).
            Conflict: the seller has a live bid on it already, or the buyer rejected theirs.
            LimitExceeded: ``max_bids_per_month`` reached (the level's, else the market's).
            ValidationError: empty proposal, bad days; InvalidAmount / CurrencyMismatch /
                PriceOutOfRange for an amount off the market's price policy.
        """
        user_only(by, "bid")
        money, days, proposal = self._check_bid(amount, days, proposal)
        core = self._core

        def command(u: Unit) -> Bid:
            project = u.need(PROJECTS, project_id, "project")
            if project.buyer_id == by.id:
                raise PermissionDenied(f"{by} may not bid on their own project {project_id}",
                                       actor=str(by), action="bid")
            if project.state != "open":
                allowed = PROJECT.allowed_from(project.state)
                raise InvalidTransition(
                    f"cannot bid on a project that is {project.state!r}; bids need 'open'",
                    transition="bid", state=project.state, allowed=allowed,
                )
            u.need(USERS, by.id, "user")
            for mine in u.tx.find(BIDS, {"project_id": project_id, "seller_id": by.id}):
                if mine.is_live or mine.state == "rejected":
                    raise Conflict(
                        f"{by} has a {mine.state} bid {mine.id} on project {project_id};"
                        " edit or withdraw it instead" if mine.is_live else
                        f"the buyer rejected {by}'s bid {mine.id} on project {project_id}",
                        key=mine.id,
                    )
            month = f"{u.now:%Y-%m}"
            cap = bid_limit(u.tx, core.config, by.id)
            if cap is not None:
                sent = len(u.tx.find(BIDS, {"seller_id": by.id, "month": month},
                                     limit=cap + 1))
                if sent >= cap:
                    raise LimitExceeded(
                        f"max_bids_per_month: {by} sent {sent} of {cap} bids in {month}",
                        limit="max_bids_per_month", value=cap,
                    )
            bid = Bid(id=new_id("b"), project_id=project_id, seller_id=by.id,
                      buyer_id=project.buyer_id, amount=money, days=days, proposal=proposal,
                      state="live", created_at=u.now, updated_at=u.now, month=month)
            u.tx.add(BIDS, bid)
            new = evolve(project, u.now, live_bids=project.live_bids + 1,
                         total_bids=project.total_bids + 1)
            u.tx.save(PROJECTS, new, project.version)
            reindex(u, new)
            u.emit("bid.placed", f"project:{project_id}", str(by), {
                "project_id": project_id, "bid_id": bid.id, "seller_id": by.id,
                "buyer_id": project.buyer_id, "amount": money.amount, "days": days,
            })
            return bid

        return core.run(command)

    def _bid_move(self, bid_id: str, by: Actor, name: str, **changes: object) -> Bid:
        def command(u: Unit) -> Bid:
            bid = u.need(BIDS, bid_id, "bid")
            move = BID.check(name, bid.state, bid_role(bid, by), actor=str(by), subject=bid_id)
            new = evolve(bid, u.now, state=move.to, **changes)
            u.tx.save(BIDS, new, bid.version)
            data: dict[str, object] = {"project_id": bid.project_id, "bid_id": bid_id,
                                       "seller_id": bid.seller_id, "buyer_id": bid.buyer_id,
                                       "from": bid.state, "to": move.to}
            if name == "edit":
                data.update(amount=new.amount.amount, days=new.days, edits=new.edits)
            if changes.get("reason"):
                data["reason"] = changes["reason"]
            if bid.is_live and not new.is_live:
                project = u.need(PROJECTS, bid.project_id, "project")
                fewer = evolve(project, u.now, live_bids=max(0, project.live_bids - 1))
                u.tx.save(PROJECTS, fewer, project.version)
                reindex(u, fewer)
            u.emit(move.event, f"project:{bid.project_id}", str(by), data)
            return new

        return self._core.run(command)

    def edit_bid(self, bid_id: str, *, by: Actor, amount: Money | None = None,
                 days: int | None = None, proposal: str | None = None) -> Bid:
        """The seller changes their bid until the buyer decides (a shortlisted bid goes
        back to ``live``). Raises NotFound, PermissionDenied, InvalidTransition,
        ValidationError (as :meth:`bid`)."""
        current = self.get_bid(bid_id, by=by)
        money, n, words = self._check_bid(
            current.amount if amount is None else amount,
            current.days if days is None else days,
            current.proposal if proposal is None else proposal,
        )
        return self._bid_move(bid_id, by, "edit", amount=money, days=n, proposal=words,
                              edits=current.edits + 1)

    def withdraw_bid(self, bid_id: str, *, by: Actor) -> Bid:
        """The seller takes a bid back. Raises NotFound, PermissionDenied,
        InvalidTransition."""
        return self._bid_move(bid_id, by, "withdraw")

    def shortlist(self, bid_id: str, *, by: Actor) -> Bid:
        """The buyer shortlists a bid. Raises NotFound, PermissionDenied, InvalidTransition."""
        return self._bid_move(bid_id, by, "shortlist")

    def unshortlist(self, bid_id: str, *, by: Actor) -> Bid:
        """The buyer takes a bid off the shortlist. Raises as :meth:`shortlist`."""
        return self._bid_move(bid_id, by, "unshortlist")

    def reject_bid(self, bid_id: str, *, by: Actor, reason: str = "") -> Bid:
        """The buyer turns a bid down; the seller is told (``bid.rejected``).
        Raises NotFound, PermissionDenied, InvalidTransition, ValidationError."""
        why = text("reason", reason, max_len=2000, required=False)
        return self._bid_move(bid_id, by, "reject", reason=why or None)

    def accept_bid(self, bid_id: str, *, by: Actor) -> Order:
        """The buyer accepts a bid: an order in ``pending_payment`` with the bid's amount
        and days (commission as for services), the project ``awarded``, every other live
        bid closed and its seller told (``bid.closed``).

        The order's ``source`` is ``"project:{project_id}/bid:{bid_id}"``.

        Raises:
            NotFound: unknown bid.  PermissionDenied: not the project's buyer.
            InvalidTransition: the bid is withdrawn, rejected or closed, or the project
                was awarded already (a second accept) or cancelled.
        """
        orders = self._orders

        def command(u: Unit) -> Order:
            bid = u.need(BIDS, bid_id, "bid")
            move = BID.check("accept", bid.state, bid_role(bid, by), actor=str(by),
                             subject=bid_id)
            project = u.need(PROJECTS, bid.project_id, "project")
            PROJECT.check("award", project.state, "buyer", actor=str(by), subject=project.id)
            quote = Quote((OrderLine("bid", project.title, bid.amount, 1, bid.days),),
                          bid.days, self._core.config)
            order = orders._create(
                u, buyer_id=project.buyer_id, seller_id=bid.seller_id, title=project.title,
                quote=quote, source=f"project:{project.id}/bid:{bid.id}",
            )
            u.emit(move.event, f"project:{project.id}", str(by), {
                "project_id": project.id, "bid_id": bid.id, "seller_id": bid.seller_id,
                "buyer_id": bid.buyer_id, "order_id": order.id, "amount": bid.amount.amount,
                "days": bid.days,
            })
            # Saved with the bids it closes, in key order (see close_bids).
            close_bids(u, project, by, reason="another bid was accepted",
                       accepted=evolve(bid, u.now, state=move.to, order_id=order.id))
            move_project(u, project, by, "award", awarded_bid_id=bid.id, order_id=order.id,
                         live_bids=0)
            return order

        return self._core.run(command)

    # -- reading and talking -------------------------------------------------------------

    def get_bid(self, bid_id: str, *, by: Actor) -> Bid:
        """A bid, for its seller, the project's buyer or staff. Raises NotFound,
        PermissionDenied."""
        bid = self._core.query(lambda tx: tx.get(BIDS, bid_id))
        if bid is None:
            raise NotFound("bid", bid_id)
        if bid_role(bid, by) is None:
            raise PermissionDenied(f"{by} may not see bid {bid_id}", actor=str(by),
                                   action="get_bid")
        return bid

    def bids(self, project_id: str, *, by: Actor, live_only: bool = False) -> list[Bid]:
        """A project's bids, oldest first: all of them for its buyer and staff, a seller's
        own for a seller. Raises NotFound."""
        def read(tx: Tx) -> list[Bid]:
            project = tx.get(PROJECTS, project_id)
            if project is None:
                raise NotFound("project", project_id)
            where: dict[str, str | int | None] = {"project_id": project_id}
            if by.kind == "user" and by.id != project.buyer_id:
                where["seller_id"] = by.id
            elif by.kind not in ("user", "staff"):
                return []
            found = tx.find(BIDS, where, limit=10_000)
            return [b for b in found if b.is_live or not live_only]

        rows = self._core.query(read)
        return sorted(rows, key=lambda b: (b.created_at, b.id))

    def my_bids(self, *, by: Actor, limit: int = 100, after: str | None = None) -> list[Bid]:
        """The seller's bids, by id (page on with ``after=`` the last id seen).

        Raises: PermissionDenied (not a user), ValidationError (a bad limit, an ``after``
        that is not a str).
        """
        user_only(by, "list bids")
        ps.check_limit(limit)
        check_cursor("after", after)
        return self._core.query(lambda tx: tx.find(BIDS, {"seller_id": by.id}, after=after,
                                                   limit=limit))

    def conversation(self, bid_id: str, *, by: Actor) -> Conversation:
        """The conversation between the project's buyer and the bidder, opened by the
        buyer on first use (``"project:{project_id}:{seller_id}"``). Both then write with
        ``market.messages.send``; the contact filter applies there.

        Raises: NotFound, PermissionDenied (only the buyer opens it; the seller may only
        read one that exists).
        """
        def command(u: Unit) -> Conversation:
            bid = u.need(BIDS, bid_id, "bid")
            role = bid_role(bid, by)
            conv_id = project_conversation_id(bid.project_id, bid.seller_id)
            if role != "buyer":
                found = u.tx.get(CONVERSATIONS, conv_id) if role is not None else None
                if found is None:
                    raise PermissionDenied(f"{by} may not open a conversation about bid"
                                           f" {bid_id}: the buyer does", actor=str(by),
                                           action="conversation")
                return found
            return open_conversation(u, conv_id, subject_id=bid.project_id,
                                     buyer_id=bid.buyer_id, seller_id=bid.seller_id)

        return self._core.run(command)

    def message_bidder(self, bid_id: str, *, by: Actor, body: str,
                       attachments: Sequence[str] = ()) -> Message:
        """The buyer writes to a bidder: :meth:`conversation`, then
        ``market.messages.send`` in it (two commands; the conversation stays open).

        Raises: as :meth:`conversation` and ``market.messages.send``.
        """
        from ..messaging.facade import MessagesFacade

        conv = self.conversation(bid_id, by=by)
        return MessagesFacade(self._core).send(conv.id, by=by, body=body,
                                               attachments=attachments)
