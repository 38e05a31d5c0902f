"""Seller metrics as pure data: fold facts into counters, sum windows, check requirements.

No storage and no clock: the projector (:mod:`microkit.levels.projector`)
reads what it needs and calls :func:`bump`; evaluation and the facade call
:func:`figures` and :func:`check`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal

from .._evolve import evolve
from ..money import Currency, Money
from .ladder import Level, LevelLadder, Requirement
from .model import IX, N_COUNTERS, ZERO, Check, Figures, SellerMetrics

__all__ = ["bump", "check", "day_of", "figures", "meets", "target_level", "windows_of"]

_Q = Decimal("0.0001")


def day_of(when: dt.datetime) -> str:
    """The UTC day of ``when`` as an ISO date: the key of a day's counters."""
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC)
    return when.date().isoformat()


def bump(
    metrics: SellerMetrics,
    changes: Iterable[tuple[str, str, int]],
    *,
    now: dt.datetime,
    history_days: int,
) -> SellerMetrics:
    """Add ``(day, counter, delta)`` changes to the totals and the day buckets.

    ``buyers`` changes touch only the day buckets unless the counter name is
    ``"buyers_total"`` (a buyer served for the first time adds to both: pass two
    changes). Buckets older than ``history_days`` are dropped.
    """
    totals = list(metrics.totals) + [0] * (N_COUNTERS - len(metrics.totals))
    days = dict(metrics.days)
    for day, name, delta in changes:
        if name == "buyers_total":
            totals[IX["buyers"]] += delta
            continue
        i = IX[name]
        if name != "buyers":
            totals[i] += delta
        bucket = days.get(day)
        if bucket is None:
            if name == "buyers" and delta < 0:
                continue  # that day is out of history already
            bucket = ZERO
        row = list(bucket) + [0] * (N_COUNTERS - len(bucket))
        row[i] += delta
        days[day] = tuple(row)
    oldest = day_of(now - dt.timedelta(days=history_days))
    if any(d < oldest for d in days):
        days = {d: v for d, v in days.items() if d >= oldest}
    return evolve(metrics, totals=tuple(totals), days=days, updated_at=now,
                        version=metrics.version + 1)


def _rate(num: int, den: int) -> Decimal | None:
    return None if den <= 0 else (Decimal(num) / Decimal(den)).quantize(_Q, ROUND_HALF_UP)


def _sums(metrics: SellerMetrics, window: int | None, now: dt.datetime) -> list[int]:
    if window is None:
        return list(metrics.totals) + [0] * (N_COUNTERS - len(metrics.totals))
    first = day_of(now - dt.timedelta(days=window - 1))
    last = day_of(now)
    out = [0] * N_COUNTERS
    for day, row in metrics.days.items():
        if first <= day <= last:
            for i, v in enumerate(row):
                out[i] += v
    return out


def _response_sums(metrics: SellerMetrics, window: int | None, now: dt.datetime,
                   response_hours: int) -> tuple[int, int]:
    """(answered in time, waits) over waits old enough to have had their full answer time.

    A wait that started less than ``response_hours`` ago and is still open must not count
    against the seller yet: only days wholly before ``now - response_hours`` count.
    """
    cutoff = day_of(now - dt.timedelta(hours=response_hours))
    first = None if window is None else day_of(now - dt.timedelta(days=window - 1))
    waits = answered = 0
    wi, ai = IX["waits"], IX["answered"]
    for day, row in metrics.days.items():
        if day < cutoff and (first is None or day >= first):
            waits += row[wi]
            answered += row[ai]
    if window is None:
        # All time: the totals, less the recent days still inside the answer time.
        recent_w = sum(r[wi] for d, r in metrics.days.items() if d >= cutoff)
        recent_a = sum(r[ai] for d, r in metrics.days.items() if d >= cutoff)
        return metrics.totals[ai] - recent_a, metrics.totals[wi] - recent_w
    return answered, waits


def figures(
    metrics: SellerMetrics,
    *,
    window: int | None,
    now: dt.datetime,
    currency: Currency,
    response_hours: int,
) -> Figures:
    """The seller's figures over the last ``window`` days (all time for None)."""
    s = _sums(metrics, window, now)
    answered, waits = _response_sums(metrics, window, now, response_hours)
    closed = s[IX["completed"]] + s[IX["settled"]] + s[IX["cancelled"]]
    return Figures(
        window_days=window,
        completed_orders=s[IX["completed"]],
        unique_buyers=s[IX["buyers"]],
        earnings=Money(s[IX["earnings"]], currency),
        account_age_days=max(0, (now - metrics.since).days),
        rating=_rate(s[IX["rating_total"]], s[IX["ratings"]]) if s[IX["ratings"]] else None,
        rating_count=s[IX["ratings"]],
        on_time_rate=_rate(s[IX["on_time"]], s[IX["first_deliveries"]]),
        completion_rate=_rate(closed - s[IX["cancelled"]], closed),
        response_rate=_rate(answered, waits),
        disputes_lost=s[IX["disputes_lost"]],
        cancelled_orders=s[IX["cancelled"]],
    )


def windows_of(ladder: LevelLadder) -> tuple[int | None, ...]:
    """Every window the ladder's requirements use (None for all time), all time first."""
    found = sorted({r.window for lv in ladder.levels for r in lv.requirements
                    if r.window is not None})
    return (None, *found)


def check(req: Requirement, fig: Figures) -> Check:
    """``req`` against the figures of its window (``fig.window_days`` must match)."""
    actual: int | Decimal | Money | None = getattr(fig, req.metric)
    required = req.value
    if actual is None:
        return Check(req.metric, req.window, required, None, False, None,
                     "at_most" if req.at_most else "at_least")
    if req.at_most:
        met = actual <= required  # type: ignore[operator]
        gap = None if met else actual - required  # type: ignore[operator]
        return Check(req.metric, req.window, required, actual, met, gap, "at_most")
    met = actual >= required  # type: ignore[operator]
    gap = None if met else required - actual  # type: ignore[operator]
    return Check(req.metric, req.window, required, actual, met, gap)


def meets(level: Level, by_window: Mapping[int | None, Figures]) -> bool:
    """Whether every requirement of ``level`` holds."""
    return all(check(r, by_window[r.window]).met for r in level.requirements)


def target_level(ladder: LevelLadder, by_window: Mapping[int | None, Figures]) -> int:
    """The highest rung reached by climbing while each next level's requirements hold."""
    reached = 0
    for i in range(1, len(ladder.levels)):
        if not meets(ladder.levels[i], by_window):
            break
        reached = i
    return reached
