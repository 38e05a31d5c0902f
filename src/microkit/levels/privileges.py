"""What a seller's level allows, read inside a unit of work and enforced where it applies.

The catalog calls :func:`check_service` when a seller creates, edits,
resubmits or resumes a service; order completion asks :func:`clearance_days`.
Limits apply to what a seller does next: a demotion never takes down what
is already listed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ..errors import LimitExceeded
from ..storage.records import SELLER_LEVELS, SERVICES
from .ladder import Level, LevelLadder

if TYPE_CHECKING:
    from ..catalog.model import Service
    from ..config import MarketConfig
    from ..storage.base import Tx

__all__ = ["ACTIVE_STATES", "check_service", "clearance_days", "level_of", "public_standing"]

#: Service states that count against ``max_active_services``.
ACTIVE_STATES: Final = ("approved", "pending_review")


def level_of(tx: Tx, ladder: LevelLadder, seller_id: str) -> Level:
    """The seller's current level (the first one without a record)."""
    rec = tx.get(SELLER_LEVELS, seller_id)
    if rec is None:
        return ladder.first
    return ladder.levels[ladder.index(rec.level)]


def public_standing(tx: Tx, ladder: LevelLadder, seller_id: str) -> tuple[str, tuple[str, ...]]:
    """What buyers see of a seller's standing: the level id and the badges staff granted."""
    rec = tx.get(SELLER_LEVELS, seller_id)
    if rec is None:
        return ladder.first.id, ()
    return ladder.levels[ladder.index(rec.level)].id, rec.badges


def clearance_days(tx: Tx, config: MarketConfig, seller_id: str) -> int:
    """Days the seller's earnings stay pending: the level's, else ``config.clearance_days``."""
    days = level_of(tx, config.levels, seller_id).privileges.clearance_days
    return config.clearance_days if days is None else days


def _refuse(level: Level, seller_id: str, limit: str, value: object, detail: str
            ) -> LimitExceeded:
    return LimitExceeded(
        f"{limit}: seller {seller_id!r} at level {level.id!r} ({level.name('en')})"
        f" {detail}",
        limit=limit,
        value=value,
    )


def check_service(
    tx: Tx, config: MarketConfig, service: Service, before: Service | None = None
) -> None:
    """Refuse a service the seller's level does not allow; ``before`` is the stored copy
    for an edit or state change (None for a new service, already added to ``tx``).

    Only what changes is checked: a new price or upgrade, one more upgrade, one more
    active service.

    Raises:
        LimitExceeded: ``limit`` is ``max_price``, ``max_upgrades_per_service`` or
            ``max_active_services``, ``value`` the level's limit; the message names the
            level.
    """
    level = level_of(tx, config.levels, service.seller_id)
    p = level.privileges
    seller = service.seller_id
    cap = p.max_price
    if cap is not None:
        if (before is None or service.price != before.price) and service.price > cap:
            raise _refuse(level, seller, "max_price", cap,
                          f"may price services up to {cap}, got {service.price}")
        for up in service.upgrades:
            old = before.upgrade(up.id) if before is not None else None
            if (old is None or old.price != up.price) and up.price > cap:
                raise _refuse(level, seller, "max_price", cap,
                              f"may price upgrades up to {cap}, got {up.price}")
    most = p.max_upgrades_per_service
    if most is not None and len(service.upgrades) > most and (
        before is None or len(service.upgrades) > len(before.upgrades)
    ):
        raise _refuse(level, seller, "max_upgrades_per_service", most,
                      f"may offer {most} upgrades per service, got {len(service.upgrades)}")
    allowed = p.max_active_services
    if allowed is not None and service.state in ACTIVE_STATES and (
        before is None or before.state not in ACTIVE_STATES
    ):
        active = 0
        for state in ACTIVE_STATES:
            active += len(tx.find(SERVICES, {"seller_id": seller, "state": state},
                                  limit=allowed + 1))
        if active > allowed:
            raise _refuse(level, seller, "max_active_services", allowed,
                          f"may have {allowed} active services at once, this would make"
                          f" {active}")
