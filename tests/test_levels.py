"""Seller levels: requirement boundaries, a seller walked up the ladder and down again,
idempotent evaluation, privileges enforced, pins and badges."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

import attrs
import pytest

import microkit as mk
from conftest import START, MarketFactory
from microkit import Actor, Money
from microkit.clock import FrozenClock
from microkit.levels import (
    Level,
    LevelLadder,
    Privileges,
    Requirement,
    SellerMetrics,
    default_ladder,
)
from microkit.levels.evaluation import by_window, decide
from microkit.levels.metrics import bump, check, day_of, target_level

USD = mk.MarketConfig.khamsat().currency
NOW = START + dt.timedelta(days=100)
STAFF = Actor.staff("ops")


def usd(value: str) -> Money:
    return Money.of(value, "USD")


def two_levels(req: Requirement) -> LevelLadder:
    return LevelLadder((Level("new", {"ar": "جديد", "en": "New"}),
                        Level("up", {"ar": "أعلى", "en": "Up"}, (req,))))


def metrics(*, age_days: int = 365, on: int = 2, **counters: int) -> SellerMetrics:
    """A seller's metrics with ``counters`` all on the day ``on`` days before NOW."""
    base = SellerMetrics("s", NOW - dt.timedelta(days=age_days), version=0)
    day = day_of(NOW - dt.timedelta(days=on))
    rows = [(day, name, n) for name, n in counters.items()]
    if "buyers" in counters:
        rows.append((day, "buyers_total", counters["buyers"]))
    return bump(base, rows, now=NOW, history_days=365)


def reached(req: Requirement, m: SellerMetrics) -> bool:
    ladder = two_levels(req)
    return target_level(ladder, by_window(ladder, m, NOW, USD)) == 1


# (requirement, metrics just below, at, just above); "below" is on the failing side.
BOUNDARIES: list[tuple[Requirement, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    (Requirement("completed_orders", 5), {"completed": 4}, {"completed": 5},
     {"completed": 6}),
    (Requirement("unique_buyers", 3), {"buyers": 2}, {"buyers": 3}, {"buyers": 4}),
    (Requirement("earnings", usd("100")), {"earnings": 9999}, {"earnings": 10000},
     {"earnings": 10001}),
    (Requirement("account_age_days", 30), {"age_days": 29}, {"age_days": 30},
     {"age_days": 31}),
    (Requirement("rating", Decimal("4.5")), {"ratings": 5, "rating_total": 22},
     {"ratings": 2, "rating_total": 9}, {"ratings": 5, "rating_total": 23}),
    (Requirement("on_time_rate", Decimal("0.9")), {"first_deliveries": 10, "on_time": 8},
     {"first_deliveries": 10, "on_time": 9}, {"first_deliveries": 10, "on_time": 10}),
    (Requirement("completion_rate", Decimal("0.8")), {"completed": 7, "cancelled": 3},
     {"completed": 8, "cancelled": 2}, {"completed": 9, "cancelled": 1}),
    (Requirement("response_rate", Decimal("0.75")), {"waits": 4, "answered": 2},
     {"waits": 4, "answered": 3}, {"waits": 4, "answered": 4}),
    # an upper bound: "below" the limit is fine, above it fails
    (Requirement("disputes_lost", 1), {"disputes_lost": 2}, {"disputes_lost": 1},
     {"disputes_lost": 0}),
]


@pytest.mark.parametrize(("req", "below", "at", "above"), BOUNDARIES,
                         ids=[b[0].metric for b in BOUNDARIES])
@pytest.mark.parametrize("window", [None, 30])
def test_requirement_boundaries(req: Requirement, below: dict[str, Any], at: dict[str, Any],
                                above: dict[str, Any], window: int | None) -> None:
    req = Requirement(req.metric, req.value, window)
    assert not reached(req, metrics(**below))
    assert reached(req, metrics(**at))
    assert reached(req, metrics(**above))


def test_a_rate_with_nothing_to_divide_is_not_met() -> None:
    for metric in ("rating", "on_time_rate", "completion_rate", "response_rate"):
        value = Decimal("1") if metric == "rating" else Decimal("0")
        assert not reached(Requirement(metric, value), metrics())


@pytest.mark.parametrize(("days_ago", "counted"), [(28, True), (29, True), (30, False)])
def test_window_edges(days_ago: int, counted: bool) -> None:
    """A 30-day window is today and the 29 days before it."""
    req = Requirement("completed_orders", 1, window_days=30)
    assert reached(req, metrics(on=days_ago, completed=1)) is counted
    assert reached(Requirement("completed_orders", 1), metrics(on=days_ago, completed=1))


def test_unanswered_messages_count_only_after_the_answer_time() -> None:
    """A buyer message from today may still be answered in time: it does not count yet;
    one from two days ago that was never answered counts against the seller."""
    req = Requirement("response_rate", Decimal("1"), window_days=30)
    answered = metrics(on=3, waits=1, answered=1)
    assert reached(req, answered)
    fresh = bump(answered, [(day_of(NOW), "waits", 3)], now=NOW, history_days=365)
    assert reached(req, fresh)
    stale = bump(answered, [(day_of(NOW - dt.timedelta(days=2)), "waits", 1)], now=NOW,
                 history_days=365)
    assert not reached(req, stale)


def test_gap_says_what_is_missing() -> None:
    ladder = two_levels(Requirement("earnings", usd("100"), 30))
    m = metrics(earnings=2500)
    c = check(ladder.levels[1].requirements[0], by_window(ladder, m, NOW, USD)[30])
    assert (c.met, c.actual, c.gap) == (False, usd("25"), usd("75"))


# -- decide: promotion, grace, recovery, pins -----------------------------------------

def ladder3(grace: int = 10) -> LevelLadder:
    return LevelLadder((
        Level("new", {"ar": "جديد", "en": "New"}),
        Level("one", {"ar": "١", "en": "One"}, (Requirement("completed_orders", 2, 30),)),
        Level("two", {"ar": "٢", "en": "Two"}, (Requirement("completed_orders", 4, 30),)),
    ), demotion_grace_days=grace)


def test_demotion_waits_for_the_grace_and_recovery_cancels_it() -> None:
    lad = ladder3()
    strong = metrics(completed=4)
    up = decide(lad, strong, None, NOW, USD)
    assert up is not None and up.kind == "promoted" and up.standing.level == "two"
    weak = metrics(completed=3)
    risk = decide(lad, weak, up.standing, NOW, USD)
    assert risk is not None and risk.kind == "at_risk" and risk.standing.level == "two"
    assert decide(lad, weak, risk.standing, NOW, USD) is None  # twice: no change
    later = NOW + dt.timedelta(days=9)
    assert decide(lad, weak, risk.standing, later, USD) is None  # grace not over
    back = decide(lad, strong, risk.standing, NOW, USD)
    assert back is not None and back.kind == "recovered" and back.standing.below_since is None
    at_end = NOW + dt.timedelta(days=10)
    down = decide(lad, metrics(completed=2, on=0), risk.standing, at_end, USD)
    assert down is not None and down.kind == "demoted" and down.standing.level == "one"


def test_no_grace_demotes_at_once_and_pins_are_left_alone() -> None:
    lad = ladder3(grace=0)
    up = decide(lad, metrics(completed=4), None, NOW, USD)
    assert up is not None
    down = decide(lad, metrics(completed=0), up.standing, NOW, USD)
    assert down is not None and down.kind == "demoted" and down.standing.level == "new"
    pinned = attrs.evolve(up.standing, pinned=True)
    assert decide(lad, metrics(completed=0), pinned, NOW, USD) is None


def test_ladder_is_validated() -> None:
    with pytest.raises(mk.InvalidConfig):
        LevelLadder((Level("a", {"ar": "أ", "en": "A"}, (Requirement("completed_orders", 1),)),))
    with pytest.raises(mk.InvalidConfig):
        Requirement("rating", Decimal("6"))
    for metric, value in (("rating", "NaN"), ("on_time_rate", "sNaN"),
                          ("completion_rate", "Infinity")):
        with pytest.raises(mk.InvalidConfig) as bad:  # not decimal.InvalidOperation
            Requirement(metric, Decimal(value))
        assert bad.value.value.is_nan() or bad.value.value.is_infinite()
    with pytest.raises(mk.InvalidConfig):
        Requirement("completed_orders", -1)
    with pytest.raises(mk.InvalidConfig):
        Level("x", {"en": "X"})  # no Arabic name
    with pytest.raises(mk.InvalidConfig) as err:
        mk.MarketConfig.microlibya().evolve(levels=mk.MarketConfig.khamsat().levels)
    assert err.value.field.startswith("levels.")
    assert len(mk.MarketConfig.khamsat().levels.levels) == 4


# -- through the public API -------------------------------------------------------------

WALK = LevelLadder((
    Level("new", {"ar": "بائع جديد", "en": "New seller"},
          privileges=Privileges(2, 1, usd("20"), None)),
    Level("bronze", {"ar": "برونزي", "en": "Bronze"}, (
        Requirement("completed_orders", 2, 30), Requirement("unique_buyers", 2, 30),
        Requirement("rating", Decimal("4"), 30), Requirement("on_time_rate", Decimal("0.5"), 30),
        Requirement("completion_rate", Decimal("0.6"), 30),
    ), Privileges(3, 2, usd("50"), 10)),
    Level("silver", {"ar": "فضي", "en": "Silver"}, (
        Requirement("completed_orders", 4, 30), Requirement("earnings", usd("40")),
        Requirement("account_age_days", 10), Requirement("response_rate", Decimal("0.5"), 30),
        Requirement("disputes_lost", 0, 30),
    ), Privileges(5, 3, usd("100"), 7)),
    Level("gold", {"ar": "ذهبي", "en": "Gold"}, (
        Requirement("completed_orders", 6, 30), Requirement("unique_buyers", 3, 30),
        Requirement("account_age_days", 20),
    ), Privileges(None, None, None, 3)),
), evaluate_every_days=1, demotion_grace_days=5)


class Shop:
    def __init__(self, m: mk.Marketplace, clock: FrozenClock) -> None:
        self.m, self.clock = m, clock
        self.keys = itertools.count()
        self.omar = Actor.user("omar")
        for uid in ("omar", "b1", "b2", "b3"):
            m.users.register(uid, display_name=uid)
        m.catalog.add_category("design", names={"ar": "تصميم", "en": "Design"}, by=STAFF)
        self.svc = self.service("10")

    def service(self, price: str, upgrades: int = 0) -> mk.Service:
        svc = self.m.catalog.create_service(
            by=self.omar, category="design", title="شعار", description="شعار احترافي",
            price=usd(price), delivery_days=2,
            upgrades=[mk.UpgradeSpec(title=f"u{i}", price=usd("5")) for i in range(upgrades)])
        return self.m.catalog.approve(svc.id, by=STAFF)

    def paid(self, buyer: str) -> mk.Order:
        order = self.m.orders.place(self.svc.id, by=Actor.user(buyer))
        self.m.payments.pay(order.id, by=Actor.user(buyer), gateway="sandbox",
                            idempotency_key=f"k{next(self.keys)}")
        return order

    def sell(self, buyer: str, *, rating: int = 5, late: bool = False) -> mk.Order:
        order = self.paid(buyer)
        self.m.orders.start(order.id, by=self.omar)
        if late:
            self.clock.advance(days=3)
        self.m.orders.deliver(order.id, by=self.omar, message="تم")
        done = self.m.orders.accept(order.id, by=Actor.user(buyer))
        self.m.reviews.rate(order.id, by=Actor.user(buyer), rating=rating)
        return done

    def level(self) -> str:
        return self.m.levels.get("omar").level

    def tick(self) -> mk.TickSummary:
        summary = self.m.tick()
        again = self.m.levels.evaluate()  # an evaluation run twice changes nothing
        assert again.changed == 0
        return summary


@pytest.fixture
def shop(make_market: MarketFactory, clock: FrozenClock) -> Shop:
    return Shop(make_market(mk.MarketConfig.khamsat().evolve(levels=WALK)), clock)


def test_walk_up_all_levels_and_down_again(shop: Shop) -> None:
    m, clock = shop.m, shop.clock
    assert shop.level() == "new"
    shop.sell("b1")
    shop.sell("b2")
    summary = shop.tick()
    assert summary.levels is not None and summary.levels.promoted == 1
    assert shop.level() == "bronze"
    report = m.levels.metrics("omar")
    assert report.next_level == "silver"
    assert {c.metric: c.met for c in report.next} == {
        "completed_orders": False, "earnings": False, "account_age_days": False,
        "response_rate": False, "disputes_lost": True}

    clock.advance(days=1)
    conv = m.messages.inquire(shop.svc.id, by=Actor.user("b3"), body="هل يمكن؟")
    clock.advance(hours=2)
    m.messages.send(conv.conversation_id, by=shop.omar, body="نعم")
    for buyer in ("b1", "b3", "b1"):
        shop.sell(buyer)
    clock.advance(days=9)  # account age 10 days
    shop.tick()
    assert shop.level() == "silver"
    assert m.levels.metrics("omar").all_time.response_rate == Decimal("1")

    clock.advance(days=10)  # day 20
    shop.sell("b2")
    shop.tick()
    assert shop.level() == "gold"
    report = m.levels.metrics("omar")
    assert report.next_level is None and report.windows[30].completed_orders == 6
    assert report.windows[30].unique_buyers == 3
    assert report.all_time.earnings == usd("48")

    # bad months: declined orders, and the good ones slide out of the window
    clock.advance(days=25)
    for buyer in ("b1", "b2"):
        order = shop.paid(buyer)
        m.orders.cancel(order.id, by=shop.omar, reason="مشغول")
    clock.advance(days=10)  # day 55: nothing completed in the last 30 days
    shop.tick()
    assert shop.level() == "gold"
    standing = m.levels.get("omar")
    assert standing.below_since == clock.now()
    assert m.levels.metrics("omar").demotion_due == clock.now() + dt.timedelta(days=5)
    clock.advance(days=4)
    shop.tick()
    assert shop.level() == "gold"  # still within the grace
    clock.advance(days=1)
    shop.tick()
    assert shop.level() == "new"
    names = [e.name for e in m.levels.history("omar")]
    assert names == ["level.changed"] * 3 + ["level.at_risk", "level.changed"]
    last = m.levels.history("omar")[-1].data
    assert (last["from"], last["to"], last["direction"]) == ("gold", "new", "down")


def test_clearance_days_follow_the_level(shop: Shop) -> None:
    m = shop.m
    m.levels.pin("omar", level="silver", by=STAFF, reason="migrated from the old site")
    order = shop.sell("b1")
    shop.clock.advance(days=7)
    m.tick()
    assert m.ledger.balance("omar").available == order.seller_share


def test_privileges_are_enforced_with_the_level_named(shop: Shop) -> None:
    m, omar = shop.m, shop.omar
    with pytest.raises(mk.LimitExceeded) as err:
        shop.service("25")
    assert err.value.limit == "max_price" and err.value.value == usd("20")
    assert "'new'" in str(err.value)
    with pytest.raises(mk.LimitExceeded) as err:
        shop.service("10", upgrades=2)
    assert err.value.limit == "max_upgrades_per_service" and err.value.value == 1
    second = shop.service("10")
    with pytest.raises(mk.LimitExceeded) as err:
        shop.service("10")
    assert err.value.limit == "max_active_services" and err.value.value == 2
    assert "New seller" in str(err.value)
    with pytest.raises(mk.LimitExceeded):
        m.catalog.update_service(second.id, by=omar, price=usd("30"))
    m.catalog.pause(second.id, by=omar)
    third = shop.service("10")
    with pytest.raises(mk.LimitExceeded):
        m.catalog.resume(second.id, by=omar)
    assert m.catalog.get(second.id).state == "paused"  # a failed command changes nothing
    m.levels.pin("omar", level="bronze", by=STAFF, reason="trial")
    m.catalog.resume(second.id, by=omar)
    m.catalog.update_service(third.id, by=omar, price=usd("50"))
    # a demotion never takes down what is listed
    m.levels.pin("omar", level="new", by=STAFF, reason="back")
    assert m.catalog.get(third.id).price == usd("50")


def test_staff_pin_and_badges_are_recorded_and_shown(shop: Shop) -> None:
    m = shop.m
    with pytest.raises(mk.PermissionDenied):
        m.levels.pin("omar", level="gold", by=shop.omar, reason="me")
    with pytest.raises(mk.ValidationError):
        m.levels.pin("omar", level="platinum", by=STAFF, reason="x")
    with pytest.raises(mk.ValidationError):
        m.levels.grant_badge("omar", badge="trusted_seller", by=STAFF, reason=" ")
    m.levels.pin("omar", level="gold", by=STAFF, reason="verified agency")
    m.levels.grant_badge("omar", badge="trusted_seller", by=STAFF, reason="ID checked")
    with pytest.raises(mk.Conflict):
        m.levels.grant_badge("omar", badge="trusted_seller", by=STAFF, reason="again")
    shop.tick()
    assert shop.level() == "gold"  # pinned: the evaluation leaves it
    view = m.catalog.view(shop.svc.id)
    assert view.seller.level == "gold" and view.seller.badges == ("trusted_seller",)
    hits = m.catalog.search("شعار").hits
    assert hits and all(h.seller_level == "gold" for h in hits)
    unpinned = m.levels.unpin("omar", by=STAFF, reason="contract ended")
    assert unpinned.level == "gold" and unpinned.below_since is not None  # grace starts
    m.levels.revoke_badge("omar", badge="trusted_seller", by=STAFF, reason="complaints")
    events = [(e.name, e.actor, e.data.get("reason")) for e in m.levels.history("omar")]
    assert events == [
        ("level.pinned", "staff:ops", "verified agency"),
        ("level.changed", "staff:ops", "pinned"),
        ("level.badge_granted", "staff:ops", "ID checked"),
        ("level.unpinned", "staff:ops", "contract ended"),
        ("level.at_risk", "system", None),
        ("level.badge_revoked", "staff:ops", "complaints"),
    ]


def test_lost_disputes_late_deliveries_and_cancellations_count(shop: Shop) -> None:
    m, omar = shop.m, shop.omar
    shop.sell("b1", late=True)
    order = shop.paid("b2")
    m.orders.start(order.id, by=omar)
    m.orders.open_dispute(order.id, by=Actor.user("b2"), reason="لا رد")
    m.orders.resolve_dispute(order.id, by=STAFF, outcome="refund", resolution="استرداد")
    unpaid = m.orders.place(shop.svc.id, by=Actor.user("b3"))
    m.orders.cancel(unpaid.id, by=Actor.user("b3"))  # never paid: not the seller's doing
    fig = m.levels.metrics("omar").all_time
    assert (fig.completed_orders, fig.cancelled_orders, fig.disputes_lost) == (1, 1, 1)
    assert fig.on_time_rate == Decimal("0") and fig.completion_rate == Decimal("0.5")
    assert fig.rating == Decimal("5") and fig.rating_count == 1


def test_unknown_seller(shop: Shop) -> None:
    with pytest.raises(mk.NotFound):
        shop.m.levels.metrics("nobody")
    with pytest.raises(mk.NotFound):
        shop.m.levels.get("nobody")


def test_tick_evaluates_on_the_schedule(make_market: MarketFactory, clock: FrozenClock) -> None:
    lad = attrs.evolve(WALK, evaluate_every_days=30)
    m = make_market(mk.MarketConfig.khamsat().evolve(levels=lad))
    assert m.tick().levels is not None  # a market's first tick evaluates
    clock.advance(days=29)
    assert m.tick().levels is None
    clock.advance(days=1)
    assert m.tick().levels is not None


def test_a_single_level_ladder_limits_nothing(make_market: MarketFactory) -> None:
    m = make_market(mk.MarketConfig.khamsat().evolve(levels=LevelLadder.single()))
    m.users.register("omar", display_name="Omar")
    m.catalog.add_category("design", names={"ar": "تصميم", "en": "Design"}, by=STAFF)
    for _ in range(12):
        m.catalog.create_service(by=Actor.user("omar"), category="design", title="شعار",
                                 description="شعار", price=usd("1000"), delivery_days=1)
    assert m.levels.privileges("omar") == Privileges()


# -- the default ladder follows the market's own rules ---------------------------------


def effective_clearance(config: mk.MarketConfig) -> dict[str, int]:
    return {lv.id: config.clearance_days if lv.privileges.clearance_days is None
            else lv.privileges.clearance_days for lv in config.levels.levels}


@pytest.mark.parametrize("config", [
    mk.MarketConfig.khamsat(),
    mk.MarketConfig.microlibya(),
    mk.MarketConfig(currency="USD", min_price=usd("5"), clearance_days=8,
                    withdrawal_min=usd("10")),
    mk.MarketConfig(currency="USD", min_price=usd("5"), clearance_days=0,
                    withdrawal_min=usd("10")),
], ids=["khamsat", "microlibya", "8-days", "0-days"])
def test_a_default_level_never_waits_longer_than_the_market(config: mk.MarketConfig) -> None:
    # A level is a privilege: MicroLibya clears after 7 days, so level_two (10 in the
    # ladder) waited longer for its money than a new seller.
    days = effective_clearance(config)
    assert all(d <= config.clearance_days for d in days.values()), days
    ordered = list(days.values())
    assert ordered == sorted(ordered, reverse=True), days  # higher level, no longer wait


def test_the_khamsat_ladder_keeps_its_values() -> None:
    config = mk.MarketConfig.khamsat()
    assert effective_clearance(config) == {"new": 14, "level_one": 14, "level_two": 10,
                                           "top": 7}
    assert [lv.privileges for lv in config.levels.levels] == [
        Privileges(10, 5, usd("100"), None), Privileges(15, 10, usd("500"), None),
        Privileges(20, 15, usd("1000"), 10), Privileges(30, 20, None, 7)]
    assert config.levels == default_ladder(usd("5"))


def test_a_default_level_cap_is_never_above_the_market_cap() -> None:
    config = mk.MarketConfig(currency="USD", min_price=usd("5"), max_price=usd("300"),
                             withdrawal_min=usd("10"))
    caps = [lv.privileges.max_price for lv in config.levels.levels]
    assert caps == [usd("100"), usd("300"), usd("300"), None]


def test_microlibya_level_two_clears_with_the_market(
    make_market: MarketFactory, clock: FrozenClock
) -> None:
    m = make_market(mk.MarketConfig.microlibya())
    lyd = m.config.money
    m.users.register("huda", display_name="Huda")
    m.catalog.add_category("design", names={"ar": "تصميم", "en": "Design"}, by=STAFF)
    paid: dict[str, Money] = {}
    for seller, level in (("newbie", None), ("pro", "level_two")):
        m.users.register(seller, display_name=seller)
        if level is not None:
            m.levels.pin(seller, level=level, by=STAFF, reason="migrated")
        svc = m.catalog.approve(m.catalog.create_service(
            by=Actor.user(seller), category="design", title="شعار", description="شعار",
            price=lyd("20"), delivery_days=2).id, by=STAFF)
        order = m.orders.place(svc.id, by=Actor.user("huda"))
        m.payments.pay(order.id, by=Actor.user("huda"), gateway="sandbox",
                       idempotency_key=seller)
        m.orders.start(order.id, by=Actor.user(seller))
        m.orders.deliver(order.id, by=Actor.user(seller), message="تم")
        paid[seller] = m.orders.accept(order.id, by=Actor.user("huda")).seller_share
    clock.advance(days=7)
    m.tick()
    assert m.levels.get("pro").level == "level_two"
    for seller, share in paid.items():
        assert m.ledger.balance(seller).available == share, seller
