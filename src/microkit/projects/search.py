"""Project browsing and text search: documents, specs, validation and the page cursor.

The projects facade normalizes text with the catalog's Arabic-aware
:func:`~microkit.catalog._normalize.index_terms` / ``query_terms`` and hands
storage a :class:`ProjectSpec`; backends (``storage/_projects_sql.py``,
``storage/_projects_memory.py``) filter and order. Only ``open`` projects are
listed.

Orders (ties always newest first, by ``rid``: minus a number the backend gives
a project when it is first indexed):

- ``newest``: newest first;
- ``budget_high`` / ``budget_low``: highest ``budget_max`` / lowest ``budget_min`` first;
- ``fewest_bids``: fewest live bids first (where a seller's bid stands out).

Filters: category (and every category below it), skills (any of them), a budget
range (projects whose range overlaps it), at most ``max_duration_days``, text
(every term in the title, description or skills).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import unicodedata
from collections.abc import Sequence
from typing import Final, Literal, get_args

import attrs

from ..catalog._normalize import index_terms, normalize, query_terms
from ..errors import ValidationError
from .model import Project

__all__ = [
    "MAX_LIMIT",
    "SORTS",
    "Key",
    "ProjectDoc",
    "ProjectRow",
    "ProjectSort",
    "ProjectSpec",
    "check_limit",
    "check_sort",
    "decode_cursor",
    "doc_for",
    "encode_cursor",
    "normalize_skill",
    "query_to_terms",
    "skill_token",
    "sort_key",
]

ProjectSort = Literal["newest", "budget_high", "budget_low", "fewest_bids"]
SORTS: Final[tuple[str, ...]] = get_args(ProjectSort)
#: Most projects one page may hold.
MAX_LIMIT: Final = 100
#: A row's position in its sort order, ascending.
Key = tuple[int, ...]
_KEY_LEN: Final = {"newest": 1, "budget_high": 2, "budget_low": 2, "fewest_bids": 2}


def normalize_skill(skill: str) -> str:
    """How a skill is stored and compared: stripped, case-folded, inner spaces collapsed."""
    return " ".join(skill.casefold().split())


def skill_token(skill: str) -> str:
    """The opaque index token of a skill: the same for every spelling ``normalize`` folds
    together (Arabic letter variants, diacritics), and one word to every tokenizer.

    ``normalize`` reads punctuation as a space, so the punctuation is added back: C, C#
    and C++ are three skills, Node.js and node-js two. (A skill without punctuation
    keeps the token it had before this rule.)
    """
    plain = normalize_skill(skill)
    folded = normalize(plain)
    marks = "".join(c for c in plain if _is_mark(c))
    if marks:
        folded += "\x00" + marks
    return "k" + hashlib.blake2b(folded.encode(), digest_size=8).hexdigest()


def _is_mark(c: str) -> bool:
    """Punctuation or a symbol (not a letter, digit, space or combining diacritic)."""
    return unicodedata.category(c)[0] in "PS"


@attrs.frozen
class ProjectDoc:
    """One project as the browse index holds it; text fields already normalized.

    .. versionadded:: 0.1
    """

    project_id: str
    #: The project's category and every ancestor, nearest first.
    categories: tuple[str, ...]
    #: ``open``: only listed projects are ever returned.
    listed: bool
    budget_min: int
    budget_max: int
    duration_days: int
    bids: int
    created_at: dt.datetime
    #: ``index_terms`` of the title, joined by spaces.
    title: str
    #: ``index_terms`` of the description and the skills' words, joined by spaces.
    body: str
    #: :func:`skill_token` of each skill, joined by spaces.
    skills: str


def doc_for(project: Project, categories: Sequence[str]) -> ProjectDoc:
    """The index document of ``project`` (``categories``: its category and ancestors)."""
    return ProjectDoc(
        project_id=project.id,
        categories=tuple(categories),
        listed=project.state == "open",
        budget_min=project.budget_min.amount,
        budget_max=project.budget_max.amount,
        duration_days=project.duration_days,
        bids=project.live_bids,
        created_at=project.created_at,
        title=" ".join(index_terms(project.title)),
        # Skills are words too: a text search for "بايثون" finds projects asking for it.
        body=" ".join(index_terms(" ".join((project.description, *project.skills)))),
        skills=" ".join(skill_token(s) for s in project.skills),
    )


@attrs.frozen
class ProjectSpec:
    """A validated browse, in storage terms.

    .. versionadded:: 0.1
    """

    #: Base-form terms; every one must occur in the title, description or skills.
    terms: tuple[str, ...] = ()
    category: str | None = None
    #: ``category`` and every category below it (filled by the facade).
    within: tuple[str, ...] = ()
    #: Skill tokens; a project matches when it asks for any of them.
    skills: tuple[str, ...] = ()
    #: Projects whose ``budget_max`` is at least this (minor units) ...
    min_budget: int | None = None
    #: ... and whose ``budget_min`` is at most this: the ranges overlap.
    max_budget: int | None = None
    max_duration_days: int | None = None
    sort: ProjectSort = "newest"
    limit: int = 20
    after: Key | None = None


@attrs.frozen
class ProjectRow:
    """A hit as storage returns it: the project id, its sort key, and the record when the
    backend read it in the same pass.

    .. versionadded:: 0.1
    """

    project_id: str
    key: Key
    project: Project | None = None


def sort_key(sort: ProjectSort, *, rid: int, budget_min: int, budget_max: int, bids: int
             ) -> Key:
    """The key a row sorts by, ascending (``rid`` is minus the index sequence)."""
    if sort == "newest":
        return (rid,)
    if sort == "budget_high":
        return (-budget_max, rid)
    if sort == "budget_low":
        return (budget_min, rid)
    return (bids, rid)


def query_to_terms(query: object) -> tuple[tuple[str, ...], bool]:
    """``query``'s terms, and whether the search can match anything at all."""
    if query is None:
        return (), True
    if not isinstance(query, str) or len(query) > 2048:
        raise ValidationError(f"query: expected text or None, got {query!r:.80}",
                              field="query", value=query)
    terms = tuple(query_terms(query))
    return terms, not (query.strip() and not terms)


# -- cursor -------------------------------------------------------------------


def _fingerprint(spec: ProjectSpec) -> str:
    what = attrs.evolve(spec, limit=0, after=None, within=())
    text = json.dumps(attrs.asdict(what), ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def encode_cursor(spec: ProjectSpec, key: Key) -> str:
    """An opaque cursor: the browse it belongs to and the last row's sort key."""
    body = json.dumps({"f": _fingerprint(spec), "k": list(key)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def decode_cursor(cursor: object, spec: ProjectSpec) -> Key:
    """The key in ``cursor``. Raises ValidationError unless it came from this same browse."""
    bad = ValidationError(
        f"cursor: expected a cursor from a previous page of this browse, got {cursor!r:.80}",
        field="cursor", value=cursor,
    )
    if not isinstance(cursor, str) or len(cursor) > 500:
        raise bad
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        key, fingerprint = data["k"], data["f"]
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise bad from None
    if not (
        fingerprint == _fingerprint(spec) and isinstance(key, list)
        and len(key) == _KEY_LEN[spec.sort] and all(type(v) is int for v in key)
    ):
        raise bad
    return tuple(key)


def check_limit(limit: object) -> int:
    if type(limit) is not int or not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(f"limit: expected an int 1..{MAX_LIMIT}, got {limit!r}",
                              field="limit", value=limit)
    return limit


def check_sort(sort: object) -> ProjectSort:
    if sort not in SORTS:
        raise ValidationError(f"sort: expected {' | '.join(SORTS)}, got {sort!r:.80}",
                              field="sort", value=sort)
    return sort  # type: ignore[return-value]
