"""Evaluating sellers against the ladder: promotion at once, demotion after a grace.

:func:`decide` is pure: a seller's metrics and standing in, the new standing
and the event to record out (None when nothing changes, which makes a second
evaluation at the same time a no-op). :func:`evaluate_page` runs it over one
page of sellers inside a unit of work.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ..money import Currency
from ..storage.records import SELLER_LEVELS, SELLER_METRICS
from .ladder import LevelLadder
from .metrics import figures, target_level, windows_of
from .model import Figures, SellerLevel, SellerMetrics

if TYPE_CHECKING:
    from .._core import Unit

__all__ = ["Decision", "by_window", "decide", "evaluate_page"]


@attrs.frozen
class Decision:
    """A change of a seller's standing: the record to store and the event to append."""

    #: ``"promoted"``, ``"demoted"``, ``"at_risk"`` or ``"recovered"``.
    kind: str
    standing: SellerLevel
    event: str
    data: Mapping[str, Any]


def by_window(
    ladder: LevelLadder, metrics: SellerMetrics, now: dt.datetime, currency: Currency,
    windows: tuple[int | None, ...] | None = None,
) -> dict[int | None, Figures]:
    """The seller's figures for every window the ladder uses (``windows``, if computed)."""
    return {
        w: figures(metrics, window=w, now=now, currency=currency,
                   response_hours=ladder.response_hours)
        for w in (windows_of(ladder) if windows is None else windows)
    }


def decide(
    ladder: LevelLadder,
    metrics: SellerMetrics,
    standing: SellerLevel | None,
    now: dt.datetime,
    currency: Currency,
    windows: tuple[int | None, ...] | None = None,
) -> Decision | None:
    """Where the seller should stand now; None when nothing changes.

    * above the current level's requirements: promoted at once (to the highest
      level reached by climbing rung by rung);
    * below them: ``level.at_risk`` the first time, then demoted (to the level the
      figures support) once ``ladder.demotion_grace_days`` have passed;
    * back within them during the grace: ``level.recovered``;
    * pinned by staff: left alone.
    """
    if standing is not None and standing.pinned:
        return None
    seller = metrics.id
    current_id = standing.level if standing is not None else ladder.first.id
    known = any(lv.id == current_id for lv in ladder.levels)
    current = ladder.index(current_id)
    target = target_level(ladder, by_window(ladder, metrics, now, currency, windows))
    base = standing or SellerLevel(seller, ladder.first.id, now, version=0)

    def moved(kind: str) -> Decision:
        to = ladder.levels[target].id
        new = attrs.evolve(base, level=to, since=now, below_since=None,
                           version=base.version + 1)
        return Decision(kind, new, "level.changed", {
            "seller_id": seller, "from": current_id, "to": to,
            "direction": "up" if kind == "promoted" else "down", "reason": "evaluation",
        })

    if not known:  # the ladder lost the seller's level: place them where they stand
        return moved("promoted" if target > 0 else "demoted")
    if target > current:
        return moved("promoted")
    if target < current:
        grace = dt.timedelta(days=ladder.demotion_grace_days)
        if base.below_since is not None and now >= base.below_since + grace:
            return moved("demoted")
        if base.below_since is None:
            if not grace:
                return moved("demoted")
            new = attrs.evolve(base, below_since=now, version=base.version + 1)
            return Decision("at_risk", new, "level.at_risk", {
                "seller_id": seller, "level": current_id,
                "demotion_due": (now + grace).isoformat(),
                "would_be": ladder.levels[target].id,
            })
        return None
    if base.below_since is not None:
        new = attrs.evolve(base, below_since=None, version=base.version + 1)
        return Decision("recovered", new, "level.recovered",
                        {"seller_id": seller, "level": current_id})
    return None


def store(u: Unit, decision: Decision, standing: SellerLevel | None) -> None:
    """Save the decision's standing and append its event."""
    if standing is None:
        u.tx.add(SELLER_LEVELS, attrs.evolve(decision.standing, version=1))
    else:
        u.tx.save(SELLER_LEVELS, decision.standing, standing.version)
    u.emit(decision.event, f"seller:{decision.standing.id}", "system", decision.data)


def evaluate_page(
    u: Unit, ladder: LevelLadder, currency: Currency, after: str | None, limit: int
) -> tuple[int, str | None, dict[str, int]]:
    """Evaluate up to ``limit`` sellers with metrics after key ``after``.

    Returns how many were evaluated, the last key (None at the end), and the
    count of each decision kind.
    """
    rows = u.tx.find(SELLER_METRICS, {}, after=after, limit=limit)
    kinds: dict[str, int] = {}
    windows = windows_of(ladder)
    for metrics in rows:
        standing = u.tx.get(SELLER_LEVELS, metrics.id)
        decision = decide(ladder, metrics, standing, u.now, currency, windows)
        if decision is not None:
            store(u, decision, standing)
            kinds[decision.kind] = kinds.get(decision.kind, 0) + 1
    last = rows[-1].id if len(rows) == limit else None
    return len(rows), last, kinds
