"""Tests for microkit.catalog._textindex.InvertedIndex: AND matching and BM25 ranking."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from microkit.catalog._normalize import index_terms, query_terms
from microkit.catalog._textindex import BM25_B, BM25_K1, InvertedIndex


def make(**docs: str) -> InvertedIndex:
    index = InvertedIndex()
    for doc_id, text in docs.items():
        index.add(doc_id, text)
    return index


def test_empty_index() -> None:
    index = InvertedIndex()
    assert len(index) == 0
    assert index.search(["x"]) == {}
    assert index.search([]) == {}


def test_and_semantics() -> None:
    index = make(a="logo design", b="logo website", c="design")
    assert set(index.search(["logo"])) == {"a", "b"}
    assert set(index.search(["design"])) == {"a", "c"}
    assert set(index.search(["logo", "design"])) == {"a"}
    assert set(index.search(["design", "logo"])) == {"a"}
    assert index.search(["logo", "website", "design"]) == {}
    assert index.search(["logo", "missing"]) == {}
    assert index.search([]) == {}


def test_text_goes_through_index_terms() -> None:
    index = make(a="التَّصميم الإبداعي", b="ترجمة")
    assert set(index.search(query_terms("تصميم ابداعي"))) == {"a"}
    assert set(index.search(query_terms("والتصميم"))) == {"a"}


def test_re_adding_replaces_the_document() -> None:
    index = make(a="logo design")
    index.add("a", "website")
    assert len(index) == 1
    assert index.search(["logo"]) == {}
    assert set(index.search(["website"])) == {"a"}


def test_remove() -> None:
    index = make(a="logo design", b="logo")
    assert index.remove("a") is True
    assert len(index) == 1
    assert "a" not in index
    assert "b" in index
    assert index.search(["design"]) == {}
    assert set(index.search(["logo"])) == {"b"}
    assert index.remove("a") is False
    assert index.remove("never-added") is False


def test_removed_document_no_longer_affects_scores() -> None:
    # Same documents, one index with an extra document added then removed: IDF and
    # average length must be back to what they were.
    plain = make(a="logo design", b="logo")
    churned = make(a="logo design", b="logo", c="logo logo logo website banner")
    churned.remove("c")
    assert churned.search(["logo"]) == pytest.approx(plain.search(["logo"]))


def test_document_without_words_is_counted_but_never_found() -> None:
    index = make(a="...!!!", b="logo")
    assert len(index) == 2
    assert set(index.search(["logo"])) == {"b"}


def test_term_twice_in_short_text_outranks_once_in_long_text() -> None:
    index = make(
        short="logo logo design",
        long="logo design for your company with unlimited revisions and fast delivery",
        other="website",
    )
    scores = index.search(["logo"])
    assert set(scores) == {"short", "long"}
    assert scores["short"] > scores["long"] > 0


def test_shorter_document_wins_at_equal_frequency() -> None:
    index = make(short="logo design", long="logo design banner poster flyer icon")
    scores = index.search(["logo"])
    assert scores["short"] > scores["long"]


def test_more_occurrences_win_at_equal_length() -> None:
    index = make(two="logo logo a b", one="logo c d e")
    scores = index.search(["logo"])
    assert scores["two"] > scores["one"]


def test_term_in_every_document_still_scores_positive() -> None:
    index = make(a="logo", b="logo design", c="logo website")
    assert all(score > 0 for score in index.search(["logo"]).values())


def test_repeated_query_terms_count_once() -> None:
    index = make(a="logo design", b="logo")
    assert index.search(["logo", "logo"]) == index.search(["logo"])


def test_scores_follow_the_bm25_formula() -> None:
    index = make(a="x x y", b="y z")
    n_docs, avg_len = 2, (3 + 2) / 2

    def bm25(tf: int, doc_len: int, n_with_term: int) -> float:
        idf = math.log(1 + (n_docs - n_with_term + 0.5) / (n_with_term + 0.5))
        norm = BM25_K1 * (1 - BM25_B + BM25_B * doc_len / avg_len)
        return idf * tf * (BM25_K1 + 1) / (tf + norm)

    assert index.search(["x"]) == pytest.approx({"a": bm25(2, 3, 1)})
    assert index.search(["x", "y"]) == pytest.approx({"a": bm25(2, 3, 1) + bm25(1, 3, 2)})
    assert index.search(["y"]) == pytest.approx({"a": bm25(1, 3, 2), "b": bm25(1, 2, 2)})


_WORDS = st.sampled_from(["logo", "design", "تصميم", "التصميم", "ترجمة", "24", "٢٤", "web"])
_TEXT = st.lists(_WORDS, max_size=6).map(" ".join)
_OPS = st.lists(
    st.tuples(st.sampled_from(["add", "remove"]), st.sampled_from("abcde"), _TEXT), max_size=30
)


@given(_OPS, st.lists(_WORDS, max_size=3).map(" ".join))
def test_matches_a_brute_force_model(ops: list[tuple[str, str, str]], query: str) -> None:
    index = InvertedIndex()
    model: dict[str, str] = {}
    for op, doc_id, text in ops:
        if op == "add":
            index.add(doc_id, text)
            model[doc_id] = text
        else:
            assert index.remove(doc_id) is (model.pop(doc_id, None) is not None)
    assert len(index) == len(model)
    terms = query_terms(query)
    expected = {
        doc_id for doc_id, text in model.items() if terms and set(terms) <= set(index_terms(text))
    }
    scores = index.search(terms)
    assert set(scores) == expected
    assert all(score > 0 for score in scores.values())
