"""Open projects and bids: posting, moderation, browsing, bidding, awarding, bad input."""

from __future__ import annotations

from typing import Any

import pytest

import microkit as mk
from conftest import World
from microkit import Actor, Money
from microkit.projects.lifecycle import BID, PROJECT


@pytest.fixture
def world(seeded: World) -> World:
    seeded.sara = Actor.user("sara")  # type: ignore[attr-defined]
    seeded.market.users.register("sara", display_name="سارة")
    seeded.market.catalog.add_category("logos", names={"ar": "شعارات", "en": "Logos"},
                                       parent="design", by=seeded.staff)
    seeded.market.catalog.add_category("writing", names={"ar": "كتابة", "en": "Writing"},
                                       by=seeded.staff)
    return seeded


def post(w: World, **kw: Any) -> mk.Order:
    args: dict[str, Any] = dict(
        by=w.amal, title="تصميم شعار لمتجر القهوة", description="أحتاج شعارا بسيطا وحديثا",
        category="logos", budget_min=w.money("10"), budget_max=w.money("50"),
        duration_days=5, skills=["Photoshop", "Illustrator"],
    )
    args.update(kw)
    return w.market.projects.post(**args)  # type: ignore[no-any-return]


def bid(w: World, project_id: str, who: Actor, amount: str = "30", days: int = 3) -> Any:
    return w.market.projects.bid(project_id, by=who, amount=w.money(amount), days=days,
                                 proposal="أستطيع إنجازه بجودة عالية")


def test_skills_differ_by_their_punctuation_and_fold_their_arabic(world: World) -> None:
    m = world.market
    by_skill = {skill: post(world, skills=[skill]).id
                for skill in ("C", "C#", "C++", "Node.js", "node-js", "تصميم")}
    ids = lambda page: sorted(p.id for p in page.items)  # noqa: E731
    for skill in ("C", "C#", "C++", "Node.js", "node-js"):
        assert ids(m.projects.browse(skills=[skill.upper()])) == [by_skill[skill]], skill
    # Letter variants and diacritics still fold: the same skill however it is typed.
    assert ids(m.projects.browse(skills=["تَصميم"])) == [by_skill["تصميم"]]


def test_post_browse_and_search(world: World) -> None:
    m = world.market
    p1 = post(world)
    p2 = post(world, title="كتابة مقالات عن القهوة", description="عشر مقالات", category="writing",
              budget_min=world.money("5"), budget_max=world.money("20"), skills=["SEO"])
    assert p1.state == "open" and p1.skills == ("photoshop", "illustrator")
    ids = lambda page: [p.id for p in page.items]  # noqa: E731
    assert ids(m.projects.browse()) == [p2.id, p1.id]  # newest first
    assert ids(m.projects.browse(category="design")) == [p1.id]  # and below it
    assert ids(m.projects.browse(skills=["seo", "Nothing"])) == [p2.id]
    assert ids(m.projects.browse(skills=["ILLUSTRATOR"])) == [p1.id]
    assert ids(m.projects.browse(min_budget=world.money("25"))) == [p1.id]
    assert ids(m.projects.browse(max_budget=world.money("5"))) == [p2.id]
    assert ids(m.projects.browse(sort="budget_high")) == [p1.id, p2.id]
    assert ids(m.projects.browse(sort="budget_low")) == [p2.id, p1.id]
    # Arabic-aware: the article and attached prefixes fold away
    assert ids(m.projects.search("التصميم")) == [p1.id]
    assert ids(m.projects.search("والقهوة")) == [p2.id, p1.id]
    assert ids(m.projects.search("قهوة", category="writing")) == [p2.id]
    assert ids(m.projects.search("photoshop")) == [p1.id]  # skills are words too
    assert ids(m.projects.search("!!!")) == []
    with pytest.raises(mk.NotFound):
        m.projects.browse(category="nope")
    bid(world, p1.id, world.omar)
    assert ids(m.projects.browse(sort="fewest_bids")) == [p2.id, p1.id]


def test_browse_budgets_are_filters_not_prices(world: World) -> None:
    # Off the price step, under the minimum price, over the maximum price: all fine as
    # filters (PriceOutOfRange is for prices being set).
    m, usd = world.market, world.money
    p1 = post(world)  # 10..50 USD
    p2 = post(world, budget_min=usd("100"), budget_max=usd("1000"))
    ids = lambda page: sorted(p.id for p in page.items)  # noqa: E731
    assert ids(m.projects.browse(min_budget=usd("12"))) == sorted([p1.id, p2.id])
    assert ids(m.projects.browse(min_budget=usd("51"))) == [p2.id]
    assert ids(m.projects.browse(min_budget=usd("1"), max_budget=usd("99.99"))) == [p1.id]
    assert ids(m.projects.browse(min_budget=usd("0"), max_budget=usd("9.99"))) == []
    assert ids(m.projects.browse(min_budget=usd("1000.01"))) == []
    assert ids(m.projects.browse(max_budget=usd("2000"))) == sorted([p1.id, p2.id])
    with pytest.raises(mk.InvalidAmount):
        m.projects.browse(max_budget=usd("-0.01"))


def test_browse_pages_with_cursor(world: World) -> None:
    made = [post(world, budget_max=world.money(str(10 + 5 * i))).id for i in range(7)]
    for sort, expected in (("newest", made[::-1]), ("budget_high", made[::-1]),
                           ("budget_low", made[::-1])):
        seen: list[str] = []
        cursor = None
        while True:
            page = world.market.projects.browse(sort=sort, limit=3, cursor=cursor)  # type: ignore[arg-type]
            seen += [p.id for p in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == expected, sort
    page = world.market.projects.browse(limit=3)
    with pytest.raises(mk.ValidationError):
        world.market.projects.browse(limit=3, sort="budget_high", cursor=page.next_cursor)


def test_moderation(make_world: Any) -> None:
    w = make_world(mk.MarketConfig.khamsat().evolve(project_moderation=True))
    w.market.catalog.add_category("logos", names={"ar": "شعارات", "en": "Logos"},
                                  parent="design", by=w.staff)
    p = post(w)
    assert p.state == "pending_review" and w.market.projects.browse().items == ()
    with pytest.raises(mk.PermissionDenied):
        w.market.projects.approve(p.id, by=w.amal)
    with pytest.raises(mk.InvalidTransition):
        bid(w, p.id, w.omar)
    assert w.market.projects.approve(p.id, by=w.staff).state == "open"
    assert [x.id for x in w.market.projects.browse().items] == [p.id]
    q = post(w)
    rejected = w.market.projects.reject(q.id, by=w.staff, reason="تواصل خارج الموقع")
    assert rejected.state == "rejected" and rejected.reason == "تواصل خارج الموقع"
    assert [e.name for e in w.market.projects.history(q.id)] == ["project.posted",
                                                                "project.rejected"]


def test_bids_award_and_order(world: World) -> None:
    m, sara = world.market, world.sara  # type: ignore[attr-defined]
    p = post(world)
    b1 = bid(world, p.id, world.omar, "30", 3)
    b2 = bid(world, p.id, sara, "40", 2)
    b1 = m.projects.edit_bid(b1.id, by=world.omar, amount=world.money("35"), days=4)
    assert (b1.amount, b1.days, b1.edits) == (world.money("35"), 4, 1)
    assert m.projects.shortlist(b1.id, by=world.amal).state == "shortlisted"
    assert m.projects.get(p.id).live_bids == 2
    msg = m.projects.message_bidder(b1.id, by=world.amal, body="هل يمكنك البدء اليوم؟")
    m.messages.send(msg.conversation_id, by=world.omar, body="نعم")
    assert m.projects.bids(p.id, by=sara) == [b2]  # a seller sees their own
    assert len(m.projects.bids(p.id, by=world.amal)) == 2
    with pytest.raises(mk.PermissionDenied):
        m.projects.get_bid(b1.id, by=sara)

    order = m.projects.accept_bid(b1.id, by=world.amal)
    assert order.state == "pending_payment" and order.total == world.money("35")
    assert order.delivery_days == 4 and order.seller_id == "omar"
    assert order.commission == world.money("7") and order.seller_share == world.money("28")
    assert order.source == f"project:{p.id}/bid:{b1.id}"
    project = m.projects.get(p.id)
    assert (project.state, project.order_id, project.awarded_bid_id) == ("awarded", order.id,
                                                                         b1.id)
    assert m.projects.get_bid(b2.id, by=sara).state == "closed"
    assert m.projects.browse().items == ()
    names = [e.name for e in m.projects.history(p.id)]
    assert names[-3:] == ["bid.accepted", "bid.closed", "project.awarded"]
    closed = [e for e in m.events.read(limit=1000) if e.name == "bid.closed"]
    assert closed[0].data["seller_id"] == "sara"  # the other seller is told
    placed = m.orders.history(order.id)[0]
    assert placed.name == "order.placed" and placed.data["source"] == order.source

    m.payments.pay(order.id, by=world.amal, gateway="sandbox", idempotency_key="p1")
    m.orders.start(order.id, by=world.omar)
    m.orders.deliver(order.id, by=world.omar, message="تم")
    m.orders.accept(order.id, by=world.amal)
    assert m.projects.get(p.id).state == "completed"
    assert m.ledger.balance("omar").pending == world.money("28")
    assert m.ledger.verify().ok


def test_unpaid_order_cancels_project(world: World) -> None:
    m = world.market
    p = post(world)
    order = m.projects.accept_bid(bid(world, p.id, world.omar).id, by=world.amal)
    world.clock.advance(days=2)
    m.tick()
    assert m.orders.get(order.id).state == "expired"
    assert m.projects.get(p.id).state == "cancelled"


def test_close_reopen_cancel_and_withdraw(world: World) -> None:
    m, sara = world.market, world.sara  # type: ignore[attr-defined]
    p = post(world)
    b1 = bid(world, p.id, world.omar)
    assert m.projects.withdraw_bid(b1.id, by=world.omar).state == "withdrawn"
    assert m.projects.get(p.id).live_bids == 0
    b1 = bid(world, p.id, world.omar)  # a withdrawn bid does not block a new one
    assert m.projects.close(p.id, by=world.amal).state == "closed"
    with pytest.raises(mk.InvalidTransition):
        bid(world, p.id, sara)
    assert m.projects.reopen(p.id, by=world.amal).state == "open"
    b2 = bid(world, p.id, sara)
    assert m.projects.reject_bid(b2.id, by=world.amal, reason="السعر").state == "rejected"
    with pytest.raises(mk.Conflict):
        bid(world, p.id, sara)  # rejected: no second try
    cancelled = m.projects.cancel(p.id, by=world.amal, reason="لم أعد أحتاجه")
    assert cancelled.state == "cancelled" and cancelled.live_bids == 0
    assert m.projects.get_bid(b1.id, by=world.omar).state == "closed"


def test_monthly_bid_limit(make_world: Any) -> None:
    w = make_world(mk.MarketConfig.khamsat().evolve(max_bids_per_month=2))
    w.market.users.register("sara", display_name="Sara")
    w.market.catalog.add_category("logos", names={"ar": "شعارات", "en": "Logos"},
                                  parent="design", by=w.staff)
    projects = [post(w).id for _ in range(3)]
    bid(w, projects[0], w.omar)
    bid(w, projects[1], w.omar)
    with pytest.raises(mk.LimitExceeded) as err:
        bid(w, projects[2], w.omar)
    assert err.value.limit == "max_bids_per_month"
    w.clock.advance(days=31)  # a new month
    bid(w, projects[2], w.omar)


@pytest.mark.parametrize("case", [
    "min_above_max", "below_minimum", "off_step", "wrong_currency", "float_budget",
    "bad_days", "bad_category", "staff_posts",
])
def test_bad_posts_change_nothing(world: World, snapshot: Any, case: str) -> None:
    before = snapshot(world.market)
    kw: dict[str, Any] = {
        "min_above_max": dict(budget_min=world.money("50"), budget_max=world.money("10")),
        "below_minimum": dict(budget_min=Money.of("1", "USD")),
        "off_step": dict(budget_max=Money.of("12", "USD")),
        "wrong_currency": dict(budget_min=Money.of("10", "LYD")),
        "float_budget": dict(budget_min=10.0),
        "bad_days": dict(duration_days=0),
        "bad_category": dict(category="nope"),
        "staff_posts": dict(by=world.staff),
    }[case]
    with pytest.raises((mk.ValidationError, mk.NotFound, mk.PermissionDenied)) as err:
        post(world, **kw)
    if case in ("min_above_max", "below_minimum", "off_step", "wrong_currency", "float_budget"):
        assert isinstance(err.value, mk.ValidationError)
    if case == "below_minimum":
        assert isinstance(err.value, mk.PriceOutOfRange)
    assert snapshot(world.market) == before


def test_bad_bids_and_accepts_change_nothing(world: World, snapshot: Any) -> None:
    m, sara = world.market, world.sara  # type: ignore[attr-defined]
    p = post(world)
    b1 = bid(world, p.id, world.omar)
    b2 = bid(world, p.id, sara)
    withdrawn = post(world)
    wb = bid(world, withdrawn.id, world.omar)
    m.projects.withdraw_bid(wb.id, by=world.omar)
    closed = post(world)
    m.projects.close(closed.id, by=world.amal)
    live = post(world)
    bid(world, live.id, sara)
    m.projects.accept_bid(b1.id, by=world.amal)
    before = snapshot(m)
    attempts: list[tuple[type[Exception], Any]] = [
        (mk.InvalidTransition, lambda: bid(world, closed.id, world.omar)),  # closed project
        (mk.PermissionDenied, lambda: bid(world, withdrawn.id, world.amal)),  # own project
        (mk.Conflict, lambda: bid(world, live.id, sara)),  # a second live bid
        (mk.InvalidTransition, lambda: m.projects.accept_bid(wb.id, by=world.amal)),
        (mk.InvalidTransition, lambda: m.projects.accept_bid(b2.id, by=world.amal)),
        (mk.PermissionDenied, lambda: m.projects.accept_bid(b2.id, by=sara)),
        (mk.PriceOutOfRange, lambda: bid(world, withdrawn.id, sara, "1")),
        (mk.CurrencyMismatch, lambda: m.projects.bid(
            withdrawn.id, by=sara, amount=Money.of("10", "LYD"), days=2, proposal="x")),
        (mk.ValidationError, lambda: m.projects.bid(
            withdrawn.id, by=sara, amount=world.money("10"), days=2, proposal=" ")),
        (mk.InvalidTransition, lambda: m.projects.edit_bid(wb.id, by=world.omar, days=9)),
        (mk.NotFound, lambda: bid(world, "p_missing", sara)),
    ]
    for expected, attempt in attempts:
        with pytest.raises(expected):
            attempt()
        assert snapshot(m) == before


def test_tables_describe_themselves() -> None:
    assert PROJECT.terminal == {"completed", "cancelled", "rejected"}
    assert "accept" in BID.allowed_from("shortlisted")
    assert PROJECT.mermaid().startswith("stateDiagram-v2")


def test_level_bid_limit_wins(make_world: Any) -> None:
    import attrs

    base = mk.MarketConfig.khamsat().evolve(max_bids_per_month=5)
    first, *rest = base.levels.levels
    first = attrs.evolve(first, privileges=attrs.evolve(first.privileges,
                                                        max_bids_per_month=1))
    w = make_world(base.evolve(levels=attrs.evolve(base.levels, levels=(first, *rest))))
    w.market.catalog.add_category("logos", names={"ar": "شعارات", "en": "Logos"},
                                  parent="design", by=w.staff)
    bid(w, post(w).id, w.omar)
    with pytest.raises(mk.LimitExceeded):
        bid(w, post(w).id, w.omar)
