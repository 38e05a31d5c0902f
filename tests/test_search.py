"""Catalog search: the same assertions on every backend (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import microkit as mk
from microkit import Actor, Money
from microkit.catalog import _normalize as N
from microkit.catalog.stats import record_rating, record_sale
from microkit.levels import LevelLadder

MarketFactory = Callable[..., mk.Marketplace]
STAFF = Actor.staff("ops")
OMAR, HUDA = Actor.user("omar"), Actor.user("huda")


class Shop:
    """A market with two sellers, a category tree design > logos, and a helper to add
    approved services (each one minute newer than the last)."""

    def __init__(self, market: mk.Marketplace, clock: Any) -> None:
        self.m, self.clock = market, clock
        market.users.register("omar", display_name="عمر")
        market.users.register("huda", display_name="Huda")
        market.users.register("amal", display_name="أمل")
        cat = market.catalog
        cat.add_category("design", names={"ar": "تصميم", "en": "Design"}, by=STAFF)
        cat.add_category("logos", names={"en": "Logos"}, parent="design", by=STAFF)
        cat.add_category("writing", names={"ar": "كتابة", "en": "Writing"}, by=STAFF)

    def add(self, title: str, *, description: str = "وصف الخدمة", category: str = "design",
            price: str = "5", days: int = 2, by: Actor = OMAR, tags: tuple[str, ...] = (),
            approve: bool = True) -> mk.Service:
        self.clock.advance(minutes=1)
        svc = self.m.catalog.create_service(
            by=by, category=category, title=title, description=description,
            price=Money.of(price, "USD"), delivery_days=days, tags=tags)
        return self.m.catalog.approve(svc.id, by=STAFF) if approve else svc

    def ids(self, *args: Any, **kw: Any) -> list[str]:
        return [h.service.id for h in self.m.catalog.search(*args, **kw).hits]


@pytest.fixture
def shop(make_market: MarketFactory, clock: Any) -> Shop:
    # Shops list more services per seller than a new seller may have: no level limits here.
    return Shop(make_market(mk.MarketConfig.khamsat().evolve(levels=LevelLadder.single())),
                clock)


# -- Arabic-aware matching ----------------------------------------------------------

SPELLINGS = [
    # (stored title, query): each must find the other, both directions
    ("تَصْمِيمُ شِعَارٍ", "تصميم شعار"),
    ("تصميم", "تَصْمِيم"),
    ("تـــصميم", "تصميم"),
    ("إعلان", "اعلان"),
    ("أندرويد", "اندرويد"),
    ("آيفون", "ايفون"),
    ("مدرسة", "مدرسه"),
    ("مستشفى", "مستشفي"),
    ("عربی کتاب", "عربي كتاب"),
    ("سؤال", "سوال"),
    ("رئيس", "رييس"),
    ("٢٤", "24"),
    ("۲۴", "24"),
    ("LOGO", "logo"),
    ("Café résumé", "cafe resume"),
    ("التصميم", "تصميم"),
    ("بالتصميم", "التصميم"),
    ("والتصميم", "تصميم"),
    ("للتصميم", "تصميم"),
]


@pytest.mark.parametrize(("stored", "query"), SPELLINGS, ids=[q for _, q in SPELLINGS])
def test_spelling_variants_match_both_ways(shop: Shop, stored: str, query: str) -> None:
    a = shop.add(stored)
    b = shop.add(query)
    assert set(shop.ids(query)) >= {a.id, b.id}
    assert set(shop.ids(stored)) >= {a.id, b.id}


def test_different_words_do_not_match(shop: Shop) -> None:
    shop.add("تصميم شعار")
    assert shop.ids("ترجمة") == []
    assert shop.ids("شعار ترجمة") == []  # every term must occur


def test_description_and_tags_are_searched(shop: Shop) -> None:
    a = shop.add("خدمة أولى", description="كتابة مقالات حصرية")
    b = shop.add("خدمة ثانية", tags=("ووردبريس",))
    assert shop.ids("مقالات") == [a.id]
    assert shop.ids("ووردبريس") == [b.id]


# -- hostile and empty queries --------------------------------------------------------

HOSTILE = ['"', '""', "*", "تصميم*", "NEAR(", "NEAR(تصميم شعار)", "OR", "تصميم OR شعار",
           "-تصميم", "AND", "NOT", "title:تصميم", "{title}:x", "^تصميم", "'; DROP TABLE x; --",
           "\x00", "a" * 5000, "تصميم " * 1000, "(", ")", ":", "+", "%", "_", "\\"]


@pytest.mark.parametrize("query", HOSTILE, ids=range(len(HOSTILE)))
def test_query_syntax_is_plain_data(shop: Shop, query: str) -> None:
    svc = shop.add("تصميم شعار", description="OR AND NOT NEAR")
    page = shop.m.catalog.search(query)
    expected = set(N.query_terms(query)) <= set(N.index_terms("تصميم شعار OR AND NOT NEAR"))
    assert [h.service.id for h in page.hits] == ([svc.id] if expected and N.query_terms(query)
                                                 else [])


@pytest.mark.parametrize("query", ["!!!", "؟،؛", "...", "َُِّْ", "ـــ", "\u200c\u200f"])
def test_queries_without_words_find_nothing(shop: Shop, query: str) -> None:
    shop.add("تصميم شعار")
    assert shop.m.catalog.search(query) == mk.SearchPage((), None)


def test_blank_query_lists_everything(shop: Shop) -> None:
    a, b = shop.add("تصميم شعار"), shop.add("كتابة", category="writing")
    assert shop.ids(None) == shop.ids("  ") == [b.id, a.id]


# -- filters --------------------------------------------------------------------------

def test_category_includes_subcategories(shop: Shop) -> None:
    a = shop.add("شعار أول", category="design")
    b = shop.add("شعار ثان", category="logos")
    c = shop.add("شعار ثالث", category="writing")
    assert shop.ids("شعار", category="design") == [b.id, a.id]
    assert shop.ids("شعار", category="logos") == [b.id]
    assert shop.ids("شعار", category="writing") == [c.id]
    assert shop.ids(category="design", sort="newest") == [b.id, a.id]
    with pytest.raises(mk.NotFound):
        shop.m.catalog.search("شعار", category="music")


def test_price_days_seller_filters(shop: Shop) -> None:
    a = shop.add("شعار", price="5", days=1)
    b = shop.add("شعار", price="20", days=3)
    c = shop.add("شعار", price="50", days=7, by=HUDA)
    usd = shop.m.config.money
    assert shop.ids("شعار", min_price=usd("10")) == [c.id, b.id]
    assert shop.ids("شعار", max_price=usd("20")) == [b.id, a.id]
    assert shop.ids("شعار", min_price=usd("20"), max_price=usd("20")) == [b.id]
    assert shop.ids("شعار", min_price=usd("30"), max_price=usd("10")) == []
    assert shop.ids("شعار", max_delivery_days=3) == [b.id, a.id]
    assert shop.ids("شعار", seller="huda") == [c.id]
    assert shop.ids(seller="omar", sort="price") == [a.id, b.id]


def rate(m: mk.Marketplace, sid: str, *stars: int) -> None:
    with m.storage.write() as tx:
        for s in stars:
            record_rating(tx, sid, stars=s)


def sell(m: mk.Marketplace, sid: str, n: int) -> None:
    with m.storage.write() as tx:
        record_sale(tx, sid, count=n)


def test_rating_and_sales_sorts_and_filter(shop: Shop) -> None:
    a, b, c, d = (shop.add("شعار") for _ in range(4))
    rate(shop.m, a.id, 5, 4)      # 4.5 from 2
    rate(shop.m, b.id, 5)         # 5.0 from 1
    rate(shop.m, c.id, 4, 5)      # 4.5 from 2, newer than a
    sell(shop.m, a.id, 3)
    sell(shop.m, d.id, 7)
    assert shop.ids("شعار", sort="rating") == [b.id, c.id, a.id, d.id]
    assert shop.ids("شعار", sort="best_selling") == [d.id, a.id, c.id, b.id]
    assert shop.ids("شعار", min_rating=4.5) == [c.id, b.id, a.id]
    assert shop.ids("شعار", min_rating=4.6) == [b.id]
    assert shop.ids("شعار", min_rating=0) == [d.id, c.id, b.id, a.id]
    hit = shop.m.catalog.search("شعار", sort="rating").hits[1]
    assert hit.stats == mk.ServiceStats(0, 2, 4.5)


def test_price_sorts(shop: Shop) -> None:
    a, b, c = shop.add("شعار", price="10"), shop.add("شعار", price="5"), shop.add("شعار",
                                                                                   price="10")
    assert shop.ids("شعار", sort="price") == [b.id, c.id, a.id]
    assert shop.ids("شعار", sort="-price") == [c.id, a.id, b.id]
    assert shop.ids("شعار", sort="newest") == [c.id, b.id, a.id]


def test_relevance_puts_title_matches_first_then_newest(shop: Shop) -> None:
    in_title_old = shop.add("تصميم شعار")
    in_desc = shop.add("خدمة", description="تصميم شعار احترافي")
    split = shop.add("تصميم", description="شعار")
    in_title_new = shop.add("شعار وتصميم")
    assert shop.ids("تصميم شعار") == [in_title_new.id, in_title_old.id, split.id, in_desc.id]


# -- listing follows moderation and edits --------------------------------------------

def test_only_approved_services_are_found(shop: Shop) -> None:
    cat = shop.m.catalog
    pending = shop.add("شعار", approve=False)
    rejected = shop.add("شعار", approve=False)
    cat.reject(rejected.id, by=STAFF, reason="لا")
    paused = shop.add("شعار")
    cat.pause(paused.id, by=OMAR)
    suspended = shop.add("شعار")
    cat.suspend(suspended.id, by=STAFF, reason="مخالفة")
    live = shop.add("شعار")
    assert shop.ids("شعار") == [live.id]
    assert shop.ids(None) == [live.id]
    cat.resume(paused.id, by=OMAR)
    assert shop.ids("شعار") == [live.id, paused.id]
    assert pending.id not in shop.ids("شعار")


def test_an_edit_reindexes_and_waits_for_review(shop: Shop) -> None:
    cat = shop.m.catalog
    svc = shop.add("تصميم شعار", category="design")
    cat.update_service(svc.id, by=OMAR, title="كتابة مقال", category="writing",
                       price=Money.of("25", "USD"))
    assert shop.ids("تصميم") == [] and shop.ids("مقال") == []  # pending_review
    cat.approve(svc.id, by=STAFF)
    assert shop.ids("تصميم") == []
    assert shop.ids("مقال", category="writing", min_price=Money.of("25", "USD")) == [svc.id]
    assert shop.ids("مقال", category="design") == []


def test_a_failed_import_indexes_nothing(shop: Shop) -> None:
    good = mk.ServiceDraft("omar", "design", "شعار", "وصف", Money.of("5", "USD"), 1)
    bad = mk.ServiceDraft("omar", "design", "شعار", "وصف", Money.of("7", "USD"), 1)
    with pytest.raises(mk.PriceOutOfRange) as exc:
        shop.m.catalog.import_services([good, good, bad], by=STAFF)
    assert exc.value.field == "drafts[2].price"
    assert shop.ids("شعار") == [] and shop.ids(None) == []
    done = shop.m.catalog.import_services([good, good], by=STAFF)
    assert shop.ids("شعار") == [done[1].id, done[0].id]


# -- pages --------------------------------------------------------------------------

@pytest.mark.parametrize("sort", ["relevance", "newest", "price", "-price", "rating",
                                  "best_selling"])
def test_cursor_walks_every_hit_once_in_order(shop: Shop, sort: Any) -> None:
    rnd = random.Random(7)
    for i in range(23):
        title = "تصميم شعار" if i % 3 else "شعار"
        svc = shop.add(title, description="تصميم", price=str(5 * rnd.randint(1, 4)))
        if i % 4 == 0:
            rate(shop.m, svc.id, rnd.randint(1, 5))
        if i % 5 == 0:
            sell(shop.m, svc.id, rnd.randint(1, 3))
    everything = shop.ids("تصميم", sort=sort, limit=100)
    assert len(everything) == 23
    walked: list[str] = []
    cursor = None
    while True:
        page = shop.m.catalog.search("تصميم", sort=sort, limit=4, cursor=cursor)
        walked += [h.service.id for h in page.hits]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert walked == everything


def test_bad_cursors(shop: Shop) -> None:
    for _ in range(3):
        shop.add("شعار")
    cursor = shop.m.catalog.search("شعار", limit=1).next_cursor
    assert cursor
    for bad, kw in [(cursor, {"query": "تصميم"}), (cursor, {"query": "شعار", "sort": "price"}),
                    ("garbage!!", {"query": "شعار"}), ("e30", {"query": "شعار"}),
                    ("x" * 600, {"query": "شعار"}), (cursor, {"query": "!!!"})]:
        with pytest.raises(mk.ValidationError) as exc:
            shop.m.catalog.search(cursor=bad, limit=1, **kw)
        assert exc.value.field == "cursor"


BAD_ARGS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"query": 5}, mk.ValidationError, "query"),
    ({"sort": "best"}, mk.ValidationError, "sort"),
    ({"limit": 0}, mk.ValidationError, "limit"),
    ({"limit": 101}, mk.ValidationError, "limit"),
    ({"limit": True}, mk.ValidationError, "limit"),
    ({"min_price": 5}, mk.InvalidAmount, "min_price"),
    ({"max_price": Money.of("5", "LYD")}, mk.CurrencyMismatch, "max_price"),
    ({"max_delivery_days": 0}, mk.ValidationError, "max_delivery_days"),
    ({"max_delivery_days": 1.5}, mk.ValidationError, "max_delivery_days"),
    ({"min_rating": 6}, mk.ValidationError, "min_rating"),
    ({"min_rating": float("nan")}, mk.ValidationError, "min_rating"),
    ({"min_rating": "4"}, mk.ValidationError, "min_rating"),
    ({"category": ""}, mk.ValidationError, "category"),
    ({"seller": 3}, mk.ValidationError, "seller"),
    ({"cursor": 3}, mk.ValidationError, "cursor"),
]


@pytest.mark.parametrize(("kw", "error", "field"), BAD_ARGS, ids=[b[2] for b in BAD_ARGS])
def test_bad_search_arguments(shop: Shop, kw: dict[str, Any], error: type[Exception],
                              field: str) -> None:
    with pytest.raises(error) as exc:
        shop.m.catalog.search(**kw)
    assert getattr(exc.value, "field", None) == field


# -- the service page -------------------------------------------------------------------

def test_view_has_the_seller_profile_and_aggregates(shop: Shop) -> None:
    a, b = shop.add("شعار"), shop.add("بطاقة")
    rate(shop.m, a.id, 5, 4)
    rate(shop.m, b.id, 3)
    sell(shop.m, a.id, 2)
    sell(shop.m, b.id, 1)
    view = shop.m.catalog.view(a.id)
    assert view.service == shop.m.catalog.get(a.id)
    assert view.stats == mk.ServiceStats(orders_completed=2, rating_count=2, rating_avg=4.5)
    level = shop.m.levels.get("omar").level
    assert view.seller == mk.SellerProfile("omar", "عمر", level, mk.ServiceStats(3, 3, 4.0))
    pending = shop.add("شعار", approve=False)
    with pytest.raises(mk.NotFound):
        shop.m.catalog.view(pending.id)
    with pytest.raises(mk.NotFound), shop.m.storage.write() as tx:
        record_sale(tx, "s_nope")
    with pytest.raises(mk.ValidationError), shop.m.storage.write() as tx:
        record_rating(tx, a.id, stars=6)


# -- every backend returns the same pages ------------------------------------------------

_WORDS_TEXT = ("تصميم شعار هوية بصرية بطاقة أعمال بوستر إعلان غلاف كتاب ترجمة مقالات مقال"
               " برمجة موقع تطبيق أندرويد آيفون متجر إلكتروني logo design website app")
WORDS = tuple(_WORDS_TEXT.split())


def corpus_market(make: MarketFactory, clock: Any, seed: int) -> mk.Marketplace:
    rnd = random.Random(seed)
    m = make()
    Shop(m, clock)
    drafts = []
    for _ in range(120):
        words = rnd.choices(WORDS, k=rnd.randint(1, 4))
        prefixed = [("ال" + w if rnd.random() < 0.3 else w) for w in words]
        title = " ".join(prefixed)
        desc = " ".join(rnd.choices(WORDS, k=rnd.randint(2, 8)))
        drafts.append(mk.ServiceDraft(rnd.choice(["omar", "huda"]),
                                      rnd.choice(["design", "logos", "writing"]), title, desc,
                                      Money.of(str(5 * rnd.randint(1, 10)), "USD"),
                                      rnd.randint(1, 7)))
    m.catalog.import_services(drafts, by=STAFF)
    return m


def test_memory_and_sql_backends_return_identical_pages(
    make_market: MarketFactory, clock: Any, tmp_path: Any, backend: str
) -> None:
    if backend == "memory":
        pytest.skip("compared against memory below")
    sql = corpus_market(make_market, clock, 1)
    mem = corpus_market(lambda: mk.Marketplace.open("memory://",
                                                    config=mk.MarketConfig.khamsat(),
                                                    clock=clock, load_entry_points=False),
                        clock, 1)
    rnd = random.Random(3)
    for i, svc in enumerate(sql.catalog.services(limit=1000)):
        if i % 3 == 0:
            rate(sql, svc.id, (i % 5) + 1)
            sell(sql, svc.id, i % 4)
    for i, svc in enumerate(mem.catalog.services(limit=1000)):
        if i % 3 == 0:
            rate(mem, svc.id, (i % 5) + 1)
            sell(mem, svc.id, i % 4)

    def titles(m: mk.Marketplace, **kw: Any) -> list[tuple[str, str]]:
        page = m.catalog.search(**kw)
        return [(h.service.title, h.service.description) for h in page.hits]

    sorts = ["relevance", "newest", "price", "-price", "rating", "best_selling"]
    for _ in range(60):
        q = " ".join(rnd.choices(WORDS, k=rnd.randint(1, 2)))
        kw = {"query": q, "sort": rnd.choice(sorts), "limit": 10,
              "category": rnd.choice([None, "design", "logos", "writing"])}
        assert titles(sql, **kw) == titles(mem, **kw), kw
    # service ids differ between the two markets, but the ranking must not
    for sort in sorts:
        assert titles(sql, sort=sort, limit=50) == titles(mem, sort=sort, limit=50)


# -- the token cache is exact ------------------------------------------------------------

@given(st.text(alphabet=st.sampled_from(list("تصميم الشعار وب،.!\u200c\u0640\u064e ٢x\t\n\xa0")),
               max_size=60))
def test_cached_terms_equal_uncached(text: str) -> None:
    direct = [N._term(w) if w[0] in N._PREFIX_LETTERS or len(w) > N.MAX_TERM_CHARS else w
              for w in N._words(text)]
    assert N.index_terms(text) == direct
    assert N.index_terms(text) == direct  # second time from the cache


# -- bulk imports and the SQLite full-text index ------------------------------------------

def test_imports_and_creates_interleaved_list_newest_first(shop: Shop) -> None:
    made: list[str] = []
    for batch in (3, 1, 0, 5):
        made.append(shop.add("شعار مفرد").id)
        drafts = [mk.ServiceDraft("huda", "logos", f"شعار {i}", "وصف", Money.of("5", "USD"), 1)
                  for i in range(batch)]
        made += [s.id for s in shop.m.catalog.import_services(drafts, by=STAFF)]
    newest = list(reversed(made))
    assert shop.ids(None, sort="newest", limit=100) == newest
    assert shop.ids("شعار", limit=100) == newest  # all title hits: newest first
    page = shop.m.catalog.search("شعار", limit=4)
    rest = shop.m.catalog.search("شعار", limit=100, cursor=page.next_cursor)
    assert [h.service.id for h in (*page.hits, *rest.hits)] == newest


def test_a_term_is_one_token_on_every_backend(shop: Shop) -> None:
    # "हिन्दी" keeps its spacing vowel signs (category Mc) inside the term: a query for
    # a single letter of it must not match on SQLite either (unicode61 split the term).
    svc = shop.add("हिन्दी किताब")
    assert shop.ids("हिन्दी") == shop.ids("किताब") == [svc.id]
    assert shop.ids("क") == shop.ids("ताब") == []


def test_migration_7_rebuilds_the_full_text_index(tmp_path: Any, clock: Any) -> None:
    import sqlite3

    from microkit.storage._search_sql import MIGRATION_STATEMENTS

    url = f"sqlite:///{tmp_path}/old.db"
    config = mk.MarketConfig.khamsat().evolve(levels=LevelLadder.single())
    shop = Shop(mk.Marketplace.open(url, config=config, clock=clock, load_entry_points=False),
                clock)
    listed = shop.add("تصميم شعار", tags=("ألوان",))
    paused = shop.m.catalog.pause(shop.add("تصميم موقع").id, by=OMAR)
    pending = shop.add("تصميم بطاقة", approve=False)
    shop.m.close()
    # Back to the index migration 2 made (unicode61, listed rows only), not yet at 7.
    conn = sqlite3.connect(f"{tmp_path}/old.db", isolation_level=None)
    conn.execute("DROP TABLE catalog_fts")
    (create,) = [s["sqlite"] for s in MIGRATION_STATEMENTS
                 if isinstance(s, dict) and "catalog_fts" in s.get("sqlite", "")]
    conn.execute(create)
    conn.execute("INSERT INTO catalog_fts (rowid, title, body, cats)"
                 " SELECT rid, title, body, cats FROM catalog_search WHERE listed")
    conn.execute("DELETE FROM schema_migrations WHERE version = 7")
    conn.close()

    m = mk.Marketplace.open(url, config=config, clock=clock, load_entry_points=False)
    try:
        shop.m = m
        assert m.storage.schema_version() >= 7
        assert shop.ids("تصميم") == shop.ids("الوان") == [listed.id]
        m.catalog.resume(paused.id, by=OMAR)
        m.catalog.approve(pending.id, by=STAFF)
        assert shop.ids("تصميم") == [pending.id, paused.id, listed.id]
        m.catalog.update_service(listed.id, by=OMAR, title="كتابة مقال")  # delete, re-add
        m.catalog.approve(listed.id, by=STAFF)
        assert shop.ids("تصميم") == [pending.id, paused.id]
        assert shop.ids("مقال") == [listed.id]
        raw = sqlite3.connect(f"{tmp_path}/old.db")
        assert "ascii" in raw.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'catalog_fts'").fetchone()[0]
        raw.close()
    finally:
        m.close()
