"""``market.projects``: open projects, browsing, and the bids on them.

A buyer posts requirements, a budget range and a duration; sellers browse and
bid; the buyer shortlists, rejects, talks to bidders and accepts one, which
places an escrowed order with the bid's amount and days. The lifecycles are the
tables in :mod:`microkit.projects.lifecycle`; the bid commands live in
:mod:`microkit.projects.bids`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

from .._checks import actor_checked, check_cursor, money_bound, text
from .._core import Core, Unit, new_id
from ..actors import Actor
from ..catalog._checks import Seen
from ..catalog.search import descendants
from ..errors import NotFound, ValidationError
from ..events import Event
from ..money import Money
from ..storage.base import Tx
from ..storage.records import CATEGORIES, ORDERS, PROJECTS, USERS
from . import search as ps
from ._common import MAX_TEXT, MAX_TITLE, check_days, check_money, user_only
from ._steps import move_project
from .bids import BidCommands, normalize_skills
from .lifecycle import BID, PROJECT, Lifecycle
from .model import Page, Project, ProjectState

if TYPE_CHECKING:
    from ..orders.facade import OrdersFacade

__all__ = ["ProjectsFacade"]

_DONE = frozenset({"completed", "settled"})
_FAILED = frozenset({"cancelled", "expired"})


@actor_checked
class ProjectsFacade(BidCommands):
    """Open projects and their bids. Reached as ``market.projects``.

    .. versionadded:: 0.1
    """

    def __init__(self, core: Core, orders: OrdersFacade) -> None:
        self._core = core
        self._orders = orders
        core.projectors.append(self._follow_orders)

    @property
    def lifecycle(self) -> Lifecycle:
        """The project table (:data:`~microkit.projects.lifecycle.PROJECT`)."""
        return PROJECT

    @property
    def bid_lifecycle(self) -> Lifecycle:
        """The bid table (:data:`~microkit.projects.lifecycle.BID`)."""
        return BID

    # -- posting and moderation --------------------------------------------------------

    def post(
        self,
        *,
        by: Actor,
        title: str,
        description: str,
        category: str,
        budget_min: Money,
        budget_max: Money,
        duration_days: int,
        skills: Sequence[str] = (),
    ) -> Project:
        """The buyer posts a project: ``open`` (``pending_review`` with
        ``project_moderation`` on).

        Raises:
            PermissionDenied: not a user.
            NotFound: unknown user or category.
            ValidationError: empty or long texts, bad days or skills, an inactive category;
                InvalidAmount / CurrencyMismatch / PriceOutOfRange for a budget off the
                market's price policy (below ``min_price``, off ``price_step``, over
                ``max_price``) or ``budget_min`` above ``budget_max``.
        """
        user_only(by, "post projects")
        config = self._core.config
        title = text("title", title, max_len=MAX_TITLE)
        description = text("description", description, max_len=MAX_TEXT)
        low = check_money("budget_min", budget_min, config)
        high = check_money("budget_max", budget_max, config)
        if low > high:
            raise ValidationError(f"budget_min: expected at most budget_max {high}, got {low}",
                                  field="budget_min", value=low)
        days = check_days("duration_days", duration_days)
        wanted = normalize_skills(skills)

        def command(u: Unit) -> Project:
            u.need(USERS, by.id, "user")
            seen = Seen()
            seen.category(u.tx, category, field="category", new=True)
            state: ProjectState = "pending_review" if config.project_moderation else "open"
            project = Project(
                id=new_id("p"), buyer_id=by.id, title=title, description=description,
                category=category, budget_min=low, budget_max=high, duration_days=days,
                skills=wanted, state=state, created_at=u.now, updated_at=u.now,
            )
            u.tx.add(PROJECTS, project)
            u.tx.index_projects([ps.doc_for(project, seen.path(u.tx, category))])
            data = {"project_id": project.id, "buyer_id": by.id, "state": state,
                    "category": category, "budget_min": low.amount, "budget_max": high.amount,
                    "duration_days": days}
            u.emit("project.posted", f"project:{project.id}", str(by), data)
            return project

        return self._core.run(command)

    def _move(self, project_id: str, by: Actor, name: str, *, reason: str | None = None
              ) -> Project:
        def command(u: Unit) -> Project:
            project = u.need(PROJECTS, project_id, "project")
            return move_project(u, project, by, name, reason=reason)

        return self._core.run(command)

    def approve(self, project_id: str, *, by: Actor) -> Project:
        """Staff publish a project waiting for review. Raises NotFound, PermissionDenied,
        InvalidTransition."""
        return self._move(project_id, by, "approve")

    def reject(self, project_id: str, *, by: Actor, reason: str) -> Project:
        """Staff refuse a project with a reason the buyer is told. Raises NotFound,
        PermissionDenied, InvalidTransition, ValidationError (no reason)."""
        return self._move(project_id, by, "reject",
                          reason=text("reason", reason, max_len=2000))

    def close(self, project_id: str, *, by: Actor) -> Project:
        """The buyer stops taking bids; the bids in hand may still be accepted.
        Raises NotFound, PermissionDenied, InvalidTransition."""
        return self._move(project_id, by, "close")

    def reopen(self, project_id: str, *, by: Actor) -> Project:
        """The buyer takes bids again. Raises NotFound, PermissionDenied,
        InvalidTransition."""
        return self._move(project_id, by, "reopen")

    def cancel(self, project_id: str, *, by: Actor, reason: str = "") -> Project:
        """The buyer (or staff) withdraws a project not yet awarded; live bids are closed
        and their sellers told. Raises NotFound, PermissionDenied, InvalidTransition,
        ValidationError."""
        return self._move(project_id, by, "cancel",
                          reason=text("reason", reason, max_len=2000, required=False))

    # -- reading -----------------------------------------------------------------------

    def get(self, project_id: str) -> Project:
        """A project by id. Raises NotFound."""
        return self._core.get(PROJECTS, project_id, "project")

    def history(self, project_id: str) -> list[Event]:
        """Every event of the project and its bids, oldest first."""
        self.get(project_id)
        return self._core.query(lambda tx: tx.events(0, 10_000, subject=f"project:{project_id}"))

    def mine(self, *, by: Actor, state: str | None = None, cursor: str | None = None,
             limit: int = 20) -> Page[Project]:
        """The buyer's own projects, newest first (any state, or one).

        Raises: PermissionDenied (not a user), ValidationError (bad state or limit, a
        cursor that is not a str).
        """
        user_only(by, "list projects")
        if state is not None and state not in PROJECT.states:
            raise ValidationError(f"state: expected one of {PROJECT.states}, got {state!r}",
                                  field="state", value=state)
        ps.check_limit(limit)
        check_cursor("cursor", cursor)
        where: dict[str, str | int | None] = {"buyer_id": by.id}
        if state is not None:
            where["state"] = state
        rows = self._core.query(lambda tx: tx.find(PROJECTS, where, descending=True,
                                                   after=cursor, limit=limit + 1))
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(tuple(rows), rows[-1].id if more and rows else None)

    def browse(
        self,
        *,
        query: str | None = None,
        category: str | None = None,
        skills: Sequence[str] = (),
        min_budget: Money | None = None,
        max_budget: Money | None = None,
        max_duration_days: int | None = None,
        sort: ps.ProjectSort = "newest",
        cursor: str | None = None,
        limit: int = 20,
    ) -> Page[Project]:
        """Open projects for sellers: filters, Arabic-aware text, an order, keyset pages.

        Args:
            query: words to find in the title, description or skills (normalized as
                the catalog does: "التصميم" finds "تصميم"); None for no text filter.
            category: this category and every one below it.
            skills: projects asking for any of these skills.
            min_budget, max_budget: projects whose budget range overlaps this range
                (any amount of at least 0 in the market's currency: filters, not prices,
                so the minimum, step and cap of prices do not apply).
            max_duration_days: projects expecting the work in at most this many days.
            sort: ``newest``, ``budget_high``, ``budget_low`` or ``fewest_bids``.
            cursor: ``page.next_cursor`` of the previous page of this same browse.

        Raises:
            NotFound: unknown category.
            ValidationError: a bad filter, sort, limit or cursor (InvalidAmount /
                CurrencyMismatch for budgets).
        """
        config = self._core.config
        terms, searchable = ps.query_to_terms(query)
        if category is not None and (not isinstance(category, str) or not category):
            raise ValidationError(f"category: expected a slug or None, got {category!r:.80}",
                                  field="category", value=category)
        tokens = tuple(sorted({ps.skill_token(s) for s in normalize_skills(skills)}))
        low = None if min_budget is None else money_bound("min_budget", min_budget, config)
        high = None if max_budget is None else money_bound("max_budget", max_budget, config)
        if max_duration_days is not None:
            check_days("max_duration_days", max_duration_days)
        spec = ps.ProjectSpec(
            terms=terms, category=category, skills=tokens,
            min_budget=None if low is None else low.amount,
            max_budget=None if high is None else high.amount,
            max_duration_days=max_duration_days, sort=ps.check_sort(sort),
            limit=ps.check_limit(limit),
        )
        if cursor is not None:
            spec = attrs.evolve(spec, after=ps.decode_cursor(cursor, spec))
        if not searchable or (low is not None and high is not None and low > high):
            return Page(())

        def read(tx: Tx) -> Page[Project]:
            run = spec
            if category is not None:
                if tx.get(CATEGORIES, category) is None:
                    raise NotFound("category", category)
                run = attrs.evolve(spec, within=descendants(tx, category))
            rows = tx.search_projects(attrs.evolve(run, limit=spec.limit + 1))
            shown = rows[: spec.limit]
            items = []
            for row in shown:
                project = row.project or tx.get(PROJECTS, row.project_id)
                if project is not None and project.state == "open":
                    items.append(project)
            more = len(rows) > spec.limit
            return Page(tuple(items), ps.encode_cursor(spec, shown[-1].key) if more else None)

        return self._core.query(read)

    def search(self, query: str, **filters: object) -> Page[Project]:
        """:meth:`browse` with a text query first (the same filters as keywords)."""
        return self.browse(query=query, **filters)  # type: ignore[arg-type]

    # -- following the awarded order -----------------------------------------------------

    def _follow_orders(self, u: Unit, events: list[Event]) -> None:
        """Projector: an awarded project completes or is cancelled with its order."""
        for event in list(events):
            to = event.data.get("to") if event.name.startswith("order.") else None
            if to not in _DONE and to not in _FAILED:
                continue
            order = u.tx.get(ORDERS, str(event.data.get("order_id")))
            if order is None or not order.source.startswith("project:"):
                continue
            project_id = order.source.partition("/")[0].removeprefix("project:")
            project = u.tx.get(PROJECTS, project_id)
            if project is None or project.state != "awarded" or project.order_id != order.id:
                continue
            name = "complete" if to in _DONE else "abandon"
            reason = None if to in _DONE else f"order {order.id} was {to}"
            move_project(u, project, Actor.system(), name, reason=reason)
