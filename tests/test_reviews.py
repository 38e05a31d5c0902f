"""Reviews: ratings 1..5, one per side, the reply, blind publication, aggregates."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

import microkit as mk

if TYPE_CHECKING:
    from conftest import World, WorldFactory


def test_buyer_rates_and_aggregates_follow(seeded: World) -> None:
    m = seeded.market
    first, second = seeded.completed(), seeded.completed()
    r1 = m.reviews.rate(first.id, by=seeded.amal, rating=5,
                        dimensions={"communication": 4, "as_described": 5}, comment="ممتاز")
    assert r1.published and r1.subject_id == "omar"
    m.reviews.rate(second.id, by=seeded.amal, rating=2)
    svc = m.reviews.summary(f"service:{seeded.service.id}")
    assert (svc.count, svc.total, svc.average) == (2, 7, 3.5)
    assert svc.dimension_average("communication") == 4.0
    seller = m.reviews.summary("seller:omar")
    assert (seller.count, seller.total) == (2, 7)
    assert dict(seller.dimensions) == {"communication": (1, 4), "as_described": (1, 5)}
    listed = m.reviews.for_service(seeded.service.id)
    assert [r.order_id for r in listed.items] == [second.id, first.id]
    replied = m.reviews.reply(r1.id, by=seeded.omar, text="شكرا")
    assert replied.reply == "شكرا"
    with pytest.raises(mk.Conflict):
        m.reviews.reply(r1.id, by=seeded.omar, text="again")
    with pytest.raises(mk.PermissionDenied):
        m.reviews.reply(r1.id, by=seeded.amal, text="me")


@pytest.mark.parametrize("rating", [0, 6, 4.5, "5", True, None])
def test_ratings_must_be_ints_1_to_5(seeded: World, rating: object) -> None:
    order = seeded.completed()
    before = seeded.snapshot()
    with pytest.raises(mk.ValidationError):
        seeded.market.reviews.rate(order.id, by=seeded.amal, rating=rating)  # type: ignore[arg-type]
    with pytest.raises(mk.ValidationError):
        seeded.market.reviews.rate(order.id, by=seeded.amal, rating=5,
                                   dimensions={"communication": rating})  # type: ignore[dict-item]
    assert seeded.snapshot() == before


def test_twice_someone_elses_unfinished_or_late(seeded: World) -> None:
    m = seeded.market
    m.users.register("huda", display_name="Huda")
    order = seeded.completed()
    with pytest.raises(mk.PermissionDenied):
        m.reviews.rate(order.id, by=mk.Actor.user("huda"), rating=5)
    with pytest.raises(mk.PermissionDenied):
        m.reviews.rate(order.id, by=seeded.omar, rating=5)
    with pytest.raises(mk.ValidationError):
        m.reviews.rate(order.id, by=seeded.amal, rating=5, dimensions={"speed": 5})
    m.reviews.rate(order.id, by=seeded.amal, rating=4)
    with pytest.raises(mk.Conflict):
        m.reviews.rate(order.id, by=seeded.amal, rating=5)
    with pytest.raises(mk.InvalidTransition):
        m.reviews.rate(seeded.delivered().id, by=seeded.amal, rating=5)
    late = seeded.completed()
    seeded.clock.advance(days=m.config.review_window_days, seconds=1)
    with pytest.raises(mk.InvalidTransition):
        m.reviews.rate(late.id, by=seeded.amal, rating=5)


def test_blind_reviews_wait_for_both_sides(make_world: WorldFactory) -> None:
    world = make_world(mk.MarketConfig.khamsat().evolve(review_publication="blind"))
    m = world.market
    order = world.completed()
    r = m.reviews.rate(order.id, by=world.amal, rating=3)
    assert not r.published and m.reviews.summary("seller:omar").count == 0
    with pytest.raises(mk.NotFound):
        m.reviews.get(r.id)
    assert m.reviews.get(r.id, by=world.amal) == r
    rb = m.reviews.rate_buyer(order.id, by=world.omar, rating=5)
    assert rb.published and m.reviews.get(r.id).published
    assert m.reviews.summary("seller:omar").count == 1
    assert m.reviews.summary("buyer:amal").average == 5.0


def test_blind_reviews_show_when_the_window_ends(make_world: WorldFactory) -> None:
    world = make_world(mk.MarketConfig.khamsat().evolve(review_publication="blind"))
    m = world.market
    order = world.completed()
    r = m.reviews.rate(order.id, by=world.amal, rating=4)
    world.clock.advance(days=m.config.review_window_days)
    assert m.tick().ran.get("publish_reviews") == 1
    assert m.reviews.get(r.id).published
    assert m.reviews.summary(f"service:{world.service.id}").count == 1
