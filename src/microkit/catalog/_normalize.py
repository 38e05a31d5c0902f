"""Arabic-aware text normalization and search terms, shared by indexing and querying."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Final

__all__ = [
    "MAX_QUERY_TERMS",
    "MAX_TERM_CHARS",
    "fts5_match",
    "index_terms",
    "index_text",
    "normalize",
    "query_terms",
    "tokens",
]

#: At most this many distinct terms are taken from a query (the rest are ignored).
MAX_QUERY_TERMS: Final = 16
#: Terms are cut to this many characters, at index time and at query time alike.
MAX_TERM_CHARS: Final = 64
# A query longer than this is cut before normalizing: it bounds the work a hostile
# request can cause, and 16 terms of 64 letters (even fully vowelled) fit well within it.
_MAX_QUERY_CHARS: Final = 2048

# ---------------------------------------------------------------------------
# Character folding
# ---------------------------------------------------------------------------


def _explicit_rules() -> dict[str, str]:
    """The Arabic/Persian rules that Unicode normalization alone does not give us."""
    rules: dict[str, str] = {}
    deleted = [
        *range(0x064B, 0x0660),  # tashkeel: tanween, harakat, shadda, sukun, hamza/madda marks
        0x0670,  # superscript (dagger) alef
        *range(0x06D6, 0x06EE),  # Quranic annotation marks (some are Lm/So, not just Mn)
        0x0640,  # tatweel: a letter (Lm) by category, but purely decorative
    ]
    for cp in deleted:
        rules[chr(cp)] = ""
    # Users type hamza seats and final letters inconsistently; fold to the bare form.
    for variants, base in (
        ("أإآٱ", "ا"),
        ("ى", "ي"),
        ("ة", "ه"),
        ("ؤ", "و"),
        ("ئ", "ي"),
        ("ک", "ك"),  # Persian keheh -> Arabic kaf
        ("ی", "ي"),  # Persian yeh -> Arabic yeh
    ):
        for ch in variants:
            rules[ch] = base
    # Arabic-Indic and Persian digits (the generic Nd rule would do this too; explicit
    # here because it is a documented promise, not an accident of the fallback).
    for i in range(10):
        rules[chr(0x0660 + i)] = str(i)
        rules[chr(0x06F0 + i)] = str(i)
    return rules


_EXPLICIT: Final = _explicit_rules()
# Combining marks and invisible format characters (ZWJ/ZWNJ, LRM/RLM, soft hyphen)
# are deleted rather than treated as separators: they sit *inside* words.
_DELETED_CATEGORIES: Final = frozenset({"Mn", "Me", "Cf"})
# Unbounded growth would let hostile input with many distinct code points eat memory.
_TABLE_LIMIT: Final = 1 << 16


def _fold_decomposed(ch: str) -> str:
    """Fold one character that is already decomposed and case-folded."""
    explicit = _EXPLICIT.get(ch)
    if explicit is not None:
        return explicit
    cat = unicodedata.category(ch)
    if cat == "Nd":
        return str(unicodedata.decimal(ch))
    if cat[0] in "LN" or cat == "Mc":
        return ch
    if cat in _DELETED_CATEGORIES:
        return ""
    return " "  # punctuation (incl. ، ؛ ؟), symbols, spaces, controls, unassigned


def _fold_char(ch: str) -> str:
    """Fold one code point to its search form: "" (dropped), " " (separator) or letters.

    Compatibility decomposition is done per character, and every combining mark is
    then dropped, so precomposed and decomposed spellings fold identically without a
    whole-string normalization pass (presentation forms, ligatures, full-width
    letters and accented Latin letters all unfold: "ﻻ" -> "لا", "é" -> "e").
    """
    explicit = _EXPLICIT.get(ch)
    if explicit is not None:
        return explicit
    # casefold() can yield precomposed letters ("Ä" -> "ä"), hence the second NFKD.
    expanded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", ch).casefold())
    return "".join(_fold_decomposed(c) for c in expanded)


class _FoldTable(dict[int, str]):
    """``str.translate`` table, filled lazily: each code point is classified once."""

    def __missing__(self, cp: int) -> str:
        folded = _fold_char(chr(cp))
        if len(self) < _TABLE_LIMIT:
            self[cp] = folded
        return folded


_TABLE: Final = _FoldTable()


def _words(text: str) -> list[str]:
    # One C-level translate pass does all folding; split() then drops separators.
    return text.translate(_TABLE).split()


def tokens(text: str) -> list[str]:
    """Split text into normalized words.

    Args:
        text: Any text.

    Returns:
        The words of ``normalize(text)``: runs of letters and digits, in order,
        duplicates kept.
    """
    return _words(text)


def normalize(text: str) -> str:
    """Normalize text for search.

    Rules, applied per character: compatibility decomposition (NFKD: presentation
    forms, ligatures and full-width forms unfold) with every combining mark dropped,
    which removes Arabic tashkeel (U+064B-U+065F, U+0670) and Latin accents alike;
    Quranic marks (U+06D6-U+06ED), tatweel and invisible format characters (ZWNJ,
    RLM ...) dropped; أ إ آ ٱ -> ا, ى -> ي, ة -> ه, ؤ -> و, ئ -> ي, ک -> ك, ی -> ي;
    every decimal digit (Arabic-Indic, Persian ...) -> ASCII; ``casefold()``; anything
    that is not a letter, digit or spacing mark (punctuation incl. ، ؛ ؟, symbols,
    whitespace) -> a single space; leading/trailing space removed.

    Args:
        text: Any text.

    Returns:
        The normalized words joined by single spaces ("" if there are none).
    """
    return " ".join(_words(text))


# ---------------------------------------------------------------------------
# Terms
# ---------------------------------------------------------------------------

# Definite article and its clitic combinations, in normalized form (أ/إ already
# folded to ا).  Single-letter ب ل ك ف prefixes are never stripped: too many
# ordinary words start with those letters.
_ARTICLES_3: Final = frozenset({"وال", "بال", "كال", "فال"})
_ARTICLES_2: Final = frozenset({"لل", "ال"})
_PREFIX_LETTERS: Final = frozenset("وبكفلا")


def _term(word: str) -> str:
    """The base form of one normalized word; the single place the stemming rule lives.

    Rule: repeatedly strip a leading ``وال``/``بال``/``كال``/``فال`` (longest first)
    or ``لل``/``ال`` when at least 2 letters remain, or else a leading conjunction
    ``و`` when at least 3 letters remain; stop when none applies; then cut to
    ``MAX_TERM_CHARS``.

    Repeating (instead of stripping once) makes ``_term("ال" + w) == _term(w)`` for
    every ``w`` of 2+ letters, even when ``w`` itself starts with ال after folding:
    "الألوان" and "ألوان" both become "وان", "الإلكتروني" and "إلكتروني" both
    "كتروني".  A strip-once rule would leave such pairs unmatched.  The 3-letter
    floor for و keeps common roots intact (وصف, وقت, ولد are not touched).
    """
    while True:
        n = len(word)
        if n >= 5 and word[:3] in _ARTICLES_3:  # 3-letter article, 2+ letters left
            word = word[3:]
        elif n >= 4 and word[:2] in _ARTICLES_2:  # 2-letter article, 2+ letters left
            word = word[2:]
        elif n >= 4 and word[0] == "و":  # conjunction, 3+ letters left
            word = word[1:]
        else:
            return word[:MAX_TERM_CHARS]


def _fold_terms(token: str) -> tuple[str, ...]:
    # Inline fast path: most words (all Latin ones) start with no prefix letter and
    # are short; skipping the call for them roughly halves the cost.
    return tuple(
        word if word[0] not in _PREFIX_LETTERS and len(word) <= MAX_TERM_CHARS else _term(word)
        for word in _words(token)
    )


# Whitespace-separated token -> its terms. Marketplace text repeats words a lot, and
# str.translate costs ~0.2 us per non-ASCII character, so this makes indexing several
# times faster. Exact: every character str.split() splits on folds to a separator too
# (Zs/Zl/Zp and C0/C1 spaces), so folding token by token gives the same words.
_TOKEN_CACHE: Final[dict[str, tuple[str, ...]]] = {}
_TOKEN_CACHE_LIMIT: Final = 1 << 17  # entries; bounded against hostile input
_CACHED_TOKEN_CHARS: Final = 64


def _token_terms(token: str) -> tuple[str, ...]:
    """The terms of one whitespace-free token; cached."""
    cache = _TOKEN_CACHE
    terms = cache.get(token)
    if terms is None:
        terms = _fold_terms(token)
        if len(token) <= _CACHED_TOKEN_CHARS:
            if len(cache) >= _TOKEN_CACHE_LIMIT:
                cache.clear()
            cache[token] = terms
    return terms


def _terms(text: str) -> list[str]:
    out: list[str] = []
    cache = _TOKEN_CACHE
    for token in text.split():
        terms = cache.get(token)
        if terms is None:
            terms = _token_terms(token)
        out += terms
    return out


# The same, joined: token -> its terms joined by single spaces ("" when it has none),
# so a document's index text is one lookup per token and one join (the split into
# tokens is most of what is left). Terms hold no whitespace, so joining the pieces
# gives " ".join(index_terms(text)) except for the stray spaces a "" piece leaves.
_TEXT_CACHE: Final[dict[str, str]] = {}


def _token_text(token: str) -> str:
    joined = " ".join(_token_terms(token))
    if len(token) <= _CACHED_TOKEN_CHARS:
        if len(_TEXT_CACHE) >= _TOKEN_CACHE_LIMIT:
            _TEXT_CACHE.clear()
        _TEXT_CACHE[token] = joined
    return joined


def index_text(text: str) -> str:
    """``" ".join(index_terms(text))``, the form a search document holds its text in.

    Args:
        text: Document text (title, description ...).

    Returns:
        The base-form terms in document order, joined by single spaces ("" if none).
    """
    tokens = text.split()
    try:
        joined = " ".join(map(_TEXT_CACHE.__getitem__, tokens))
    except KeyError:
        joined = " ".join([_TEXT_CACHE.get(token) or _token_text(token) for token in tokens])
    # A token of only punctuation or marks has no terms: its "" leaves a stray space.
    if joined[:1] == " " or joined[-1:] == " " or "  " in joined:
        return " ".join(joined.split())
    return joined


def index_terms(text: str) -> list[str]:
    """The terms to index for a document.

    Every word occurrence contributes exactly one term, its base form (see
    ``query_terms``), duplicates kept so BM25 sees real term frequencies.  The
    surface form is deliberately *not* indexed as well: queries are always reduced
    to base forms, so it could never match and would only inflate document lengths
    for words that carry an article.

    Args:
        text: Document text (title, description ...).

    Returns:
        Base-form terms in document order.
    """
    return _terms(text)


def query_terms(query: str) -> list[str]:
    """The terms to search for; a document matches when it contains all of them.

    Each word is normalized like ``normalize`` and reduced to its base form exactly
    as at index time: leading ال / وال / بال / كال / فال / لل are stripped (repeatedly)
    while 2+ letters remain, a leading و while 3+ letters remain.  So "التصميم",
    "تصميم", "والتصميم" and "بالتصميم" all give "تصميم".  Terms are cut to
    ``MAX_TERM_CHARS``; duplicates are dropped (first occurrence wins) and only the
    first ``MAX_QUERY_TERMS`` are kept.  A query over 2048 characters is cut there
    (dropping a word the cut may have split).  Never raises; query syntax has no
    meaning here, ``"``, ``*``, ``OR``, ``NEAR(`` are plain text or separators.

    Args:
        query: Raw user input.

    Returns:
        Base-form terms in query order; ``[]`` for empty, punctuation-only or
        diacritics-only input.
    """
    if len(query) > _MAX_QUERY_CHARS:
        words = _words(query[:_MAX_QUERY_CHARS])
        if words and not query[_MAX_QUERY_CHARS].isspace():
            words.pop()  # possibly half a word: it would match nothing
        unique = dict.fromkeys(_term(word) for word in words)
    else:
        unique = dict.fromkeys(_terms(query))
    return list(unique)[:MAX_QUERY_TERMS]


def fts5_match(terms: Sequence[str]) -> str | None:
    """Build an SQLite FTS5 MATCH expression requiring every term.

    Each term becomes an FTS5 string (double-quoted, inner ``"`` doubled), so it
    is always data, never operators or column filters; terms are joined by ``AND``.
    NUL cannot appear inside an FTS5 string, so it is replaced by a space.  Bind the
    result as a parameter (``... MATCH ?``); never splice it into SQL text.

    Args:
        terms: Terms, normally from ``query_terms``.

    Returns:
        The expression, or ``None`` when there are no terms (nothing to match).
    """
    if not terms:
        return None
    return " AND ".join('"' + term.replace("\x00", " ").replace('"', '""') + '"' for term in terms)
