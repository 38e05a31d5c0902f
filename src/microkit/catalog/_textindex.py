"""Pure-Python inverted index with BM25 ranking, for the in-memory storage backend."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Final

from ._normalize import index_terms

__all__ = ["BM25_B", "BM25_K1", "InvertedIndex"]

#: BM25 term-frequency saturation.
BM25_K1: Final = 1.2
#: BM25 document-length normalization strength.
BM25_B: Final = 0.75


class InvertedIndex:
    """Documents indexed by ``index_terms``; AND search ranked by BM25.

    Matching is the same as the SQLite backend's FTS5 ``"t1" AND "t2" ...``: a
    document is a hit when it contains every query term.  Scores differ from FTS5's
    ``bm25()`` in sign (larger is better here) and in the IDF formula (see
    ``search``), so only the order within one index is meaningful.

    Not thread-safe: the owner must serialise writes against reads.
    """

    def __init__(self) -> None:
        # term -> {doc_id: term frequency}
        self._postings: dict[str, dict[str, int]] = {}
        # doc_id -> its distinct terms, so remove() touches only its own postings
        self._doc_terms: dict[str, tuple[str, ...]] = {}
        self._doc_len: dict[str, int] = {}
        self._total_len = 0

    def __len__(self) -> int:
        """Number of indexed documents (including ones with no terms)."""
        return len(self._doc_len)

    def __contains__(self, doc_id: object) -> bool:
        """Whether a document with this id is indexed."""
        return doc_id in self._doc_len

    def add(self, doc_id: str, text: str) -> None:
        """Index a document, replacing any previous version with the same id.

        Args:
            doc_id: Document identifier.
            text: Full searchable text; it is run through ``index_terms``.
        """
        self.remove(doc_id)
        terms = index_terms(text)
        counts = Counter(terms)
        for term, tf in counts.items():
            self._postings.setdefault(term, {})[doc_id] = tf
        self._doc_terms[doc_id] = tuple(counts)
        self._doc_len[doc_id] = len(terms)
        self._total_len += len(terms)

    def remove(self, doc_id: str) -> bool:
        """Drop a document from the index.

        Args:
            doc_id: Document identifier.

        Returns:
            True if it was indexed, False if there was nothing to remove.
        """
        terms = self._doc_terms.pop(doc_id, None)
        if terms is None:
            return False
        for term in terms:
            posting = self._postings[term]
            del posting[doc_id]
            if not posting:  # keep the vocabulary from growing without bound
                del self._postings[term]
        self._total_len -= self._doc_len.pop(doc_id)
        return True

    def search(self, terms: Sequence[str]) -> dict[str, float]:
        """Find the documents containing every term, with their BM25 scores.

        Score = sum over distinct terms of
        ``idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avg_len))`` with
        ``idf = ln(1 + (N - n + 0.5) / (n + 0.5))`` (N documents, n containing the
        term); that IDF stays positive even for terms in most documents.

        Args:
            terms: Base-form terms as returned by ``query_terms`` (used verbatim;
                repeated terms count once).

        Returns:
            doc_id -> score, larger is better; empty when ``terms`` is empty or
            some term occurs nowhere.
        """
        unique = list(dict.fromkeys(terms))
        if not unique:
            return {}
        postings: list[dict[str, int]] = []
        for term in unique:
            posting = self._postings.get(term)
            if posting is None:
                return {}
            postings.append(posting)
        # Walk the rarest term's documents and probe the others: cost is
        # O(smallest posting * number of terms), not O(sum of postings).
        postings.sort(key=len)
        first, rest = postings[0], postings[1:]
        hits = [doc for doc in first if all(doc in p for p in rest)]
        if not hits:
            return {}

        n_docs = len(self._doc_len)
        avg_len = self._total_len / n_docs  # > 0: every hit contains a term
        scores = dict.fromkeys(hits, 0.0)
        for posting in postings:
            idf = math.log(1.0 + (n_docs - len(posting) + 0.5) / (len(posting) + 0.5))
            for doc in hits:
                tf = posting[doc]
                norm = BM25_K1 * (1.0 - BM25_B + BM25_B * self._doc_len[doc] / avg_len)
                scores[doc] += idf * tf * (BM25_K1 + 1.0) / (tf + norm)
        return scores
