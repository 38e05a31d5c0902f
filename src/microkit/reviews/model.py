"""Review records and the rating aggregates kept on services, sellers and buyers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Literal

import attrs

__all__ = ["RatingSummary", "Review", "ReviewAuthor", "review_id"]

#: Who wrote a review: the buyer (about the seller and service) or the seller (about the buyer).
ReviewAuthor = Literal["buyer", "seller"]


def review_id(order_id: str, by_role: str) -> str:
    """One review per order and side: ``"{order_id}:buyer"`` or ``"{order_id}:seller"``."""
    return f"{order_id}:{by_role}"


@attrs.frozen
class Review:
    """A rating with an optional comment, dimensions and the rated side's one reply.

    .. versionadded:: 0.1
    """

    id: str
    order_id: str
    service_id: str
    #: ``"buyer"`` or ``"seller"``.
    by_role: str
    author_id: str
    #: The user rated: the seller for a buyer's review, the buyer for a seller's.
    subject_id: str
    #: Overall rating, 1..5.
    rating: int
    #: Optional 1..5 ratings by dimension (``config.review_dimensions``).
    dimensions: Mapping[str, int]
    comment: str
    created_at: dt.datetime
    #: Visible to everyone (at once, or when blind publication lifts).
    published: bool
    published_at: dt.datetime | None = None
    #: The rated side's one public reply.
    reply: str | None = None
    replied_at: dt.datetime | None = None
    version: int = 1


@attrs.frozen
class RatingSummary:
    """Count and sum of published ratings, per dimension too; updated per review, never rescanned.

    Keys: ``"service:{id}"``, ``"seller:{user}"`` (buyers' reviews),
    ``"buyer:{user}"`` (sellers' ratings of buyers).

    .. versionadded:: 0.1
    """

    id: str
    count: int = 0
    total: int = 0
    #: Dimension name -> (count, total).
    dimensions: Mapping[str, tuple[int, int]] = attrs.field(factory=dict)
    version: int = 1

    @property
    def average(self) -> float | None:
        """Mean overall rating, or None without ratings."""
        return self.total / self.count if self.count else None

    def dimension_average(self, name: str) -> float | None:
        """Mean rating of one dimension, or None without any."""
        count, total = self.dimensions.get(name, (0, 0))
        return total / count if count else None
