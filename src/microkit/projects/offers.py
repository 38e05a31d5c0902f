"""``market.offers``: custom offers a seller sends one buyer from a conversation.

An offer has a description, a price, days and optional upgrades; the buyer
accepts it (with any of its upgrades) before it expires, which places an
escrowed order priced like a service's (same commission split). Expiry is
checked on accept from the due instant, and ``market.tick`` marks the offer
``expired`` (``offer.expired``) so both sides can be told.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Final, Literal

from .._checks import actor_checked, check_cursor, text
from .._core import Core, Unit, new_id
from ..actors import Actor
from ..catalog.model import UpgradeSpec
from ..catalog.pricing import Quote, chosen_upgrades
from ..errors import InvalidTransition, NotFound, PermissionDenied, ValidationError
from ..money import Money
from ..orders.model import Order, OrderLine
from ..storage.base import Timer, Tx
from ..storage.records import CONVERSATIONS, OFFERS
from ._common import MAX_TEXT, check_days, check_money, check_upgrades, evolve, user_only
from .lifecycle import OFFER, Lifecycle, Role
from .model import Offer, OfferUpgrade

if TYPE_CHECKING:
    from ..orders.facade import OrdersFacade

__all__ = ["OffersFacade", "create_offer", "offer_role"]

#: Longest an offer may stay open, in days.
MAX_VALIDITY_DAYS: Final = 90


def offer_role(offer: Offer, by: Actor) -> Role | None:
    if by.kind in ("staff", "system"):
        return by.kind
    if by.id == offer.buyer_id:
        return "buyer"
    return "seller" if by.id == offer.seller_id else None


def _title(description: str) -> str:
    first = description.strip().splitlines()[0].strip()
    return first if len(first) <= 120 else first[:119] + "…"


def _picked_upgrades(upgrades: Sequence[str] | Mapping[str, int]) -> tuple[str, ...]:
    """The upgrade ids a buyer picks on accepting an offer, read as ``orders.place`` reads
    them (:func:`~microkit.catalog.pricing.chosen_upgrades`), each at most once: an
    offer's upgrade has no quantity. Raises ValidationError."""
    chosen = chosen_upgrades(upgrades)
    for quantity in chosen.values():
        if type(quantity) is not int or quantity != 1:
            raise ValidationError(f"upgrades: expected distinct upgrade ids, each taken once,"
                                  f" got {upgrades!r:.80}", field="upgrades", value=upgrades)
    return tuple(chosen)


def create_offer(
    u: Unit, core: Core, *, conversation_id: str, seller_id: str, buyer_id: str,
    description: str, price: Money, days: int, upgrades: tuple[OfferUpgrade, ...],
    validity_days: int, request_id: str | None = None,
) -> Offer:
    """Add a pending offer inside ``u`` with its expiry timer and ``offer.sent``."""
    offer = Offer(
        id=new_id("f"), conversation_id=conversation_id, seller_id=seller_id,
        buyer_id=buyer_id, description=description, price=price, days=days,
        upgrades=upgrades, state="pending", created_at=u.now,
        expires_at=u.now + dt.timedelta(days=validity_days),
        updated_at=u.now, request_id=request_id,
    )
    u.tx.add(OFFERS, offer)
    u.tx.schedule(Timer(f"offer:{offer.id}:expire", f"offer:{offer.id}", "expire_offer",
                        offer.expires_at))
    u.emit("offer.sent", f"offer:{offer.id}", f"user:{seller_id}", {
        "offer_id": offer.id, "conversation_id": conversation_id, "seller_id": seller_id,
        "buyer_id": buyer_id, "price": price.amount, "days": days,
        "expires_at": offer.expires_at.isoformat(), "request_id": request_id,
    })
    return offer


@actor_checked
class OffersFacade:
    """Custom offers. Reached as ``market.offers``.

    .. versionadded:: 0.1
    """

    def __init__(self, core: Core, orders: OrdersFacade) -> None:
        self._core = core
        self._orders = orders

    @property
    def lifecycle(self) -> Lifecycle:
        """The offer table (:data:`~microkit.projects.lifecycle.OFFER`)."""
        return OFFER

    def check_terms(
        self, description: object, price: object, days: object,
        upgrades: Sequence[UpgradeSpec], expires_in_days: object,
    ) -> tuple[str, Money, int, tuple[OfferUpgrade, ...], int]:
        """Validated offer terms (also used by ``market.requests``)."""
        config = self._core.config
        validity = config.offer_validity_days if expires_in_days is None else expires_in_days
        if type(validity) is not int or not 1 <= validity <= MAX_VALIDITY_DAYS:
            raise ValidationError(f"expires_in_days: expected 1..{MAX_VALIDITY_DAYS} days,"
                                  f" got {validity!r}", field="expires_in_days", value=validity)
        return (text("description", description, max_len=MAX_TEXT),
                check_money("price", price, config), check_days("days", days),
                check_upgrades(upgrades, config), validity)

    def send(
        self,
        conversation_id: str,
        *,
        by: Actor,
        description: str,
        price: Money,
        days: int,
        upgrades: Sequence[UpgradeSpec] = (),
        expires_in_days: int | None = None,
    ) -> Offer:
        """The seller of a conversation sends its buyer a one-off offer.

        Any conversation where ``by`` is the seller works: a buyer's inquiry about a
        service, a project conversation with a bidder, a buyer request's, an order's.

        Args:
            upgrades: paid extras the buyer may add on accepting (ids ``u1``, ``u2``, …).
            expires_in_days: days it stays open (default ``offer_validity_days``).

        Raises:
            NotFound: unknown conversation.  PermissionDenied: not its seller.
            ValidationError: empty description, bad days, upgrades or expiry;
                InvalidAmount / CurrencyMismatch / PriceOutOfRange for prices.
        """
        user_only(by, "send offers")
        words, money, n, extras, validity = self.check_terms(description, price, days,
                                                             upgrades, expires_in_days)
        core = self._core

        def command(u: Unit) -> Offer:
            conv = u.need(CONVERSATIONS, conversation_id, "conversation")
            if conv.seller_id != by.id:
                raise PermissionDenied(f"{by} is not the seller of conversation"
                                       f" {conversation_id}", actor=str(by), action="send")
            request_id = None
            if conversation_id.startswith("request:"):
                request_id = conversation_id.split(":")[1]
            return create_offer(u, core, conversation_id=conversation_id, seller_id=by.id,
                                buyer_id=conv.buyer_id, description=words, price=money,
                                days=n, upgrades=extras, validity_days=validity,
                                request_id=request_id)

        return core.run(command)

    def _move(self, offer_id: str, by: Actor, name: str, reason: str | None = None) -> Offer:
        def command(u: Unit) -> Offer:
            offer = u.need(OFFERS, offer_id, "offer")
            return self._move_in(u, offer, by, name, reason=reason)

        return self._core.run(command)

    @staticmethod
    def _move_in(u: Unit, offer: Offer, by: Actor, name: str, *, reason: str | None = None,
                 order_id: str | None = None) -> Offer:
        move = OFFER.check(name, offer.state, offer_role(offer, by), actor=str(by),
                           subject=offer.id)
        if name == "accept" and offer.expired(u.now):
            raise InvalidTransition(
                f"cannot accept offer {offer.id}: it expired at {offer.expires_at.isoformat()}",
                transition="accept", state="expired", allowed=(),
            )
        new = evolve(offer, u.now, state=move.to, order_id=order_id or offer.order_id)
        u.tx.save(OFFERS, new, offer.version)
        data: dict[str, object] = {"offer_id": offer.id, "seller_id": offer.seller_id,
                                   "buyer_id": offer.buyer_id, "from": offer.state,
                                   "to": move.to, "conversation_id": offer.conversation_id}
        if reason:
            data["reason"] = reason
        if order_id:
            data["order_id"] = order_id
        u.emit(move.event, f"offer:{offer.id}", str(by), data)
        return new

    def accept(self, offer_id: str, *, by: Actor,
               upgrades: Sequence[str] | Mapping[str, int] = ()) -> Order:
        """The buyer accepts an offer (adding any of its upgrades by id): an order in
        ``pending_payment``, priced and split like a service's; its ``source`` is
        ``"offer:{offer_id}"``.

        Args:
            upgrades: upgrade ids, read as ``orders.place`` reads them (one str is one
                id; a mapping of id to quantity), each at most once.

        Raises:
            NotFound: unknown offer.  PermissionDenied: not its buyer.
            InvalidTransition: declined, withdrawn, accepted already, or expired
                (``state="expired"`` from the expiry instant on, even before a tick).
            ValidationError: upgrades that are not ids, an unknown or repeated upgrade id.
        """
        picked = _picked_upgrades(upgrades)
        orders, config = self._orders, self._core.config

        def command(u: Unit) -> Order:
            offer = u.need(OFFERS, offer_id, "offer")
            OFFER.check("accept", offer.state, offer_role(offer, by), actor=str(by),
                        subject=offer_id)
            lines = [OrderLine("offer", _title(offer.description), offer.price, 1, offer.days)]
            days = offer.days
            for upgrade_id in picked:
                up = offer.upgrade(upgrade_id)
                if up is None:
                    raise ValidationError(f"upgrades: offer {offer_id} has no upgrade"
                                          f" {upgrade_id!r}", field="upgrades",
                                          value=upgrade_id)
                lines.append(OrderLine(up.id, up.title, up.price, 1, up.extra_days))
                days += up.extra_days
            if offer.expired(u.now):  # before any write: a failed command changes nothing
                self._move_in(u, offer, by, "accept")
            quote = Quote(tuple(lines), max(1, days), config)
            order = orders._create(u, buyer_id=offer.buyer_id, seller_id=offer.seller_id,
                                   title=_title(offer.description), quote=quote,
                                   source=f"offer:{offer.id}")
            self._move_in(u, offer, by, "accept", order_id=order.id)
            return order

        return self._core.run(command)

    def decline(self, offer_id: str, *, by: Actor, reason: str = "") -> Offer:
        """The buyer turns an offer down. Raises NotFound, PermissionDenied,
        InvalidTransition, ValidationError."""
        return self._move(offer_id, by, "decline",
                          text("reason", reason, max_len=2000, required=False))

    def withdraw(self, offer_id: str, *, by: Actor) -> Offer:
        """The seller takes a pending offer back. Raises NotFound, PermissionDenied,
        InvalidTransition."""
        return self._move(offer_id, by, "withdraw")

    def get(self, offer_id: str, *, by: Actor) -> Offer:
        """An offer, for its buyer, its seller or staff. Raises NotFound, PermissionDenied."""
        offer = self._core.query(lambda tx: tx.get(OFFERS, offer_id))
        if offer is None:
            raise NotFound("offer", offer_id)
        if offer_role(offer, by) is None:
            raise PermissionDenied(f"{by} may not see offer {offer_id}", actor=str(by),
                                   action="get")
        return offer

    def list(self, *, by: Actor, role: Literal["buyer", "seller"],
             conversation_id: str | None = None, limit: int = 100,
             after: str | None = None) -> list[Offer]:
        """Offers the user received (``role="buyer"``) or sent, by id; optionally only
        those of one conversation. Raises PermissionDenied, ValidationError (a bad role or
        limit, an ``after`` that is not a str)."""
        user_only(by, "list offers")
        check_cursor("after", after)
        if role not in ("buyer", "seller"):
            raise ValidationError(f"role: expected 'buyer' or 'seller', got {role!r}",
                                  field="role", value=role)
        if type(limit) is not int or not 1 <= limit <= 1000:
            raise ValidationError(f"limit: expected 1..1000, got {limit!r}", field="limit",
                                  value=limit)
        where: dict[str, str | int | None] = {f"{role}_id": by.id}
        if conversation_id is not None:
            where["conversation_id"] = conversation_id

        def read(tx: Tx) -> list[Offer]:
            return tx.find(OFFERS, where, after=after, limit=limit)

        return self._core.query(read)

    def run_timer(self, u: Unit, timer: Timer) -> str:
        """An offer's expiry is due: mark it ``expired`` unless it moved on first."""
        offer = u.tx.get(OFFERS, timer.subject.partition(":")[2])
        if offer is None or offer.state != "pending":
            return "dropped"
        self._move_in(u, offer, Actor.system(), "expire")
        return "expire_offer"
