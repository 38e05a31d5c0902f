"""Sales and rating aggregates of services, kept by increments in the search index.

Other parts of microkit call these inside their own unit of work, so an
aggregate changes exactly when the order or review that causes it commits:

- the order lifecycle calls :func:`record_sale` when an order completes;
- reviews call :func:`record_rating` when a rating is published (and with
  ``count=-1`` and the same stars if one is ever withdrawn).

They feed ``sort="rating"`` / ``"best_selling"``, ``min_rating=`` and the
seller's public profile on :meth:`~microkit.catalog.facade.CatalogFacade.view`.
"""

from __future__ import annotations

from decimal import Decimal

from ..errors import ValidationError
from ..storage.base import Tx
from .indexing import StatsDelta

__all__ = ["record_rating", "record_sale"]


def record_sale(tx: Tx, service_id: str, *, count: int = 1) -> None:
    """Count ``count`` more completed orders of a service.

    Raises:
        NotFound: the service is not in the catalog (perhaps only when the unit of work
            sends its held-back writes; it commits nothing then).
    """
    tx.add_service_stats(service_id, StatsDelta(orders_completed=count))


def record_rating(tx: Tx, service_id: str, *, stars: int | Decimal, count: int = 1) -> None:
    """Add a rating of ``stars`` (1..5, at most 2 decimals) to a service's average.

    Raises:
        ValidationError: stars out of range.  NotFound: unknown service.
    """
    value = Decimal(stars) if isinstance(stars, int) and not isinstance(stars, bool) else stars
    if not isinstance(value, Decimal) or not value.is_finite() or not 1 <= value <= 5 or (
        value * 100
    ) % 1:
        raise ValidationError(f"stars: expected 1..5 with at most 2 decimals, got {stars!r}",
                              field="stars", value=stars)
    points = int(value * 100) * count
    tx.add_service_stats(service_id, StatsDelta(rating_points=points, rating_count=count))
