"""Tests for microkit.catalog._normalize: folding rules, terms and FTS5 quoting."""

from __future__ import annotations

import functools
import sqlite3
from contextlib import closing

import pytest
from hypothesis import given
from hypothesis import strategies as st

from microkit.catalog._normalize import (
    MAX_QUERY_TERMS,
    MAX_TERM_CHARS,
    fts5_match,
    index_terms,
    normalize,
    query_terms,
    tokens,
)
from microkit.catalog._textindex import InvertedIndex


def matches(stored: str, query: str) -> bool:
    """Whether a document with text `stored` is a hit for `query` (AND semantics)."""
    terms = query_terms(query)
    return bool(terms) and set(terms) <= set(index_terms(stored))


# ---------------------------------------------------------------------------
# normalize / tokens
# ---------------------------------------------------------------------------

NORMALIZE_CASES = [
    # (what, input, expected)
    ("empty", "", ""),
    ("tashkeel", "تَصْمِيمٌ شِعَارٍ", "تصميم شعار"),
    ("shadda", "محمّد", "محمد"),
    ("tanween on alef", "مجاناً", "مجانا"),
    ("superscript alef", "هٰذا", "هذا"),
    ("quranic marks", "الرَّحِيمِ ۝ ۖ", "الرحيم"),
    ("tatweel", "تـــصميم", "تصميم"),
    ("hamza above alef", "أندرويد", "اندرويد"),
    ("hamza below alef", "إسلامي", "اسلامي"),
    ("madda", "آيفون", "ايفون"),
    ("wasla", "ٱستضافة", "استضافه"),
    ("alef maksura", "مستشفى", "مستشفي"),
    ("taa marbuta", "مدرسة", "مدرسه"),
    ("hamza on waw", "مسؤول", "مسوول"),
    ("hamza on yeh", "رئيس", "رييس"),
    ("decomposed hamza", "ا\u0654ندرويد", "اندرويد"),
    ("persian keheh and yeh", "کتاب عربی", "كتاب عربي"),
    ("arabic-indic digits", "خلال ٢٤ ساعة", "خلال 24 ساعه"),
    ("persian digits", "۰۱۲۳۴۵۶۷۸۹", "0123456789"),
    ("zero-width non-joiner", "تص\u200cميم", "تصميم"),
    ("right-to-left mark", "\u200fتصميم\u200f", "تصميم"),
    ("presentation forms", "ﺗﺼﻤﻴﻢ", "تصميم"),
    ("lam-alef ligature", "ﻻ", "لا"),
    ("latin case", "LOGO Design", "logo design"),
    ("casefold, not lower", "STRASSE Straße", "strasse strasse"),
    ("latin accents", "Café RÉSUMÉ", "cafe resume"),
    ("dotted capital I", "İstanbul", "istanbul"),
    ("full-width", "ＬＯＧＯ１２", "logo12"),
    ("arabic punctuation", "تصميم،شعار؛ لماذا؟", "تصميم شعار لماذا"),
    ("latin punctuation", "logo-design, (fast)! c++ node.js", "logo design fast c node js"),
    ("underscore separates", "snake_case", "snake case"),
    ("whitespace collapsed", "  a \t\n  b\u00a0\u3000c  ", "a b c"),
    ("controls and NUL", "a\x00b\x1fc", "a b c"),
    ("lone surrogate", "a\ud800b", "a b"),
    ("emoji", "🔥تصميم🔥", "تصميم"),
]


@pytest.mark.parametrize(("what", "text", "expected"), NORMALIZE_CASES)
def test_normalize(what: str, text: str, expected: str) -> None:
    assert normalize(text) == expected, what


def test_tokens_are_the_normalized_words() -> None:
    assert tokens("  أهلاً،  بالعالم!! ١٠ ") == ["اهلا", "بالعالم", "10"]
    assert tokens("؟!، ...") == []


# ---------------------------------------------------------------------------
# Matching: every rule checked in both directions
# ---------------------------------------------------------------------------

EQUIVALENT = [
    # (what, one spelling, another spelling)
    ("tashkeel", "تَصْمِيم", "تصميم"),
    ("tatweel", "تـــصميم", "تصميم"),
    ("hamza above", "أندرويد", "اندرويد"),
    ("hamza below", "إسلامي", "اسلامي"),
    ("madda", "آيفون", "ايفون"),
    ("alef maksura", "مستشفى", "مستشفي"),
    ("final yeh as maksura", "عربى", "عربي"),
    ("taa marbuta", "مدرسة", "مدرسه"),
    ("hamza on waw", "مسؤول", "مسوول"),
    ("hamza on yeh", "رئيس", "رييس"),
    ("persian yeh", "عربی", "عربي"),
    ("persian keheh", "کتاب", "كتاب"),
    ("arabic-indic digits", "٢٤", "24"),
    ("persian digits", "۲۴", "24"),
    ("arabic-indic vs persian digits", "٢٤", "۲۴"),
    ("case", "LOGO", "logo"),
    ("presentation forms", "ﺗﺼﻤﻴﻢ", "تصميم"),
    ("zero-width non-joiner", "تص\u200cميم", "تصميم"),
    ("article", "التصميم", "تصميم"),
    ("wa + article", "والتصميم", "تصميم"),
    ("wa + article vs article", "والتصميم", "التصميم"),
    ("bi + article", "بالتصميم", "تصميم"),
    ("ka + article", "كالتصميم", "تصميم"),
    ("fa + article", "فالتصميم", "التصميم"),
    ("li + article", "للتصميم", "تصميم"),
    ("conjunction wa", "وتصميم", "تصميم"),
    ("wa + bi + article", "وبالتصميم", "تصميم"),
    ("two-letter stem after article", "الخط", "خط"),
    ("article on a word starting with أل", "الألوان", "ألوان"),
    ("article on a word starting with إل", "الإلكتروني", "إلكتروني"),
    ("article + hamza + maksura + tashkeel", "المُسْتَشْفَى", "مستشفي"),
]


@pytest.mark.parametrize(("what", "a", "b"), EQUIVALENT)
def test_equivalent_spellings_match_both_ways(what: str, a: str, b: str) -> None:
    assert matches(a, b), f"{what}: text {a!r} not found by query {b!r}"
    assert matches(b, a), f"{what}: text {b!r} not found by query {a!r}"


DISTINCT = [
    # (what, one word, another word): must NOT match, in either direction
    ("wa kept when 2 letters would remain", "وصف", "صف"),
    ("wa kept on a 3-letter root", "وقت", "قت"),
    ("article kept when 1 letter would remain", "الم", "م"),
    ("single-letter bi prefix is not stripped", "بتصميم", "تصميم"),
    ("single-letter li prefix is not stripped", "لتصميم", "تصميم"),
    ("different words", "تصميم", "ترجمة"),
    ("digits are not letters", "24", "٢٥"),
]


@pytest.mark.parametrize(("what", "a", "b"), DISTINCT)
def test_distinct_words_do_not_match(what: str, a: str, b: str) -> None:
    assert not matches(a, b), what
    assert not matches(b, a), what


# ---------------------------------------------------------------------------
# index_terms / query_terms
# ---------------------------------------------------------------------------


def test_index_terms_one_base_form_per_occurrence() -> None:
    text = "والتصميم الجميل، تصميم و LOGO logo ٢٤"
    assert index_terms(text) == ["تصميم", "جميل", "تصميم", "و", "logo", "logo", "24"]


def test_article_stripping_repeats_to_a_fixed_point() -> None:
    # Both become the same term, which a strip-once rule would not achieve.
    assert index_terms("الإلكتروني") == index_terms("إلكتروني") == ["كتروني"]
    assert index_terms("والد الوالد") == ["الد", "الد"]


def test_query_terms_are_the_index_terms_deduplicated() -> None:
    assert query_terms("التصميم تصميم والتصميم شعار") == ["تصميم", "شعار"]


def test_query_terms_keeps_only_the_first_terms() -> None:
    words = [f"w{i}" for i in range(MAX_QUERY_TERMS + 10)]
    assert query_terms(" ".join(words)) == words[:MAX_QUERY_TERMS]


def test_long_words_are_cut_the_same_way_at_index_and_query_time() -> None:
    word = "ا" + "ب" * 500
    (term,) = query_terms(word)
    assert len(term) == MAX_TERM_CHARS
    assert index_terms(word) == [term]


def test_over_long_query_is_cut_without_a_half_word() -> None:
    query = "تصميم " + "x" * 5000
    assert query_terms(query) == ["تصميم"]
    # A word ending exactly at the cut is dropped too: it cannot be told apart.
    query = "a " * 3000
    assert query_terms(query) == ["a"]


@pytest.mark.parametrize(
    "query",
    ["", "   ", "...!?", "،؛؟", "ًٌٍَُِّْ", "ـــــ", "\u200c\u200f", "🔥🔥", '"', "*", "-", "()"],
)
def test_queries_without_words_give_no_terms(query: str) -> None:
    assert query_terms(query) == []
    assert fts5_match(query_terms(query)) is None


# ---------------------------------------------------------------------------
# FTS5
# ---------------------------------------------------------------------------


def test_fts5_match_quotes_every_term() -> None:
    assert fts5_match(["تصميم", "logo"]) == '"تصميم" AND "logo"'
    assert fts5_match(['a"b']) == '"a""b"'
    assert fts5_match(["a\x00b"]) == '"a b"'
    assert fts5_match([]) is None


@functools.cache
def _fts_available() -> bool:
    try:
        sqlite3.connect(":memory:").execute("CREATE VIRTUAL TABLE t USING fts5(body)")
    except sqlite3.OperationalError:
        return False
    return True


def _fts_table(docs: dict[str, str]) -> sqlite3.Connection:
    if not _fts_available():
        pytest.skip("this SQLite has no FTS5")
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE VIRTUAL TABLE t USING fts5(doc_id UNINDEXED, body,"
        " tokenize='unicode61 remove_diacritics 0')"
    )
    conn.executemany(
        "INSERT INTO t(doc_id, body) VALUES (?, ?)",
        [(doc_id, " ".join(index_terms(text))) for doc_id, text in docs.items()],
    )
    return conn


def _fts_hits(conn: sqlite3.Connection, query: str) -> set[str]:
    expr = fts5_match(query_terms(query))
    if expr is None:
        return set()
    return {row[0] for row in conn.execute("SELECT doc_id FROM t WHERE t MATCH ?", (expr,))}


CORPUS = {
    "d1": "تصميم شعار احترافي لشركتك",
    "d2": "التَّصميم الإبداعي للشعارات",
    "d3": "والتصميم بالألوان المميزة",
    "d4": "Logo Design – LOGO لمتجرك",
    "d5": "كتابة مقالات حصرية خلال ٢٤ ساعة",
    "d6": "ترجمة إنجليزية عربية احترافية",
    "d7": 'He said "NEAR(x) OR y*" -- DROP TABLE services; \'',
    "d8": "مدرسة ومستشفى",
    "d9": "متجر إلكتروني",
    "d10": "المتجر الإلكتروني كامل",
}

FTS_QUERIES = [
    # (query, expected hits)
    ("تصميم", {"d1", "d2", "d3"}),
    ("التصميم", {"d1", "d2", "d3"}),
    ("والتَّصميم", {"d1", "d2", "d3"}),
    ("تصميم شعار", {"d1"}),
    ("logo", {"d4"}),
    ("LOGO design", {"d4"}),
    ("٢٤ ساعه", {"d5"}),
    ("24", {"d5"}),
    ("ترجمه احترافيه", {"d6"}),
    ("احترافي", {"d1"}),
    ("ألوان", {"d3"}),
    ('"near(x) OR', {"d7"}),
    ("drop table", {"d7"}),
    ("' OR 1=1 --", set()),
    ("OR", {"d7"}),
    ("*", set()),
    ("متجر إلكتروني", {"d9", "d10"}),
    ("مستشفي المدرسة", {"d8"}),
    ("غير موجود", set()),
]


@pytest.mark.parametrize(("query", "expected"), FTS_QUERIES)
def test_fts5_and_inverted_index_agree(query: str, expected: set[str]) -> None:
    index = InvertedIndex()
    for doc_id, text in CORPUS.items():
        index.add(doc_id, text)
    with closing(_fts_table(CORPUS)) as conn:
        assert _fts_hits(conn, query) == expected
    assert set(index.search(query_terms(query))) == expected


HOSTILE = [
    '"',
    '""',
    '"""',
    "*",
    "-",
    "--",
    "NEAR(",
    "NEAR(a b, 5)",
    "OR",
    "AND",
    "NOT",
    "a OR b",
    "a NOT b",
    "-a",
    "+a",
    "^a",
    "a*",
    "(a",
    "a)",
    "{a b}: c",
    "body: x",
    "body:x",
    "'; DROP TABLE t; --",
    "' OR '1'='1",
    'a" OR "b',
    "\x00",
    "a\x00b",
    "\ud800",
    "\\",
    "%_%",
    "ا" * 5000,
    "تصميم " * 1000,
    '"*' * 2500,
]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_are_plain_data(query: str) -> None:
    terms = query_terms(query)
    assert len(terms) <= MAX_QUERY_TERMS
    for term in terms:
        assert term
        assert len(term) <= MAX_TERM_CHARS
        assert normalize(term) == term  # only letters/digits: no FTS5 syntax survives
    with closing(_fts_table({"d1": "a b body x near or and not تصميم"})) as conn:
        _fts_hits(conn, query)  # must not raise


@functools.cache
def _shared_fts() -> sqlite3.Connection:
    return _fts_table({"d1": "تصميم شعار logo", "d2": "ترجمة مقالات"})


@given(st.text())
def test_query_terms_never_raise_and_fts5_accepts_them(query: str) -> None:
    terms = query_terms(query)
    assert len(terms) <= MAX_QUERY_TERMS
    assert all(0 < len(t) <= MAX_TERM_CHARS for t in terms)
    _fts_hits(_shared_fts(), query)


@given(st.lists(st.text(), max_size=20))
def test_fts5_match_of_any_terms_is_valid_syntax(terms: list[str]) -> None:
    expr = fts5_match(terms)
    if expr is None:
        assert terms == []
        return
    _shared_fts().execute("SELECT count(*) FROM t WHERE t MATCH ?", (expr,)).fetchall()


@given(st.text())
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once
    assert tokens(text) == once.split()


@given(st.text(max_size=400))
def test_a_document_is_found_by_its_own_text(text: str) -> None:
    # Index and query share one rule: every query term is an index term of the same text,
    # and base forms are fixed points.
    terms = query_terms(text)
    assert set(terms) <= set(index_terms(text))
    for term in terms:
        assert query_terms(term) == [term]


_VARIANTS = {
    "تصميم": ["تصميم", "التصميم", "والتصميم", "تَصْمِيم", "بالتصميم"],
    "شعار": ["شعار", "الشعار", "شعـار", "للشعار"],
    "ترجمة": ["ترجمة", "ترجمه", "الترجمة", "وترجمة"],
    "إلكتروني": ["إلكتروني", "الكتروني", "الإلكتروني", "إلكترونى"],
    "logo": ["logo", "LOGO", "Logo"],
    "24": ["24", "٢٤", "۲۴"],
}
_SURFACE = st.sampled_from(sorted(_VARIANTS)).flatmap(lambda w: st.sampled_from(_VARIANTS[w]))


@given(
    st.lists(st.lists(_SURFACE, max_size=6).map(" ".join), min_size=1, max_size=8),
    st.lists(_SURFACE, min_size=1, max_size=3).map(" ".join),
)
def test_fts5_and_inverted_index_agree_on_random_corpora(docs: list[str], query: str) -> None:
    corpus = {f"d{i}": text for i, text in enumerate(docs)}
    index = InvertedIndex()
    for doc_id, text in corpus.items():
        index.add(doc_id, text)
    with closing(_fts_table(corpus)) as conn:
        assert _fts_hits(conn, query) == set(index.search(query_terms(query)))
