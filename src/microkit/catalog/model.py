"""Catalog records: categories, services and their paid upgrades."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Literal

import attrs

from ..money import Money

__all__ = [
    "Category",
    "SearchHit",
    "SearchPage",
    "SellerProfile",
    "Service",
    "ServiceDraft",
    "ServiceState",
    "ServiceStats",
    "ServiceView",
    "Upgrade",
    "UpgradeSpec",
]

#: ``pending_review`` waits for staff; only ``approved`` services can be bought.
ServiceState = Literal["pending_review", "approved", "rejected", "paused", "suspended"]


@attrs.frozen
class Category:
    """A catalog category; price caps by type of service live here (MicroLibya).

    .. versionadded:: 0.1
    """

    #: URL-safe key, also the id: ``"design"``.
    slug: str
    #: Display names by language code: ``{"ar": "تصميم", "en": "Design"}``.
    names: Mapping[str, str]
    #: Parent category's slug, or None for a top-level one.
    parent: str | None = None
    #: Lowest price allowed in this category, on top of the market minimum.
    min_price: Money | None = None
    #: Highest price allowed in this category.
    max_price: Money | None = None
    #: Sort position among siblings.
    position: int = 0
    #: Inactive categories take no new services.
    active: bool = True
    #: Bumped by every change; storage refuses a save from a stale copy.
    version: int = 1


@attrs.frozen
class UpgradeSpec:
    """What a seller asks for when adding a paid upgrade (تطوير) to a service.

    .. versionadded:: 0.1
    """

    title: str
    price: Money
    #: Days added to delivery; negative for "faster delivery".
    extra_days: int = 0
    #: How many of this upgrade one order may buy.
    max_quantity: int = 1


@attrs.frozen
class Upgrade:
    """A paid upgrade as stored: an :class:`UpgradeSpec` with its id.

    .. versionadded:: 0.1
    """

    id: str
    title: str
    price: Money
    extra_days: int = 0
    max_quantity: int = 1


@attrs.frozen
class Service:
    """A service a seller offers, as the catalog holds it.

    .. versionadded:: 0.1
    """

    id: str
    seller_id: str
    category: str
    title: str
    description: str
    #: Base price, without upgrades.
    price: Money
    delivery_days: int
    upgrades: tuple[Upgrade, ...]
    state: ServiceState
    created_at: dt.datetime
    updated_at: dt.datetime
    #: What the buyer must send before work starts; empty when nothing is needed.
    requirements: str = ""
    tags: tuple[str, ...] = ()
    #: Opaque references to images or files the application stores.
    images: tuple[str, ...] = ()
    #: Staff's reason for the last rejection or suspension.
    moderation_note: str | None = None
    #: Bumped by every change; storage refuses a save from a stale copy.
    version: int = 1

    def upgrade(self, upgrade_id: str) -> Upgrade | None:
        """The upgrade with this id, or None."""
        return next((u for u in self.upgrades if u.id == upgrade_id), None)


@attrs.frozen
class ServiceDraft:
    """One service for :meth:`~microkit.catalog.facade.CatalogFacade.import_services`
    (a bulk load, e.g. moving a catalogue from another platform).

    .. versionadded:: 0.1
    """

    seller_id: str
    category: str
    title: str
    description: str
    price: Money
    delivery_days: int
    upgrades: tuple[UpgradeSpec, ...] = ()
    requirements: str = ""
    tags: tuple[str, ...] = ()
    images: tuple[str, ...] = ()


@attrs.frozen
class ServiceStats:
    """Sales and rating aggregates of a service, or of all of a seller's services.

    Zero until orders complete and reviews arrive (see :mod:`microkit.catalog.stats`).

    .. versionadded:: 0.1
    """

    orders_completed: int = 0
    rating_count: int = 0
    #: Average stars, 0.0 with no ratings.
    rating_avg: float = 0.0


@attrs.frozen
class SellerProfile:
    """What a buyer may see of a seller on a service page.

    .. versionadded:: 0.1
    """

    id: str
    display_name: str
    #: The seller's level id (``config.levels``; display names in ``ladder.get(id).names``).
    level: str | None
    #: Over all of the seller's services.
    stats: ServiceStats
    #: Badges staff granted by hand (``"trusted_seller"``).
    badges: tuple[str, ...] = ()


@attrs.frozen
class ServiceView:
    """A service page: the service, its aggregates and its seller's public profile.

    .. versionadded:: 0.1
    """

    service: Service
    stats: ServiceStats
    seller: SellerProfile


@attrs.frozen
class SearchHit:
    """One search result.

    .. versionadded:: 0.1
    """

    service: Service
    stats: ServiceStats
    #: The seller's level id (``config.levels``).
    seller_level: str | None = None


@attrs.frozen
class SearchPage:
    """A page of search results.

    .. versionadded:: 0.1
    """

    hits: tuple[SearchHit, ...]
    #: Pass as ``cursor=`` with the same search for the next page; None on the last page.
    next_cursor: str | None
