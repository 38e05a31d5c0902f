"""``market.levels``: seller levels, their metrics and the gap to the next level, evaluation,
staff pins and badges."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import attrs

from .._checks import actor_checked, aware_time, whole_number
from .._core import Core, Unit
from ..actors import Actor
from ..errors import Conflict, NotFound, PermissionDenied, ValidationError
from ..events import Event
from ..storage.base import Tx
from ..storage.records import LEVEL_SCHEDULE, SELLER_LEVELS, SELLER_METRICS, USERS
from .evaluation import by_window, decide, evaluate_page
from .evaluation import store as store_decision
from .ladder import LevelLadder, Privileges
from .metrics import check
from .model import EvaluationSummary, LevelReport, LevelSchedule, SellerLevel, SellerMetrics
from .privileges import level_of

__all__ = ["LevelsFacade"]

_SCHEDULE_KEY = "evaluation"


def _reason(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 2000:
        raise ValidationError(
            f"reason: expected non-empty text of at most 2000 characters, got {value!r:.80}",
            field="reason", value=value,
        )
    return value.strip()


def _staff(by: Actor, action: str) -> None:
    if by.kind != "staff":
        raise PermissionDenied(f"{by} may not {action}: staff only", actor=str(by),
                               action=action)


def _empty(tx: Tx, seller_id: str, now: dt.datetime) -> SellerMetrics:
    user = tx.get(USERS, seller_id)
    return SellerMetrics(seller_id, user.registered_at if user else now)


@actor_checked
class LevelsFacade:
    """Seller levels. Reached as ``market.levels``.

    Metrics are kept current by a projector inside every order, review and
    message command; :meth:`evaluate` (run by :meth:`Marketplace.tick` every
    ``config.levels.evaluate_every_days``) moves sellers up and down.

    .. versionadded:: 0.1
    """

    def __init__(self, core: Core) -> None:
        self._core = core

    @property
    def ladder(self) -> LevelLadder:
        """The market's ladder (``config.levels``)."""
        return self._core.config.levels

    # -- reading ---------------------------------------------------------------

    def get(self, seller_id: str) -> SellerLevel:
        """Where a seller stands: level, since when, pin, badges, grace. Raises NotFound."""

        def read(tx: Tx) -> SellerLevel:
            found = tx.get(SELLER_LEVELS, seller_id)
            if found is not None:
                return found
            user = tx.get(USERS, seller_id)
            if user is None:
                raise NotFound("user", seller_id)
            return SellerLevel(seller_id, self.ladder.first.id, user.registered_at, version=0)

        return self._core.query(read)

    def privileges(self, seller_id: str) -> Privileges:
        """What the seller's level allows (None fields: no limit of the level's own)."""
        return self._core.query(lambda tx: level_of(tx, self.ladder, seller_id).privileges)

    def metrics(self, seller_id: str, *, now: dt.datetime | None = None) -> LevelReport:
        """Every figure of a seller, all time and per window, the current level's
        requirements and what the next level needs (the gap).

        Raises:
            NotFound: unknown user.
            ValidationError: ``now`` is not a timezone-aware datetime.
        """
        when = self._core.clock.now() if now is None else aware_time("now", now)
        ladder, currency = self.ladder, self._core.config.currency

        def read(tx: Tx) -> LevelReport:
            if tx.get(USERS, seller_id) is None:
                raise NotFound("user", seller_id)
            standing = tx.get(SELLER_LEVELS, seller_id) or SellerLevel(
                seller_id, ladder.first.id, when, version=0)
            metrics = tx.get(SELLER_METRICS, seller_id) or _empty(tx, seller_id, when)
            figs = by_window(ladder, metrics, when, currency)
            i = ladder.index(standing.level)
            level = ladder.levels[i]
            nxt = ladder.levels[i + 1] if i + 1 < len(ladder.levels) else None
            grace = dt.timedelta(days=ladder.demotion_grace_days)
            return LevelReport(
                seller_id=seller_id, level=level.id, names=level.names,
                pinned=standing.pinned, badges=standing.badges,
                below_since=standing.below_since,
                demotion_due=None if standing.below_since is None
                else standing.below_since + grace,
                all_time=figs[None],
                windows={w: f for w, f in figs.items() if w is not None},
                current=tuple(check(r, figs[r.window]) for r in level.requirements),
                next_level=nxt.id if nxt else None,
                next=tuple(check(r, figs[r.window]) for r in nxt.requirements) if nxt else (),
            )

        return self._core.query(read)

    def history(self, seller_id: str) -> list[Event]:
        """Level events of a seller, oldest first: changes, risks, pins, badges."""
        return self._core.query(lambda tx: tx.events(0, 10_000, subject=f"seller:{seller_id}"))

    # -- evaluation --------------------------------------------------------------

    def evaluate(self, now: dt.datetime | None = None, *, batch: int = 1000
                 ) -> EvaluationSummary:
        """Evaluate every seller with metrics against the ladder, a page per unit of work.

        Promotion is at once; demotion only after ``demotion_grace_days`` below the
        level (``level.at_risk`` first); pinned sellers are left alone. Each change
        appends ``level.changed``, ``level.at_risk`` or ``level.recovered``.
        Evaluating twice at the same time changes nothing the second time.

        Raises:
            ValidationError: ``now`` is not a timezone-aware datetime, or ``batch`` is
                outside 1..10000.
        """
        whole_number("batch", batch, low=1, high=10_000)
        when = self._core.clock.now() if now is None else aware_time("now", now)
        ladder, currency = self.ladder, self._core.config.currency
        after: str | None = None
        evaluated = 0
        kinds: dict[str, int] = {}
        def page(cursor: str | None) -> Callable[[Unit], tuple[int, str | None, dict[str, int]]]:
            return lambda u: evaluate_page(u, ladder, currency, cursor, batch)

        while True:
            n, after, found = self._core.run(page(after), now=when)
            evaluated += n
            for k, v in found.items():
                kinds[k] = kinds.get(k, 0) + v
            if after is None:
                break
        return EvaluationSummary(when, evaluated, kinds.get("promoted", 0),
                                 kinds.get("demoted", 0), kinds.get("at_risk", 0),
                                 kinds.get("recovered", 0))

    def run_due(self, now: dt.datetime | None = None) -> EvaluationSummary | None:
        """Evaluate if ``evaluate_every_days`` passed since the last scheduled run (the
        first call always runs); None when not due. :meth:`Marketplace.tick` calls it.
        Raises ValidationError when ``now`` is not a timezone-aware datetime."""
        when = self._core.clock.now() if now is None else aware_time("now", now)
        every = dt.timedelta(days=self.ladder.evaluate_every_days)

        def claim(u: Unit) -> bool:
            found = u.tx.get(LEVEL_SCHEDULE, _SCHEDULE_KEY)
            if found is not None and found.next_due > u.now:
                return False
            if found is None:
                u.tx.add(LEVEL_SCHEDULE, LevelSchedule(_SCHEDULE_KEY, u.now, u.now + every))
            else:
                u.tx.save(LEVEL_SCHEDULE, attrs.evolve(
                    found, last_run=u.now, next_due=u.now + every, version=found.version + 1
                ), found.version)
            return True

        seen = self._core.query(lambda tx: tx.get(LEVEL_SCHEDULE, _SCHEDULE_KEY))
        if seen is not None and seen.next_due > when:
            return None  # not due: no write transaction on every tick
        if not self._core.run(claim, now=when):
            return None
        return self.evaluate(when)

    # -- staff -----------------------------------------------------------------

    def _standing(self, u: Unit, seller_id: str) -> SellerLevel | None:
        u.need(USERS, seller_id, "user")
        if u.tx.get(SELLER_METRICS, seller_id) is None:
            # Evaluations walk the metrics: make sure they will see this seller.
            u.tx.add(SELLER_METRICS, _empty(u.tx, seller_id, u.now))
        return u.tx.get(SELLER_LEVELS, seller_id)

    def _put(self, u: Unit, old: SellerLevel | None, new: SellerLevel) -> SellerLevel:
        if old is None:
            new = attrs.evolve(new, version=1)
            u.tx.add(SELLER_LEVELS, new)
        else:
            new = attrs.evolve(new, version=old.version + 1)
            u.tx.save(SELLER_LEVELS, new, old.version)
        return new

    def pin(self, seller_id: str, *, level: str, by: Actor, reason: str) -> SellerLevel:
        """Staff fix a seller's level; evaluations leave it until :meth:`unpin`.

        Appends ``level.pinned`` (and ``level.changed`` when the level moves).

        Raises:
            PermissionDenied: not staff.  NotFound: unknown user.
            ValidationError: unknown level, no reason.
        """
        _staff(by, "pin a level")
        why = _reason(reason)
        ladder = self.ladder
        if not isinstance(level, str) or level not in {lv.id for lv in ladder.levels}:
            raise ValidationError(
                f"level: expected one of {[lv.id for lv in ladder.levels]}, got {level!r}",
                field="level", value=level,
            )

        def command(u: Unit) -> SellerLevel:
            old = self._standing(u, seller_id)
            was = old.level if old is not None else ladder.first.id
            base = old or SellerLevel(seller_id, was, u.now)
            new = self._put(u, old, attrs.evolve(
                base, level=level, since=u.now if level != was else base.since,
                below_since=None, pinned=True, pin_reason=why))
            subject = f"seller:{seller_id}"
            u.emit("level.pinned", subject, str(by),
                   {"seller_id": seller_id, "level": level, "reason": why})
            if level != was:
                u.emit("level.changed", subject, str(by), {
                    "seller_id": seller_id, "from": was, "to": level,
                    "direction": "up" if ladder.index(level) > ladder.index(was) else "down",
                    "reason": "pinned",
                })
            return new

        return self._core.run(command)

    def unpin(self, seller_id: str, *, by: Actor, reason: str) -> SellerLevel:
        """Staff release a pinned level; the seller is evaluated at once.

        Raises:
            PermissionDenied: not staff.  NotFound: unknown user, or not pinned.
            ValidationError: no reason.
        """
        _staff(by, "unpin a level")
        why = _reason(reason)
        ladder, currency = self.ladder, self._core.config.currency

        def command(u: Unit) -> SellerLevel:
            old = self._standing(u, seller_id)
            if old is None or not old.pinned:
                raise NotFound("pinned level", seller_id)
            new = self._put(u, old, attrs.evolve(old, pinned=False, pin_reason=None))
            u.emit("level.unpinned", f"seller:{seller_id}", str(by),
                   {"seller_id": seller_id, "level": new.level, "reason": why})
            metrics = u.need(SELLER_METRICS, seller_id, "seller metrics")
            decision = decide(ladder, metrics, new, u.now, currency)
            if decision is None:
                return new
            store_decision(u, decision, new)
            return decision.standing

        return self._core.run(command)

    def grant_badge(self, seller_id: str, *, badge: str, by: Actor, reason: str
                    ) -> SellerLevel:
        """Staff grant a badge by hand (e.g. ``"trusted_seller"``), with a reason.

        Raises:
            PermissionDenied: not staff.  NotFound: unknown user.
            ValidationError: a badge that is not an identifier, no reason.
            Conflict: the seller has the badge already.
        """
        return self._badge(seller_id, badge, by, reason, grant=True)

    def revoke_badge(self, seller_id: str, *, badge: str, by: Actor, reason: str
                     ) -> SellerLevel:
        """Staff take a badge back, with a reason.

        Raises:
            PermissionDenied: not staff.  NotFound: unknown user, or no such badge.
            ValidationError: no reason.
        """
        return self._badge(seller_id, badge, by, reason, grant=False)

    def _badge(self, seller_id: str, badge: str, by: Actor, reason: str, *, grant: bool
               ) -> SellerLevel:
        _staff(by, "grant badges" if grant else "revoke badges")
        why = _reason(reason)
        if not isinstance(badge, str) or not badge.isidentifier() or len(badge) > 50:
            raise ValidationError(
                f"badge: expected an identifier of at most 50 characters, got {badge!r}",
                field="badge", value=badge,
            )
        first = self.ladder.first.id

        def command(u: Unit) -> SellerLevel:
            old = self._standing(u, seller_id)
            base = old or SellerLevel(seller_id, first, u.now)
            if grant and badge in base.badges:
                raise Conflict(f"seller {seller_id!r} has badge {badge!r} already", key=badge)
            if not grant and badge not in base.badges:
                raise NotFound("badge", f"{seller_id}:{badge}")
            badges = (*base.badges, badge) if grant else tuple(
                b for b in base.badges if b != badge)
            new = self._put(u, old, attrs.evolve(base, badges=badges))
            u.emit("level.badge_granted" if grant else "level.badge_revoked",
                   f"seller:{seller_id}", str(by),
                   {"seller_id": seller_id, "badge": badge, "reason": why})
            return new

        return self._core.run(command)
