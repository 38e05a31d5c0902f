"""Input checks and small helpers shared by the catalog commands (the generic checks are
in :mod:`microkit._checks`)."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from typing import Final

import attrs

from .._checks import text, whole_number
from ..actors import Actor
from ..config import MarketConfig
from ..errors import (
    NotFound,
    PermissionDenied,
    PriceOutOfRange,
    ValidationError,
)
from ..money import Money
from ..storage.base import Tx
from ..storage.records import CATEGORIES
from ._normalize import index_text
from .indexing import SearchDoc
from .model import Category, Service, ServiceDraft, Upgrade, UpgradeSpec
from .pricing import check_price

__all__ = [
    "MAX_TEXT",
    "MAX_TITLE",
    "UNSET",
    "Seen",
    "Unset",
    "build_upgrades",
    "check_category_fields",
    "quick_draft",
    "search_doc",
    "staff_only",
]

_SLUG: Final = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MAX_TITLE: Final = 200
MAX_TEXT: Final = 20_000
MAX_UPGRADES: Final = 20


class Unset(enum.Enum):
    """The type of :data:`UNSET`: "argument not given" where None means something."""

    UNSET = "UNSET"


#: Marks an optional argument that was not passed (``update_*`` commands).
UNSET: Final = Unset.UNSET


def staff_only(by: Actor, action: str) -> None:
    """Raises PermissionDenied unless ``by`` is staff."""
    if not isinstance(by, Actor) or by.kind != "staff":
        raise PermissionDenied(f"{by} may not {action}: staff only", actor=str(by), action=action)


def check_category_fields(cat: Category, config: MarketConfig, *, new: bool) -> Category:
    """``cat`` with its fields checked (names copied to a plain dict).

    Raises:
        ValidationError: slug, names, position or active flag; PriceOutOfRange for
            limits off the market's policy or a minimum over the cap.
    """
    slug = cat.slug
    if new and (not isinstance(slug, str) or not _SLUG.fullmatch(slug) or len(slug) > 64):
        raise ValidationError(f"slug: expected lowercase letters, digits and dashes, got"
                              f" {slug!r:.80}", field="slug", value=slug)
    names = cat.names
    if not isinstance(names, Mapping) or not names or not all(
        isinstance(k, str) and 1 <= len(k) <= 10 and isinstance(v, str) and v.strip()
        and len(v) <= 100 for k, v in names.items()
    ):
        raise ValidationError(f"names: expected language code -> name (1..100 characters),"
                              f" got {names!r:.80}", field="names", value=names)
    if new and cat.parent is not None and not isinstance(cat.parent, str):
        raise ValidationError(f"parent: expected a slug or None, got {cat.parent!r}",
                              field="parent", value=cat.parent)
    whole_number("position", cat.position, low=-1_000_000, high=1_000_000)
    if not isinstance(cat.active, bool):
        raise ValidationError(f"active: expected True or False, got {cat.active!r}",
                              field="active", value=cat.active)
    for field, cap in (("min_price", cat.min_price), ("max_price", cat.max_price)):
        if cap is not None:
            check_price(cap, field=field, config=config, category=None)
    if cat.min_price is not None and cat.max_price is not None and cat.min_price > cat.max_price:
        raise PriceOutOfRange(f"min_price: expected at most max_price {cat.max_price}, got"
                              f" {cat.min_price}", field="min_price", value=cat.min_price)
    return attrs.evolve(cat, names={k: v.strip() for k, v in names.items()})


def build_upgrades(
    specs: Sequence[UpgradeSpec | Upgrade], existing: Sequence[Upgrade], config: MarketConfig,
    category: Category, *, prefix: str = "",
) -> tuple[Upgrade, ...]:
    """Checked upgrades. An :class:`Upgrade` keeps its id (it must be one of ``existing``);
    an :class:`UpgradeSpec` gets the next free ``up_<n>``.

    Raises:
        ValidationError: not a spec, bad title/days/quantity, too many, unknown or repeated
            id; the price errors of ``check_price`` (the category cap applies, its minimum
            does not).
    """
    known = {u.id for u in existing}
    if not isinstance(specs, Sequence) or len(specs) > MAX_UPGRADES:
        raise ValidationError(f"{prefix}upgrades: expected at most {MAX_UPGRADES} upgrades",
                              field=f"{prefix}upgrades", value=specs)
    number = max((int(i[3:]) for i in known if i[3:].isdigit()), default=0)
    out: list[Upgrade] = []
    for i, spec in enumerate(specs):
        f = f"{prefix}upgrades[{i}]"
        if isinstance(spec, Upgrade):
            if spec.id not in known or any(u.id == spec.id for u in out):
                raise ValidationError(f"{f}: unknown or repeated upgrade id {spec.id!r}",
                                      field=f, value=spec.id)
            upgrade_id = spec.id
        elif isinstance(spec, UpgradeSpec):
            number += 1
            upgrade_id = f"up_{number}"
        else:
            raise ValidationError(f"{f}: expected UpgradeSpec, got {spec!r:.80}", field=f,
                                  value=spec)
        out.append(Upgrade(
            upgrade_id,
            text(f"{f}.title", spec.title, max_len=MAX_TITLE),
            check_price(spec.price, field=f"{f}.price", config=config, category=category,
                        upgrade=True),
            whole_number(f"{f}.extra_days", spec.extra_days, low=-364, high=365),
            whole_number(f"{f}.max_quantity", spec.max_quantity, low=1, high=100),
        ))
    return tuple(out)


def search_doc(service: Service, categories: tuple[str, ...]) -> SearchDoc:
    """The search document of a service (its text normalized into index terms)."""
    body = " ".join((service.description, *service.tags))
    return SearchDoc(
        service_id=service.id,
        seller_id=service.seller_id,
        categories=categories,
        listed=service.state == "approved",
        price=service.price.amount,
        delivery_days=service.delivery_days,
        created_at=service.created_at,
        title=index_text(service.title),
        body=index_text(body),
    )


@attrs.define
class Seen:
    """What one command has looked up already: sellers, category paths, prices."""

    sellers: set[str] = attrs.field(factory=set)
    #: (price, category slug) that passed ``check_price`` for a base price in this command
    prices: set[tuple[Money, str]] = attrs.field(factory=set)
    #: category slug -> (slug, parent, grandparent, ...)
    paths: dict[str, tuple[str, ...]] = attrs.field(factory=dict)
    #: category slug -> the record, as read in this command
    categories: dict[str, Category] = attrs.field(factory=dict)

    def category(self, tx: Tx, slug: object, *, field: str, new: bool) -> Category:
        """The category, its path remembered. ``new``: it must be active (takes services).

        Raises:
            NotFound: unknown.  ValidationError: inactive and ``new``.
        """
        cat = None
        if isinstance(slug, str):
            cat = self.categories.get(slug) or tx.get(CATEGORIES, slug)
        if cat is None:
            raise NotFound("category", str(slug))
        if new and not cat.active:
            raise ValidationError(f"{field}: {slug!r} takes no new services", field=field,
                                  value=slug)
        self.categories[cat.slug] = cat
        self.path(tx, cat.slug)
        return cat

    def path(self, tx: Tx, slug: str) -> tuple[str, ...]:
        """``slug`` and its ancestors, nearest first."""
        found = self.paths.get(slug)
        if found is None:
            path, node = [slug], tx.get(CATEGORIES, slug)
            while node is not None and node.parent is not None and node.parent not in path:
                path.append(node.parent)
                node = tx.get(CATEGORIES, node.parent)
            found = self.paths[slug] = tuple(path)
        return found


def quick_draft(d: ServiceDraft) -> tuple[str, str, str, tuple[str, ...]] | None:
    """A draft's cleaned title, description, requirements and tags when every text and
    days check passes (exactly as :func:`text` and :func:`days` would let it) and it has
    no images; ``None`` sends the draft through those checks one by one, for the exact
    error. A bulk import's hot path: no field names are built for errors that do not
    happen.
    """
    title, description, requirements, tags = d.title, d.description, d.requirements, d.tags
    if not (type(title) is str and type(description) is str and type(requirements) is str
            and len(title) <= MAX_TITLE and len(description) <= MAX_TEXT
            and len(requirements) <= MAX_TEXT and type(d.delivery_days) is int
            and 1 <= d.delivery_days <= 365 and type(tags) is tuple
            and type(d.images) is tuple and not d.images):
        return None
    title, description = title.strip(), description.strip()
    if not title or not description:
        return None
    if tags:
        tags = tuple([t.strip() for t in tags if type(t) is str and len(t) <= 50])
        if len(tags) != len(d.tags) or not all(tags):
            return None
    return title, description, requirements.strip(), tags


