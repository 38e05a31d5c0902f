"""``market.reviews``: buyers rate completed orders, sellers reply once and rate buyers.

Publication is immediate or blind (``config.review_publication``): blind
reviews stay hidden until both sides have reviewed or the review window
ends (a timer publishes them). Aggregates (count, sum, per dimension) on
services, sellers and buyers change by one review at a time, never by a
rescan.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import attrs

from .._checks import actor_checked, check_cursor, text
from .._core import Core, Unit
from ..actors import Actor
from ..catalog.stats import record_rating
from ..errors import Conflict, InvalidTransition, NotFound, PermissionDenied, ValidationError
from ..orders.facade import Page, role_of
from ..orders.model import Order
from ..storage.base import Timer, Tx
from ..storage.records import ORDERS, RATINGS, REVIEWS
from .model import RatingSummary, Review, review_id

__all__ = ["ReviewsFacade", "publish_due"]

#: Orders in these states can be reviewed (a dispute's release completes; a split settles).
REVIEWABLE = frozenset({"completed", "settled"})


def _rating(value: object, field: str) -> int:
    if type(value) is not int or not 1 <= value <= 5:
        raise ValidationError(
            f"{field}: expected a whole number 1..5, got {value!r}", field=field, value=value
        )
    return value


def _text(value: object, field: str, *, required: bool, cap: int = 5000) -> str:
    return text(field, value, max_len=cap, required=required, strip=False)


def _add(u: Unit, key: str, review: Review) -> None:
    """Add one published review to an aggregate: O(1), no rescan."""
    found = u.tx.get(RATINGS, key)
    base = found or RatingSummary(key)
    dims = dict(base.dimensions)
    for name, value in review.dimensions.items():
        count, total = dims.get(name, (0, 0))
        dims[name] = (count + 1, total + value)
    new = attrs.evolve(base, count=base.count + 1, total=base.total + review.rating,
                       dimensions=dims, version=base.version + 1)
    if found is None:
        u.tx.add(RATINGS, attrs.evolve(new, version=1))
    else:
        u.tx.save(RATINGS, new, found.version)


def _publish(u: Unit, review: Review) -> Review:
    """Make a stored, hidden review visible and count it."""
    published = attrs.evolve(review, published=True, published_at=u.now,
                             version=review.version + 1)
    u.tx.save(REVIEWS, published, review.version)
    _count(u, published)
    return published


def _count(u: Unit, review: Review) -> None:
    """Add a review that just became visible to the aggregates of what it rates."""
    if review.by_role == "buyer":
        if review.service_id:  # orders from bids and offers have no service
            _add(u, f"service:{review.service_id}", review)
            # The catalog's copy, which search sorts and filters on (min_rating, rating).
            record_rating(u.tx, review.service_id, stars=review.rating)
        _add(u, f"seller:{review.subject_id}", review)
    else:
        _add(u, f"buyer:{review.subject_id}", review)
    u.emit("review.published", f"order:{review.order_id}", "system", {
        "review_id": review.id, "order_id": review.order_id, "by_role": review.by_role,
        "subject_id": review.subject_id, "rating": review.rating,
    })


def publish_due(core: Core, u: Unit, timer: Timer) -> str:
    """The blind review window of an order ended: publish what was written."""
    order_id = timer.subject.partition(":")[2]
    published = 0
    for role in ("buyer", "seller"):
        review = u.tx.get(REVIEWS, review_id(order_id, role))
        if review is not None and not review.published:
            _publish(u, review)
            published += 1
    return "publish_reviews" if published else "dropped"


@actor_checked
class ReviewsFacade:
    """Reviews and rating aggregates. Reached as ``market.reviews``.

    .. versionadded:: 0.1
    """

    def __init__(self, core: Core) -> None:
        self._core = core

    def rate(
        self,
        order_id: str,
        *,
        by: Actor,
        rating: int,
        dimensions: Mapping[str, int] | None = None,
        comment: str = "",
    ) -> Review:
        """The buyer reviews a completed order within ``review_window_days``.

        Args:
            rating: overall, a whole number 1..5.
            dimensions: optional 1..5 ratings named in ``config.review_dimensions``
                (communication, as described, would buy again by default).
            comment: optional text.

        Raises:
            NotFound: unknown order.
            PermissionDenied: not the order's buyer.
            InvalidTransition: the order is not completed, or the window has ended.
            ValidationError: a rating that is not an int 1..5, an unknown dimension.
            Conflict: the buyer reviewed this order already.
        """
        dims = self._dimensions(dimensions)
        return self._write(order_id, by, "buyer", _rating(rating, "rating"), dims,
                           _text(comment, "comment", required=False))

    def rate_buyer(
        self, order_id: str, *, by: Actor, rating: int, comment: str = ""
    ) -> Review:
        """The seller rates the buyer of a completed order, within the same window.

        Raises: as :meth:`rate`, for the seller.
        """
        return self._write(order_id, by, "seller", _rating(rating, "rating"), {},
                           _text(comment, "comment", required=False))

    def _dimensions(self, dimensions: Mapping[str, int] | None) -> dict[str, int]:
        if dimensions is None:
            return {}
        if not isinstance(dimensions, Mapping):
            raise ValidationError(f"dimensions: expected a mapping, got {dimensions!r:.60}",
                                  field="dimensions", value=dimensions)
        allowed = self._core.config.review_dimensions
        out: dict[str, int] = {}
        for name, value in dimensions.items():
            if name not in allowed:
                raise ValidationError(
                    f"dimensions: expected names of {list(allowed)}, got {name!r}",
                    field="dimensions", value=name,
                )
            out[name] = _rating(value, f"dimensions.{name}")
        return out

    def _write(
        self, order_id: str, by: Actor, side: str, rating: int, dims: dict[str, int],
        comment: str,
    ) -> Review:
        core = self._core

        def command(u: Unit) -> Review:
            order = u.need(ORDERS, order_id, "order")
            if role_of(order, by) != side:
                raise PermissionDenied(f"{by} is not the {side} of order {order_id}",
                                       actor=str(by), action="review")
            self._check_window(order, u.now)
            rid = review_id(order_id, side)
            if u.tx.get(REVIEWS, rid) is not None:
                raise Conflict(f"the {side} reviewed order {order_id} already", key=rid)
            subject = order.seller_id if side == "buyer" else order.buyer_id
            review = Review(rid, order_id, order.service_id, side, by.id, subject, rating,
                            dims, comment, u.now, published=False)
            u.emit("review.written", f"order:{order_id}", str(by), {
                "review_id": rid, "order_id": order_id, "by_role": side, "rating": rating,
            })
            blind = core.config.review_publication == "blind"
            other = u.tx.get(REVIEWS, review_id(order_id, "seller" if side == "buyer"
                                                else "buyer"))
            if not blind:
                review = attrs.evolve(review, published=True, published_at=u.now)
                u.tx.add(REVIEWS, review)
                _count(u, review)
                return review
            u.tx.add(REVIEWS, review)
            if other is not None and not other.published:
                _publish(u, other)
                return _publish(u, review)
            assert order.closed_at is not None
            u.tx.schedule(Timer(
                f"reviews:{order_id}:publish", f"reviews:{order_id}", "publish_reviews",
                order.closed_at + dt.timedelta(days=core.config.review_window_days),
            ))
            return review

        return core.run(command)

    def _check_window(self, order: Order, now: dt.datetime) -> None:
        if order.state not in REVIEWABLE or order.closed_at is None:
            raise InvalidTransition(
                f"cannot review order {order.id}: it is {order.state!r}, not completed",
                transition="review", state=order.state, allowed=(),
            )
        end = order.closed_at + dt.timedelta(days=self._core.config.review_window_days)
        if now > end:
            raise InvalidTransition(
                f"cannot review order {order.id}: the review window ended {end.isoformat()}",
                transition="review", state=order.state, allowed=(),
            )

    def reply(self, review_id: str, *, by: Actor, text: str) -> Review:
        """The rated side answers a published review, once.

        Raises: NotFound, PermissionDenied (not the rated user), InvalidTransition
        (not published yet), Conflict (replied already), ValidationError.
        """
        body = _text(text, "text", required=True)

        def command(u: Unit) -> Review:
            review = u.need(REVIEWS, review_id, "review")
            if by.kind != "user" or by.id != review.subject_id:
                raise PermissionDenied(f"{by} may not reply to review {review_id}",
                                       actor=str(by), action="reply")
            if not review.published:
                raise InvalidTransition(
                    f"cannot reply to review {review_id} before it is published",
                    transition="reply", state="unpublished", allowed=(),
                )
            if review.reply is not None:
                raise Conflict(f"review {review_id} has a reply already", key=review_id)
            new = attrs.evolve(review, reply=body, replied_at=u.now,
                               version=review.version + 1)
            u.tx.save(REVIEWS, new, review.version)
            u.emit("review.replied", f"order:{review.order_id}", str(by),
                   {"review_id": review_id, "order_id": review.order_id})
            return new

        return self._core.run(command)

    def get(self, review_id: str, *, by: Actor | None = None) -> Review:
        """A review; unpublished ones only for their author (and staff). Raises NotFound."""
        found = self._core.query(lambda tx: tx.get(REVIEWS, review_id))
        if found is None or not (found.published or _may_see(found, by)):
            raise NotFound("review", review_id)
        return found

    def for_service(
        self, service_id: str, *, cursor: str | None = None, limit: int = 20
    ) -> Page[Review]:
        """Published buyer reviews of a service, newest first. Raises ValidationError (a
        limit outside 1..200, a cursor that is not a str)."""
        return self._page({"service_id": service_id, "published": 1}, "buyer", cursor, limit)

    def for_user(
        self, user_id: str, *, as_role: str = "seller", cursor: str | None = None,
        limit: int = 20,
    ) -> Page[Review]:
        """Published reviews about a user: as a seller (by buyers) or as a buyer (by sellers).
        Raises ValidationError (a bad role, a limit outside 1..200, a cursor that is not a
        str)."""
        if as_role not in ("seller", "buyer"):
            raise ValidationError(f"as_role: expected 'seller' or 'buyer', got {as_role!r}",
                                  field="as_role", value=as_role)
        author = "buyer" if as_role == "seller" else "seller"
        return self._page({"subject_id": user_id, "published": 1}, author, cursor, limit)

    def _page(
        self, where: dict[str, str | int | None], author: str, cursor: str | None, limit: int
    ) -> Page[Review]:
        if type(limit) is not int or not 1 <= limit <= 200:
            raise ValidationError(f"limit: expected 1..200, got {limit!r}", field="limit",
                                  value=limit)
        check_cursor("cursor", cursor)

        def read(tx: Tx) -> tuple[list[Review], str | None]:
            out: list[Review] = []
            after = cursor
            while len(out) <= limit:
                batch = tx.find(REVIEWS, where, order_by="created", descending=True,
                                after=after, limit=limit + 1)
                out += [r for r in batch if r.by_role == author]
                if len(batch) < limit + 1:
                    break
                after = _created(batch[-1])
            more = len(out) > limit
            out = out[:limit]
            return out, (_created(out[-1]) if more and out else None)

        rows, nxt = self._core.query(read)
        return Page(tuple(rows), nxt)

    def summary(self, subject: str) -> RatingSummary:
        """The aggregate of ``"service:{id}"``, ``"seller:{user}"`` or ``"buyer:{user}"``.
        Raises ValidationError for any other subject."""
        kind = subject.partition(":")[0] if isinstance(subject, str) else None
        if kind not in ("service", "seller", "buyer"):
            raise ValidationError(
                f"subject: expected 'service:…', 'seller:…' or 'buyer:…', got {subject!r}",
                field="subject", value=subject,
            )
        found = self._core.query(lambda tx: tx.get(RATINGS, subject))
        return found or RatingSummary(subject)


def _created(review: Review) -> str:
    return f"{review.created_at.isoformat()}|{review.id}"


def _may_see(review: Review, by: Actor | None) -> bool:
    if by is None:
        return False
    return by.kind == "staff" or (by.kind == "user" and by.id == review.author_id)

