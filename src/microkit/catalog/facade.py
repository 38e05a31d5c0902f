"""``market.catalog``: categories, services, upgrades and their moderation."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

import attrs

from .._core import Core, Unit, new_id
from ..actors import Actor
from ..errors import InvalidTransition, NotFound, PermissionDenied, ValidationError
from ..money import Money
from ..storage.records import CATEGORIES, SERVICES, USERS
from .model import Category, Service, ServiceState, Upgrade, UpgradeSpec
from .pricing import check_price

__all__ = ["CatalogFacade"]

_SLUG: Final = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MAX_TITLE: Final = 200
MAX_TEXT: Final = 20_000


def _text(field: str, value: object, *, max_len: int, required: bool = True) -> str:
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > max_len:
        raise ValidationError(
            f"{field}: expected {'non-empty ' if required else ''}text of at most {max_len}"
            f" characters, got {value!r:.80}",
            field=field,
            value=value,
        )
    return value.strip()


def _days(field: str, value: object, *, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise ValidationError(
            f"{field}: expected a whole number of days in {low}..{high}, got {value!r}",
            field=field,
            value=value,
        )
    return value


def _staff(by: Actor, action: str) -> None:
    if by.kind != "staff":
        raise PermissionDenied(f"{by} may not {action}: staff only", actor=str(by), action=action)


class CatalogFacade:
    """Categories and services. Reached as ``market.catalog``.

    .. versionadded:: 0.1
    """

    def __init__(self, core: Core) -> None:
        self._core = core

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
    ) -> Category:
        """Add a category (staff only).

        Raises:
            PermissionDenied: ``by`` is not staff.
            ValidationError: a bad slug or names; PriceOutOfRange for caps off the policy.
            Conflict: the slug is taken.
            NotFound: the parent does not exist.
        """
        _staff(by, "add_category")
        if not isinstance(slug, str) or not _SLUG.fullmatch(slug) or len(slug) > 64:
            raise ValidationError(
                f"slug: expected lowercase letters, digits and dashes, got {slug!r}",
                field="slug",
                value=slug,
            )
        if not names or not all(
            isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in names.items()
        ):
            raise ValidationError(
                f"names: expected language code -> non-empty name, got {names!r}",
                field="names",
                value=names,
            )
        config = self._core.config
        for field, cap in (("min_price", min_price), ("max_price", max_price)):
            if cap is not None:
                check_price(cap, field=field, config=config, category=None)
        category = Category(slug, dict(names), parent, min_price, max_price, position)

        def command(u: Unit) -> Category:
            if parent is not None:
                u.need(CATEGORIES, parent, "category")
            u.tx.add(CATEGORIES, category)
            u.emit("category.added", f"category:{slug}", str(by), {"slug": slug})
            return category

        return self._core.run(command)

    def category(self, slug: str) -> Category:
        """A category by slug. Raises NotFound."""
        found = self._core.query(lambda tx: tx.get(CATEGORIES, slug))
        if found is None:
            raise NotFound("category", slug)
        return found

    def categories(self, *, parent: str | None = None) -> list[Category]:
        """The categories under ``parent`` (top level by default), by position."""
        found = self._core.query(lambda tx: tx.find(CATEGORIES, {"parent": parent}, limit=1000))
        return sorted(found, key=lambda c: (c.position, c.slug))

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
        """A seller offers a service; it waits for review when moderation is on.

        Raises:
            PermissionDenied: ``by`` is not a user.
            NotFound: unknown seller (register first) or category.
            ValidationError: bad text, days or upgrades; the price errors of :func:`check_price`.
        """
        if by.kind != "user":
            raise PermissionDenied(
                f"{by} may not create_service: sellers are users", actor=str(by),
                action="create_service",
            )
        config = self._core.config
        title = _text("title", title, max_len=MAX_TITLE)
        description = _text("description", description, max_len=MAX_TEXT)
        requirements = _text("requirements", requirements, max_len=MAX_TEXT, required=False)
        delivery_days = _days("delivery_days", delivery_days, low=1, high=365)
        tag_list = tuple(_text("tags", t, max_len=50) for t in tags)
        image_list = tuple(_text("images", i, max_len=1000) for i in images)

        def command(u: Unit) -> Service:
            u.need(USERS, by.id, "user")
            cat = u.need(CATEGORIES, category, "category")
            if not cat.active:
                raise ValidationError(
                    f"category: {category!r} takes no new services", field="category",
                    value=category,
                )
            check_price(price, field="price", config=config, category=cat)
            built = []
            for i, spec in enumerate(upgrades):
                if not isinstance(spec, UpgradeSpec):
                    raise ValidationError(
                        f"upgrades[{i}]: expected UpgradeSpec, got {spec!r}",
                        field=f"upgrades[{i}]",
                        value=spec,
                    )
                built.append(
                    Upgrade(
                        f"up_{i + 1}",
                        _text(f"upgrades[{i}].title", spec.title, max_len=MAX_TITLE),
                        check_price(spec.price, field=f"upgrades[{i}].price", config=config,
                                    category=None),
                        _days(f"upgrades[{i}].extra_days", spec.extra_days, low=-364, high=365),
                        _days(f"upgrades[{i}].max_quantity", spec.max_quantity, low=1, high=100),
                    )
                )
            state: ServiceState = "pending_review" if config.moderation else "approved"
            service = Service(
                new_id("s"), by.id, category, title, description, price, delivery_days,
                tuple(built), state, u.now, u.now, requirements, tag_list, image_list,
            )
            u.tx.add(SERVICES, service)
            u.emit("service.submitted" if config.moderation else "service.approved",
                   f"service:{service.id}", str(by),
                   {"service_id": service.id, "seller_id": by.id})
            return service

        return self._core.run(command)

    def get(self, service_id: str) -> Service:
        """A service by id, whatever its state. Raises NotFound."""
        found = self._core.query(lambda tx: tx.get(SERVICES, service_id))
        if found is None:
            raise NotFound("service", service_id)
        return found

    def _moderate(
        self, service_id: str, by: Actor, action: str, to: ServiceState, event: str,
        *, reason: str | None, allowed_from: frozenset[str],
    ) -> Service:
        _staff(by, action)

        def command(u: Unit) -> Service:
            service = u.need(SERVICES, service_id, "service")
            if service.state not in allowed_from:
                raise InvalidTransition(
                    f"cannot {action} service {service_id}: it is {service.state!r}",
                    transition=action,
                    state=service.state,
                    allowed=(),
                )
            new = attrs.evolve(service, state=to, moderation_note=reason, updated_at=u.now,
                               version=service.version + 1)
            u.tx.save(SERVICES, new, service.version)
            data = {"service_id": service_id, "seller_id": service.seller_id}
            if reason:
                data["reason"] = reason
            u.emit(event, f"service:{service_id}", str(by), data)
            return new

        return self._core.run(command)

    def approve(self, service_id: str, *, by: Actor) -> Service:
        """Staff approve a service waiting for review: it can be bought and found.

        Raises:
            PermissionDenied: not staff.  NotFound: unknown service.
            InvalidTransition: the service is not waiting for review.
        """
        return self._moderate(service_id, by, "approve", "approved", "service.approved",
                              reason=None, allowed_from=frozenset({"pending_review", "rejected"}))

    def reject(self, service_id: str, *, by: Actor, reason: str) -> Service:
        """Staff reject a service with a reason the seller is told (``service.rejected``).

        Raises:
            PermissionDenied: not staff.  ValidationError: no reason.
            NotFound: unknown service.  InvalidTransition: not waiting for review.
        """
        reason = _text("reason", reason, max_len=2000)
        return self._moderate(service_id, by, "reject", "rejected", "service.rejected",
                              reason=reason, allowed_from=frozenset({"pending_review"}))
