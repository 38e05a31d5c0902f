"""``market.catalog``: categories, services, upgrades, moderation and search."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from .._checks import actor_checked, collection, text, whole_number
from .._core import Core, Unit, new_id
from ..actors import Actor
from ..errors import NotFound, PermissionDenied, ValidationError
from ..levels.privileges import check_service, public_standing
from ..money import Money
from ..storage.base import Tx
from ..storage.records import CATEGORIES, SERVICES, USERS
from . import search as _search
from ._checks import (
    MAX_TEXT,
    MAX_TITLE,
    UNSET,
    Seen,
    Unset,
    build_upgrades,
    check_category_fields,
    quick_draft,
    search_doc,
    staff_only,
)
from .indexing import Sort
from .model import (
    Category,
    SearchPage,
    SellerProfile,
    Service,
    ServiceDraft,
    ServiceState,
    ServiceStats,
    ServiceView,
    Upgrade,
    UpgradeSpec,
)
from .moderation import MODERATION, ModerationRole, ModerationTable, Move
from .pricing import check_price

__all__ = ["CatalogFacade"]


@actor_checked
class CatalogFacade:
    """Categories and services. Reached as ``market.catalog``.

    .. versionadded:: 0.1
    """

    def __init__(self, core: Core) -> None:
        self._core = core

    @property
    def moderation(self) -> ModerationTable:
        """The moderation state table (``market.catalog.moderation.mermaid()``)."""
        return MODERATION

    # -- categories ------------------------------------------------------------

    def add_category(
        self,
        slug: str,
        *,
        names: Mapping[str, str],
        by: Actor,
        parent: str | None = None,
        min_price: Money | None = None,
        max_price: Money | None = None,
        position: int = 0,
        active: bool = True,
    ) -> Category:
        """Add a category (staff only). A category's parent never changes.

        Raises:
            PermissionDenied: ``by`` is not staff.
            ValidationError: a bad slug, names or position; PriceOutOfRange for caps off
                the policy or a minimum over the cap.
            Conflict: the slug is taken.
            NotFound: the parent does not exist.
        """
        staff_only(by, "add_category")
        category = check_category_fields(
            Category(slug, names, parent, min_price, max_price, position, active),
            self._core.config, new=True,
        )

        def command(u: Unit) -> Category:
            if parent is not None:
                u.need(CATEGORIES, parent, "category")
            u.tx.add(CATEGORIES, category)
            u.emit("category.added", f"category:{slug}", str(by), {"slug": slug})
            return category

        return self._core.run(command)

    def update_category(
        self,
        slug: str,
        *,
        by: Actor,
        names: Mapping[str, str] | Unset = UNSET,
        min_price: Money | Unset | None = UNSET,
        max_price: Money | Unset | None = UNSET,
        position: int | Unset = UNSET,
        active: bool | Unset = UNSET,
    ) -> Category:
        """Change a category's names, price limits, position or active flag (staff only).

        New limits apply to services created or edited afterwards. An inactive
        category takes no new services; its existing ones stay listed.

        Raises:
            PermissionDenied, NotFound, ValidationError: as for :meth:`add_category`.
        """
        staff_only(by, "update_category")
        changes: dict[str, Any] = {k: v for k, v in (("names", names), ("min_price", min_price),
                                     ("max_price", max_price), ("position", position),
                                     ("active", active)) if v is not UNSET}
        config = self._core.config

        def command(u: Unit) -> Category:
            old = u.need(CATEGORIES, slug, "category")
            new = check_category_fields(
                attrs.evolve(old, **changes, version=old.version + 1), config, new=False)
            u.tx.save(CATEGORIES, new, old.version)
            u.emit("category.updated", f"category:{slug}", str(by),
                   {"slug": slug, "changed": sorted(changes)})
            return new

        return self._core.run(command)

    def category(self, slug: str) -> Category:
        """A category by slug. Raises NotFound."""
        return self._core.get(CATEGORIES, slug, "category")

    def categories(self, *, parent: str | None = None, include_inactive: bool = False
                   ) -> list[Category]:
        """The categories under ``parent`` (top level by default), by position then slug."""
        found = self._core.query(lambda tx: tx.find(CATEGORIES, {"parent": parent}, limit=10_000))
        return sorted((c for c in found if include_inactive or c.active),
                      key=lambda c: (c.position, c.slug))

    # -- services --------------------------------------------------------------

    def create_service(
        self,
        *,
        by: Actor,
        category: str,
        title: str,
        description: str,
        price: Money,
        delivery_days: int,
        upgrades: Sequence[UpgradeSpec] = (),
        requirements: str = "",
        tags: Iterable[str] = (),
        images: Iterable[str] = (),
    ) -> Service:
        """A seller offers a service: ``pending_review`` with moderation on
        (``service.submitted``), else ``approved`` at once (``service.approved``).

        Raises:
            PermissionDenied: ``by`` is not a user.
            NotFound: unknown seller (register first) or category.
            ValidationError: bad text, days or upgrades; an inactive category; the price
                errors of :func:`~microkit.catalog.pricing.check_price`.
        """
        if by.kind != "user":
            raise PermissionDenied(f"{by} may not create_service: sellers are users",
                                   actor=str(by), action="create_service")
        draft = ServiceDraft(by.id, category, title, description, price, delivery_days,
                             tuple(upgrades), requirements, collection("tags", tags),
                             collection("images", images))

        def command(u: Unit) -> Service:
            state: ServiceState = "pending_review" if self._core.config.moderation else "approved"
            service = self._add(u, draft, state, str(by), Seen())
            check_service(u.tx, self._core.config, service)  # the seller level's limits
            return service

        return self._core.run(command)

    def import_services(
        self, drafts: Iterable[ServiceDraft], *, by: Actor, publish: bool = True
    ) -> list[Service]:
        """Bulk-load services in one unit of work (staff only): all or nothing.

        Each draft is checked like :meth:`create_service`. ``publish`` makes them
        ``approved`` at once (staff vouch for them); otherwise they follow the market's
        moderation setting.

        Raises:
            PermissionDenied: not staff.  NotFound, ValidationError: as for create_service,
                for the first bad draft (``field`` is prefixed with its index).
        """
        staff_only(by, "import_services")
        items = list(drafts)
        moderated = self._core.config.moderation and not publish
        state: ServiceState = "pending_review" if moderated else "approved"

        def command(u: Unit) -> list[Service]:
            seen = Seen()
            sellers = list(dict.fromkeys(getattr(d, "seller_id", None) for d in items))
            for start in range(0, len(sellers), 100):  # read them a hundred at a time
                u.prefetch(*((USERS, s) for s in sellers[start:start + 100]
                             if isinstance(s, str)))
            out = [self._add(u, d, state, str(by), seen, index=False, prefix=f"drafts[{i}]")
                   for i, d in enumerate(items)]
            u.tx.index_services([search_doc(s, seen.paths[s.category]) for s in out])
            return out

        return self._core.run(command)

    def _add(self, u: Unit, d: object, state: ServiceState, actor: str, seen: Seen, *,
             index: bool = True, prefix: str = "") -> Service:
        if not isinstance(d, ServiceDraft):
            raise ValidationError(f"{prefix}: expected ServiceDraft, got {d!r:.80}",
                                  field=prefix, value=d)
        config = self._core.config
        p = f"{prefix}." if prefix else ""
        quick = quick_draft(d)  # a bulk import's common case: every text check passes
        images: tuple[str, ...] = ()
        if quick is not None:
            title, description, requirements, tags = quick
            delivery_days = d.delivery_days
        else:
            title = text(f"{p}title", d.title, max_len=MAX_TITLE)
            description = text(f"{p}description", d.description, max_len=MAX_TEXT)
            requirements = text(f"{p}requirements", d.requirements, max_len=MAX_TEXT,
                                required=False)
            delivery_days = whole_number(f"{p}delivery_days", d.delivery_days, low=1,
                                         high=365)
            tags = tuple(text(f"{p}tags", t, max_len=50) for t in collection(f"{p}tags", d.tags))
            images = tuple(text(f"{p}images", i, max_len=1000)
                           for i in collection(f"{p}images", d.images))
        if d.seller_id not in seen.sellers:
            u.need(USERS, d.seller_id, "user")
            seen.sellers.add(d.seller_id)
        cat = seen.categories.get(d.category) if type(d.category) is str else None
        if cat is None or not cat.active:
            cat = seen.category(u.tx, d.category, field=f"{p}category", new=True)
        price = d.price
        if type(price) is not Money or (price, cat.slug) not in seen.prices:
            check_price(price, field=f"{p}price", config=config, category=cat)
            seen.prices.add((price, cat.slug))
        upgrades = d.upgrades
        built = () if type(upgrades) is tuple and not upgrades else build_upgrades(
            upgrades, (), config, cat, prefix=p)
        service = Service(
            new_id("s"), d.seller_id, d.category, title, description, price, delivery_days,
            built, state, u.now, u.now, requirements, tags, images,
        )
        u.tx.add(SERVICES, service)
        if index:
            u.tx.index_services([search_doc(service, seen.paths[d.category])])
        data = {"service_id": service.id, "seller_id": d.seller_id, "from": None, "to": state}
        subject = f"service:{service.id}"
        u.emit("service.submitted" if state == "pending_review" else "service.approved",
               subject, actor, data)
        return service

    def update_service(
        self,
        service_id: str,
        *,
        by: Actor,
        category: str | Unset = UNSET,
        title: str | Unset = UNSET,
        description: str | Unset = UNSET,
        price: Money | Unset = UNSET,
        delivery_days: int | Unset = UNSET,
        upgrades: Sequence[UpgradeSpec | Upgrade] | Unset = UNSET,
        requirements: str | Unset = UNSET,
        tags: Iterable[str] | Unset = UNSET,
        images: Iterable[str] | Unset = UNSET,
    ) -> Service:
        """The seller edits their service; with moderation on it goes back to
        ``pending_review`` (``service.updated`` + ``service.submitted``).

        ``upgrades`` replaces the list: pass an existing :class:`Upgrade` (changed with
        ``attrs.evolve`` or not) to keep its id, an :class:`UpgradeSpec` to add one.

        Raises:
            PermissionDenied: not the service's seller.  NotFound: unknown service/category.
            InvalidTransition: suspended.  ValidationError: nothing to change, or as
                for :meth:`create_service`.
        """
        fields: dict[str, Any] = {k: v for k, v in (
            ("category", category), ("title", title), ("description", description),
            ("price", price), ("delivery_days", delivery_days), ("upgrades", upgrades),
            ("requirements", requirements), ("tags", tags), ("images", images),
        ) if v is not UNSET}
        if not fields:
            raise ValidationError("update_service: expected at least one field to change",
                                  field="update_service", value=None)
        for key in ("tags", "images"):
            if key in fields:
                fields[key] = collection(key, fields[key])
        if "upgrades" in fields:
            fields["upgrades"] = tuple(fields["upgrades"])
        config = self._core.config

        def edit(u: Unit, old: Service, seen: Seen) -> Service:
            d = ServiceDraft(old.seller_id, old.category, old.title, old.description, old.price,
                             old.delivery_days, (), old.requirements, old.tags, old.images)
            d = attrs.evolve(d, **{k: v for k, v in fields.items() if k != "upgrades"})
            cat = seen.category(u.tx, d.category, field="category", new=d.category != old.category)
            check_price(d.price, field="price", config=config, category=cat)
            new_upgrades = old.upgrades
            if "upgrades" in fields:
                new_upgrades = build_upgrades(fields["upgrades"], old.upgrades, config, cat)
            return attrs.evolve(
                old, category=d.category,
                title=text("title", d.title, max_len=MAX_TITLE),
                description=text("description", d.description, max_len=MAX_TEXT),
                price=d.price,
                delivery_days=whole_number("delivery_days", d.delivery_days, low=1, high=365),
                upgrades=new_upgrades,
                requirements=text("requirements", d.requirements, max_len=MAX_TEXT,
                                  required=False),
                tags=tuple(text("tags", t, max_len=50) for t in d.tags),
                images=tuple(text("images", i, max_len=1000) for i in d.images),
            )

        return self._move(service_id, by, "update_service", edit=edit,
                          changed=sorted(fields))

    def get(self, service_id: str) -> Service:
        """A service by id, whatever its state (sellers' and staff's view). Raises NotFound."""
        return self._core.get(SERVICES, service_id, "service")

    def view(self, service_id: str) -> ServiceView:
        """A service page as buyers see it: the service, its aggregates and the seller's
        public profile (display name, level, rating and completed orders over all
        their services). Only approved services are shown.

        Raises:
            NotFound: unknown service, or not approved.
        """

        def read(tx: Tx) -> ServiceView:
            service = tx.get(SERVICES, service_id)
            if service is None or service.state != "approved":
                raise NotFound("service", service_id)
            user = tx.get(USERS, service.seller_id)
            stats = tx.service_stats([service_id]).get(service_id, ServiceStats())
            level, badges = public_standing(tx, self._core.config.levels, service.seller_id)
            seller = SellerProfile(
                service.seller_id, user.display_name if user else service.seller_id,
                level, tx.seller_stats(service.seller_id), badges,
            )
            return ServiceView(service, stats, seller)

        return self._core.query(read)

    def services(self, *, seller: str | None = None, state: ServiceState | None = None,
                 limit: int = 100, after: str | None = None) -> list[Service]:
        """Services of any state, by id: a seller's dashboard, or staff's review queue
        (``state="pending_review"``). Page on with ``after=`` the last id seen."""
        where: dict[str, str | int | None] = {}
        if seller is not None:
            where["seller_id"] = seller
        if state is not None:
            where["state"] = state
        if type(limit) is not int or not 1 <= limit <= 1000:
            raise ValidationError(f"limit: expected 1..1000, got {limit!r}", field="limit",
                                  value=limit)
        return self._core.query(lambda tx: tx.find(SERVICES, where, after=after, limit=limit))

    # -- moderation (the table is catalog/moderation.py) -----------------------

    def _move(self, service_id: str, by: Actor, name: str, *, reason: str | None = None,
              edit: Callable[[Unit, Service, Seen], Service] | None = None,
              changed: Sequence[str] = ()) -> Service:
        config = self._core.config

        def command(u: Unit) -> Service:
            old = u.need(SERVICES, service_id, "service")
            role: ModerationRole | None = (
                "staff" if by.kind == "staff"
                else "seller" if by.kind == "user" and by.id == old.seller_id else None
            )
            move = MODERATION.check(name, old.state, role, actor=str(by), subject=service_id)
            assert isinstance(move, Move)
            to, event = move.target(old.state, config.moderation)
            seen = Seen()
            new = edit(u, old, seen) if edit is not None else old
            note = reason if move.reason else (old.moderation_note if to == old.state else None)
            new = attrs.evolve(new, state=to, moderation_note=note, updated_at=u.now,
                               version=old.version + 1)
            u.tx.save(SERVICES, new, old.version)
            if by.kind == "user":
                check_service(u.tx, config, new, old)  # the seller level's limits
            u.tx.index_services([search_doc(new, seen.path(u.tx, new.category))])
            data: dict[str, object] = {"service_id": service_id, "seller_id": old.seller_id,
                                       "from": old.state, "to": to}
            if move.reason:
                data["reason"] = reason
            if changed:
                data["changed"] = list(changed)
            subject = f"service:{service_id}"
            u.emit(event, subject, str(by), data)
            if to == "pending_review" and event != "service.submitted":
                u.emit("service.submitted", subject, str(by), data)
            return new

        return self._core.run(command)

    def approve(self, service_id: str, *, by: Actor) -> Service:
        """Staff publish a service waiting for review (or overturn a rejection).

        Raises:
            PermissionDenied: not staff.  NotFound: unknown service.
            InvalidTransition: not pending_review or rejected.
        """
        return self._move(service_id, by, "approve")

    def reject(self, service_id: str, *, by: Actor, reason: str) -> Service:
        """Staff refuse a service waiting for review; the seller is told ``reason``.

        Raises:
            PermissionDenied: not staff.  ValidationError: no reason.
            NotFound: unknown service.  InvalidTransition: not pending_review.
        """
        return self._move(service_id, by, "reject", reason=text("reason", reason, max_len=2000))

    def resubmit(self, service_id: str, *, by: Actor) -> Service:
        """The seller asks for another review of a rejected service."""
        return self._move(service_id, by, "resubmit")

    def pause(self, service_id: str, *, by: Actor) -> Service:
        """The seller stops taking orders: hidden from search, cannot be bought."""
        return self._move(service_id, by, "pause")

    def resume(self, service_id: str, *, by: Actor) -> Service:
        """The seller takes orders again."""
        return self._move(service_id, by, "resume")

    def suspend(self, service_id: str, *, by: Actor, reason: str) -> Service:
        """Staff take a service down with a reason; the seller cannot edit or resume it."""
        return self._move(service_id, by, "suspend",
                          reason=text("reason", reason, max_len=2000))

    def unsuspend(self, service_id: str, *, by: Actor) -> Service:
        """Staff lift a suspension: the service is published again."""
        return self._move(service_id, by, "unsuspend")

    # -- search ----------------------------------------------------------------

    def search(
        self,
        query: str | None = None,
        *,
        category: str | None = None,
        min_price: Money | None = None,
        max_price: Money | None = None,
        max_delivery_days: int | None = None,
        min_rating: int | float | Decimal | None = None,
        seller: str | None = None,
        sort: Sort = "relevance",
        limit: int = 20,
        cursor: str | None = None,
    ) -> SearchPage:
        """Find approved services: Arabic-aware full text plus filters, one page at a time.

        Args:
            query: Words to find (all must occur in title, description or tags); None or
                blank lists everything. Normalized like the index (tashkeel, hamza forms,
                ة/ه, ى/ي, digits, case, the article ال and a leading و).
            category: Only this category and the ones below it.
            min_price, max_price: Base price bounds, in the market currency, 0 or more
                (any amount: no minimum, step or cap applies to a filter).
            max_delivery_days: Base delivery time at most this.
            min_rating: Average stars at least this (unrated services count as 0).
            seller: Only this seller's services.
            sort: ``relevance`` (title matches first, then newest), ``newest``, ``price``,
                ``-price``, ``rating``, ``best_selling``.
            limit: Hits per page, 1..100.
            cursor: ``next_cursor`` of the previous page of this same search.

        Returns:
            A :class:`SearchPage`; a query of only punctuation or diacritics finds nothing.

        Raises:
            ValidationError: a bad argument or a cursor from another search.
            NotFound: unknown category.
        """
        spec, searchable = _search.build_spec(
            query=query, category=category, min_price=min_price, max_price=max_price,
            max_delivery_days=max_delivery_days, min_rating=min_rating, seller=seller,
            sort=sort, limit=limit, config=self._core.config,
        )
        if not searchable:
            if cursor is not None:
                _search.decode_cursor(cursor, spec)
            return _search.empty_page()
        ladder = self._core.config.levels

        def read(tx: Tx) -> SearchPage:
            page = _search.run(tx, spec, cursor)
            levels: dict[str, str] = {}  # the sellers' levels, shown on each hit
            for hit in page.hits:
                if hit.service.seller_id not in levels:
                    levels[hit.service.seller_id] = public_standing(
                        tx, ladder, hit.service.seller_id)[0]
            return attrs.evolve(page, hits=tuple(
                attrs.evolve(h, seller_level=levels[h.service.seller_id]) for h in page.hits))

        return self._core.query(read)
