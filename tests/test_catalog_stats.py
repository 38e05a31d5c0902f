"""The catalog's sales and rating aggregates follow real orders and reviews."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import World


def test_completed_orders_count_as_sales(seeded: World) -> None:
    market = seeded.market
    seeded.completed()
    seeded.completed()
    seeded.paid()  # not completed: not a sale
    assert market.catalog.view(seeded.service.id).stats.orders_completed == 2


def test_published_buyer_reviews_feed_search_ratings(seeded: World) -> None:
    market = seeded.market
    first, second = seeded.completed(), seeded.completed()
    market.reviews.rate(first.id, by=seeded.amal, rating=5)
    market.reviews.rate(second.id, by=seeded.amal, rating=4)
    stats = market.catalog.view(seeded.service.id).stats
    assert (stats.rating_count, stats.rating_avg) == (2, 4.5)
    found = market.catalog.search("شعار", min_rating=4.5).hits
    assert [h.service.id for h in found] == [seeded.service.id]
    assert market.catalog.search("شعار", min_rating=4.6).hits == ()
