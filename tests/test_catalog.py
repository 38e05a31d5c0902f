"""Catalog commands: categories, services, upgrades, the price policy and bad input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import pytest

import microkit as mk
from microkit import Actor, Money

MarketFactory = Callable[..., mk.Marketplace]
STAFF, OMAR, HUDA = Actor.staff("ops"), Actor.user("omar"), Actor.user("huda")


def usd(v: str) -> Money:
    return Money.of(v, "USD")


@pytest.fixture
def m(make_market: MarketFactory) -> mk.Marketplace:
    market = make_market()
    market.users.register("omar", display_name="Omar")
    market.users.register("huda", display_name="Huda")
    market.catalog.add_category("design", names={"ar": "تصميم", "en": "Design"}, by=STAFF,
                                max_price=usd("100"))
    market.catalog.add_category("logos", names={"en": "Logos"}, parent="design", by=STAFF,
                                min_price=usd("10"), position=2)
    market.catalog.add_category("cards", names={"en": "Cards"}, parent="design", by=STAFF,
                                position=1)
    return market


def create(m: mk.Marketplace, **kw: Any) -> mk.Service:
    args: dict[str, Any] = {"by": OMAR, "category": "design", "title": "تصميم شعار",
                            "description": "وصف", "price": usd("5"), "delivery_days": 2}
    args.update(kw)
    return m.catalog.create_service(**args)


def test_category_tree(m: mk.Marketplace) -> None:
    cat = m.catalog
    assert [c.slug for c in cat.categories()] == ["design"]
    assert [c.slug for c in cat.categories(parent="design")] == ["cards", "logos"]
    updated = cat.update_category("cards", by=STAFF, active=False, names={"en": "Cards!"})
    assert updated.version == 2 and updated.names == {"en": "Cards!"}
    assert [c.slug for c in cat.categories(parent="design")] == ["logos"]
    assert [c.slug for c in cat.categories(parent="design", include_inactive=True)] == [
        "cards", "logos"]
    with pytest.raises(mk.ValidationError) as exc:
        create(m, category="cards")
    assert exc.value.field == "category"
    assert cat.update_category("cards", by=STAFF, max_price=None).max_price is None


def test_service_with_upgrades_and_order_total(m: mk.Marketplace) -> None:
    svc = create(m, upgrades=[
        mk.UpgradeSpec(title="تسليم سريع", price=usd("5"), extra_days=-1),
        mk.UpgradeSpec(title="ملف مصدري", price=usd("10"), max_quantity=3),
    ], requirements="أرسل اسم الشركة", tags=("شعار",), images=("img-1.png",))
    assert [u.id for u in svc.upgrades] == ["up_1", "up_2"]
    assert svc.requirements == "أرسل اسم الشركة" and svc.tags == ("شعار",)
    m.catalog.approve(svc.id, by=STAFF)
    m.users.register("amal", display_name="أمل")
    order = m.orders.place(svc.id, by=Actor.user("amal"), upgrades={"up_1": 1, "up_2": 2})
    assert order.total == usd("30")
    assert order.delivery_days == 1


def test_editing_upgrades_keeps_ids(m: mk.Marketplace) -> None:
    svc = create(m, upgrades=[mk.UpgradeSpec(title="a", price=usd("5")),
                              mk.UpgradeSpec(title="b", price=usd("5"))])
    first = attrs.evolve(svc.upgrades[0], price=usd("10"))
    new = m.catalog.update_service(svc.id, by=OMAR, upgrades=[
        first, mk.UpgradeSpec(title="c", price=usd("15"))])
    assert [(u.id, u.title, u.price) for u in new.upgrades] == [
        ("up_1", "a", usd("10")), ("up_3", "c", usd("15"))]
    assert new.state == "pending_review" and new.version == svc.version + 1
    events = m.events.read(after=0, limit=100)
    assert [e.name for e in events[-2:]] == ["service.updated", "service.submitted"]
    assert events[-2].data["changed"] == ["upgrades"]


def test_import_services(m: mk.Marketplace) -> None:
    drafts = [mk.ServiceDraft("omar", "design", f"خدمة {i}", "وصف", usd("5"), 1)
              for i in range(3)]
    out = m.catalog.import_services(drafts, by=STAFF)
    assert [s.state for s in out] == ["approved"] * 3
    pending = m.catalog.import_services(drafts[:1], by=STAFF, publish=False)
    assert pending[0].state == "pending_review"
    assert len(m.catalog.services(state="pending_review")) == 1
    with pytest.raises(mk.PermissionDenied):
        m.catalog.import_services(drafts, by=OMAR)


def test_import_cleans_drafts_like_create_service(m: mk.Marketplace) -> None:
    kw: dict[str, Any] = {"category": "design", "title": "  تصميم شعار ", "description": " وصف",
                          "price": usd("5"), "delivery_days": 3,
                          "requirements": " اسم الشركة ", "tags": (" شعار", "logo ")}
    made = create(m, **kw)
    (imported,) = m.catalog.import_services(
        [mk.ServiceDraft("omar", **kw)], by=STAFF, publish=False)
    assert attrs.evolve(imported, id=made.id) == made


_GOOD = mk.ServiceDraft("omar", "design", "شعار", "وصف", usd("5"), 1, tags=("a",))


@pytest.mark.parametrize(("change", "error", "field"), [
    ({"title": "   "}, mk.ValidationError, "title"),
    ({"title": "x" * 201}, mk.ValidationError, "title"),
    ({"description": 5}, mk.ValidationError, "description"),
    ({"requirements": None}, mk.ValidationError, "requirements"),
    ({"delivery_days": 0}, mk.ValidationError, "delivery_days"),
    ({"delivery_days": True}, mk.ValidationError, "delivery_days"),
    ({"tags": ("ok", " ")}, mk.ValidationError, "tags"),
    ({"tags": ("x" * 51,)}, mk.ValidationError, "tags"),
    ({"tags": (7,)}, mk.ValidationError, "tags"),
    ({"tags": "abc"}, mk.ValidationError, "tags"),  # one string, not three tags
    ({"images": ("",)}, mk.ValidationError, "images"),
    ({"seller_id": "nobody", "title": " "}, mk.ValidationError, "title"),  # text checks first
    ({"seller_id": "nobody"}, mk.NotFound, None),
    ({"category": "nowhere"}, mk.NotFound, None),
    ({"category": "logos"}, mk.PriceOutOfRange, "price"),  # 5 passed in design, not in logos
    ({"price": usd("7")}, mk.PriceOutOfRange, "price"),
    ({"price": usd("105")}, mk.PriceOutOfRange, "price"),
    ({"price": Money.of("5", "LYD")}, mk.CurrencyMismatch, "price"),
    ({"upgrades": (mk.UpgradeSpec("u", usd("500")),)}, mk.PriceOutOfRange, "upgrades[0].price"),
])
def test_import_reports_the_first_bad_draft_field(
    m: mk.Marketplace, change: dict[str, Any], error: type[Exception], field: str | None
) -> None:
    # The good drafts first: the seller, category and price are known to the command.
    drafts = [_GOOD, _GOOD, attrs.evolve(_GOOD, **change)]
    with pytest.raises(error) as exc:
        m.catalog.import_services(drafts, by=STAFF)
    if field is not None:
        assert getattr(exc.value, "field", None) == f"drafts[2].{field}"
    assert m.catalog.services() == []


def _bad(**kw: Any) -> Callable[[mk.Marketplace], Any]:
    return lambda m: create(m, **kw)


BAD: list[tuple[str, Callable[[mk.Marketplace], Any], type[Exception], str | None]] = [
    ("empty title", _bad(title=""), mk.ValidationError, "title"),
    ("10k title", _bad(title="ش" * 10_000), mk.ValidationError, "title"),
    ("title not text", _bad(title=5), mk.ValidationError, "title"),
    ("off-step price", _bad(price=usd("7")), mk.PriceOutOfRange, "price"),
    ("under the minimum", _bad(price=usd("0.05")), mk.PriceOutOfRange, "price"),
    ("over the category cap", _bad(price=usd("105")), mk.PriceOutOfRange, "price"),
    ("under the category minimum", _bad(category="logos", price=usd("5")),
     mk.PriceOutOfRange, "price"),
    ("another currency", _bad(price=Money.of("5", "LYD")), mk.CurrencyMismatch, "price"),
    ("float price", _bad(price=5.0), mk.InvalidAmount, "price"),
    ("negative upgrade", _bad(upgrades=[mk.UpgradeSpec(title="x", price=usd("-5"))]),
     mk.InvalidAmount, "upgrades[0].price"),
    ("upgrade over the cap", _bad(upgrades=[mk.UpgradeSpec(title="x", price=usd("200"))]),
     mk.PriceOutOfRange, "upgrades[0].price"),
    ("upgrade quantity 0", _bad(upgrades=[mk.UpgradeSpec(title="x", price=usd("5"),
                                                         max_quantity=0)]),
     mk.ValidationError, "upgrades[0].max_quantity"),
    ("not a spec", _bad(upgrades=["fast"]), mk.ValidationError, "upgrades[0]"),
    ("too many upgrades", _bad(upgrades=[mk.UpgradeSpec(title="x", price=usd("5"))] * 21),
     mk.ValidationError, "upgrades"),
    ("zero days", _bad(delivery_days=0), mk.ValidationError, "delivery_days"),
    ("tags as one string", _bad(tags="abc"), mk.ValidationError, "tags"),
    ("tags not a collection", _bad(tags=5), mk.ValidationError, "tags"),
    ("unknown category", _bad(category="music"), mk.NotFound, None),
    ("unregistered seller", _bad(by=Actor.user("ghost")), mk.NotFound, None),
    ("staff creates", _bad(by=STAFF), mk.PermissionDenied, None),
    ("seller edits another's", lambda m: m.catalog.update_service(
        create(m).id, by=HUDA, title="x"), mk.PermissionDenied, None),
    ("edit with nothing", lambda m: m.catalog.update_service(create(m).id, by=OMAR),
     mk.ValidationError, "update_service"),
    ("edit to a bad price", lambda m: m.catalog.update_service(
        create(m).id, by=OMAR, price=usd("3")), mk.PriceOutOfRange, "price"),
    ("edit tags to one string", lambda m: m.catalog.update_service(
        create(m).id, by=OMAR, tags="abc"), mk.ValidationError, "tags"),
    ("edit keeps unknown upgrade", lambda m: m.catalog.update_service(
        create(m).id, by=OMAR, upgrades=[mk.Upgrade("up_9", "x", usd("5"))]),
     mk.ValidationError, "upgrades[0]"),
    ("reject without reason", lambda m: m.catalog.reject(create(m).id, by=STAFF, reason=" "),
     mk.ValidationError, "reason"),
    ("user adds a category", lambda m: m.catalog.add_category(
        "music", names={"en": "Music"}, by=OMAR), mk.PermissionDenied, None),
    ("category min over cap", lambda m: m.catalog.add_category(
        "music", names={"en": "Music"}, by=STAFF, min_price=usd("50"), max_price=usd("10")),
     mk.PriceOutOfRange, "min_price"),
    ("category under unknown parent", lambda m: m.catalog.add_category(
        "music", names={"en": "Music"}, by=STAFF, parent="nope"), mk.NotFound, None),
    ("category empty names", lambda m: m.catalog.add_category(
        "music", names={}, by=STAFF), mk.ValidationError, "names"),
    ("update unknown category", lambda m: m.catalog.update_category(
        "nope", by=STAFF, position=1), mk.NotFound, None),
    ("category position not int", lambda m: m.catalog.update_category(
        "design", by=STAFF, position="1"), mk.ValidationError, "position"),
]


@pytest.mark.parametrize(("name", "call", "error", "field"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_a_typed_error_and_changes_nothing(
    m: mk.Marketplace, snapshot: Callable[[mk.Marketplace], dict[str, Any]], name: str,
    call: Callable[[mk.Marketplace], Any], error: type[Exception], field: str | None,
) -> None:
    before_search = m.catalog.search(limit=100)
    # the edit cases create their service first: compare from after that point
    if name.startswith(("seller edits", "edit ", "reject")):
        svc = create(m)
        m.catalog.create_service = lambda **kw: svc  # type: ignore[method-assign]
        before_search = m.catalog.search(limit=100)
    before = snapshot(m)
    with pytest.raises(error) as exc:
        call(m)
    if field is not None:
        assert getattr(exc.value, "field", None) == field
    assert snapshot(m) == before
    assert m.catalog.search(limit=100) == before_search
