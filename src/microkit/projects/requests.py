"""``market.requests``: buyers ask for a service that does not exist yet.

A buyer request is a light post (text, category, optional budget). Sellers
answer once each, with one of their approved services or a custom offer; each
answer opens a conversation between the two (``"request:{request_id}:{seller_id}"``)
where they talk with ``market.messages.send`` and where further offers may be sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from .._checks import actor_checked, check_cursor
from .._checks import text as text_
from .._core import Core, Unit, new_id
from ..actors import Actor
from ..catalog._checks import Seen
from ..catalog.model import UpgradeSpec
from ..errors import Conflict, InvalidTransition, NotFound, PermissionDenied, ValidationError
from ..money import Money
from ..storage.base import Tx
from ..storage.records import BUYER_REQUESTS, REQUEST_RESPONSES, SERVICES, USERS
from . import search as ps
from ._common import check_money, evolve, open_conversation, user_only
from .lifecycle import REQUEST, Role
from .model import BuyerRequest, OfferUpgrade, Page, RequestResponse
from .offers import OffersFacade, create_offer

__all__ = ["RequestsFacade", "request_conversation_id"]

#: An offer's checked terms: description, price, days, upgrades, validity days.
OfferTerms = tuple[str, Money, int, tuple[OfferUpgrade, ...], int]
#: Longest request text, in characters.
MAX_REQUEST: Final = 5000


def request_conversation_id(request_id: str, seller_id: str) -> str:
    """The conversation between a request's buyer and one responding seller."""
    return f"request:{request_id}:{seller_id}"


@actor_checked
class RequestsFacade:
    """Buyer requests and sellers' responses. Reached as ``market.requests``.

    .. versionadded:: 0.1
    """

    def __init__(self, core: Core, offers: OffersFacade) -> None:
        self._core = core
        self._offers = offers

    def post(self, *, by: Actor, text: str, category: str, budget: Money | None = None
             ) -> BuyerRequest:
        """The buyer describes a service they want. ``open`` at once.

        Raises:
            PermissionDenied: not a user.  NotFound: unknown user or category.
            ValidationError: empty or long text, an inactive category; InvalidAmount /
                CurrencyMismatch / PriceOutOfRange for a budget off the price policy.
        """
        user_only(by, "post requests")
        words = text_("text", text, max_len=MAX_REQUEST)
        money = None if budget is None else check_money("budget", budget, self._core.config)

        def command(u: Unit) -> BuyerRequest:
            u.need(USERS, by.id, "user")
            Seen().category(u.tx, category, field="category", new=True)
            req = BuyerRequest(id=new_id("r"), buyer_id=by.id, text=words, category=category,
                               budget=money, state="open", created_at=u.now, updated_at=u.now)
            u.tx.add(BUYER_REQUESTS, req)
            u.emit("request.posted", f"request:{req.id}", str(by), {
                "request_id": req.id, "buyer_id": by.id, "category": category,
                "budget": None if money is None else money.amount,
            })
            return req

        return self._core.run(command)

    def close(self, request_id: str, *, by: Actor) -> BuyerRequest:
        """The buyer (or staff) stops taking responses. Raises NotFound, PermissionDenied,
        InvalidTransition."""
        def command(u: Unit) -> BuyerRequest:
            req = u.need(BUYER_REQUESTS, request_id, "request")
            role: Role | None = "staff" if by.kind == "staff" else (
                "buyer" if by.kind == "user" and by.id == req.buyer_id else None)
            move = REQUEST.check("close", req.state, role, actor=str(by), subject=request_id)
            new = evolve(req, u.now, state=move.to)
            u.tx.save(BUYER_REQUESTS, new, req.version)
            u.emit(move.event, f"request:{request_id}", str(by), {
                "request_id": request_id, "buyer_id": req.buyer_id,
            })
            return new

        return self._core.run(command)

    def get(self, request_id: str) -> BuyerRequest:
        """A request by id. Raises NotFound."""
        return self._core.get(BUYER_REQUESTS, request_id, "request")

    def browse(self, *, category: str | None = None, cursor: str | None = None,
               limit: int = 20) -> Page[BuyerRequest]:
        """Open requests for sellers, newest first, optionally of one category.

        Raises: ValidationError (bad limit, a category or cursor that is not a str).
        """
        ps.check_limit(limit)
        check_cursor("cursor", cursor)
        if category is not None and not isinstance(category, str):
            raise ValidationError(f"category: expected a slug or None, got {category!r:.80}",
                                  field="category", value=category)
        where: dict[str, str | int | None] = {"state": "open"}
        if category is not None:
            where["category"] = category

        def read(tx: Tx) -> list[BuyerRequest]:
            return tx.find(BUYER_REQUESTS, where, order_by="created", descending=True,
                           after=cursor, limit=limit + 1)

        rows = self._core.query(read)
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1] if more and rows else None
        return Page(tuple(rows), f"{last.created_at.isoformat()}|{last.id}" if last else None)

    def mine(self, *, by: Actor, limit: int = 100, after: str | None = None
             ) -> list[BuyerRequest]:
        """The buyer's own requests, by id (page on with ``after=`` the last id seen).

        Raises: PermissionDenied (not a user), ValidationError (a bad limit, an ``after``
        that is not a str).
        """
        user_only(by, "list requests")
        ps.check_limit(limit)
        check_cursor("after", after)
        return self._core.query(lambda tx: tx.find(
            BUYER_REQUESTS, {"buyer_id": by.id}, after=after, limit=limit))

    def responses(self, request_id: str, *, by: Actor) -> list[RequestResponse]:
        """Responses to a request: all for its buyer and staff, a seller's own otherwise.
        Raises NotFound."""
        def read(tx: Tx) -> list[RequestResponse]:
            req = tx.get(BUYER_REQUESTS, request_id)
            if req is None:
                raise NotFound("request", request_id)
            found = tx.find(REQUEST_RESPONSES, {"request_id": request_id}, limit=10_000)
            if by.kind == "staff" or (by.kind == "user" and by.id == req.buyer_id):
                return found
            return [r for r in found if by.kind == "user" and r.seller_id == by.id]

        return sorted(self._core.query(read), key=lambda r: (r.created_at, r.id))

    def _respond(self, request_id: str, by: Actor, *, service_id: str | None = None,
                 offer_terms: OfferTerms | None = None,
                 ) -> RequestResponse:
        user_only(by, "respond to requests")
        core = self._core

        def command(u: Unit) -> RequestResponse:
            req = u.need(BUYER_REQUESTS, request_id, "request")
            if req.buyer_id == by.id:
                raise PermissionDenied(f"{by} may not respond to their own request",
                                       actor=str(by), action="respond")
            if req.state != "open":
                raise InvalidTransition(
                    f"cannot respond to a request that is {req.state!r}",
                    transition="respond", state=req.state,
                    allowed=REQUEST.allowed_from(req.state),
                )
            u.need(USERS, by.id, "user")
            key = f"{request_id}:{by.id}"
            if u.tx.get(REQUEST_RESPONSES, key) is not None:
                raise Conflict(f"{by} responded to request {request_id} already", key=key)
            if service_id is not None:
                service = u.tx.get(SERVICES, service_id)
                if service is None or service.state != "approved" or service.seller_id != by.id:
                    raise NotFound("service", service_id)
            conv_id = request_conversation_id(request_id, by.id)
            open_conversation(u, conv_id, subject_id=request_id, buyer_id=req.buyer_id,
                              seller_id=by.id)
            offer_id = None
            if offer_terms is not None:
                words, price, days, extras, validity = offer_terms
                offer = create_offer(
                    u, core, conversation_id=conv_id, seller_id=by.id, buyer_id=req.buyer_id,
                    description=words, price=price, days=days,
                    upgrades=extras, validity_days=validity, request_id=request_id,
                )
                offer_id = offer.id
            response = RequestResponse(key, request_id, by.id, req.buyer_id, conv_id, u.now,
                                       service_id=service_id, offer_id=offer_id)
            u.tx.add(REQUEST_RESPONSES, response)
            u.tx.save(BUYER_REQUESTS, evolve(req, u.now, responses=req.responses + 1),
                      req.version)
            u.emit("request.responded", f"request:{request_id}", str(by), {
                "request_id": request_id, "buyer_id": req.buyer_id, "seller_id": by.id,
                "service_id": service_id, "offer_id": offer_id, "conversation_id": conv_id,
            })
            return response

        return core.run(command)

    def respond_with_service(self, request_id: str, *, by: Actor, service_id: str
                             ) -> RequestResponse:
        """A seller answers with one of their approved services (once per request).

        Raises:
            NotFound: unknown request, or not the seller's approved service.
            PermissionDenied: not a user, or the request's own buyer.
            InvalidTransition: the request is closed.
            Conflict: the seller responded already.
            ValidationError: a ``service_id`` that is not a str.
        """
        user_only(by, "respond to requests")
        if not isinstance(service_id, str):
            raise ValidationError(f"service_id: expected the id of one of your approved"
                                  f" services (a str), got {service_id!r:.80}",
                                  field="service_id", value=service_id)
        return self._respond(request_id, by, service_id=service_id)

    def respond_with_offer(
        self, request_id: str, *, by: Actor, description: str, price: Money, days: int,
        upgrades: Sequence[UpgradeSpec] = (), expires_in_days: int | None = None,
    ) -> RequestResponse:
        """A seller answers with a custom offer (see ``market.offers.send``); the buyer
        accepts it with ``market.offers.accept``.

        Raises: as :meth:`respond_with_service`, and ValidationError for the offer's terms.
        """
        user_only(by, "respond to requests")
        terms = self._offers.check_terms(description, price, days, upgrades, expires_in_days)
        return self._respond(request_id, by, offer_terms=terms)

