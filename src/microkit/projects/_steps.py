"""Project changes shared by the project and bid commands, run inside a unit of work."""

from __future__ import annotations

import attrs

from .._core import Unit
from ..actors import Actor
from ..catalog._checks import Seen
from ..storage.records import BIDS, PROJECTS
from . import search as ps
from ._common import evolve
from .lifecycle import BID, PROJECT, Role
from .model import Bid, Project

__all__ = ["close_bids", "move_project", "project_role", "reindex"]


def project_role(project: Project, by: Actor) -> Role | None:
    """How ``by`` stands to ``project``: its buyer, staff, the system, or nobody."""
    if by.kind == "staff":
        return "staff"
    if by.kind == "system":
        return "system"
    return "buyer" if by.id == project.buyer_id else None


def reindex(u: Unit, project: Project) -> None:
    """Bring the project's browse document up to date."""
    u.tx.index_projects([ps.doc_for(project, Seen().path(u.tx, project.category))])


def move_project(u: Unit, project: Project, by: Actor, name: str, *,
                 reason: str | None = None, **changes: object) -> Project:
    """Run project move ``name``: check it, save, re-index, append its event.

    Cancelling closes every live bid (their sellers are told).

    Raises: PermissionDenied, InvalidTransition (from the table).
    """
    move = PROJECT.check(name, project.state, project_role(project, by), actor=str(by),
                         subject=project.id)
    if reason is not None:
        changes["reason"] = reason or None
    if move.to in PROJECT.terminal:
        changes["closed_at"] = u.now
    new = evolve(project, u.now, state=move.to, **changes)
    if move.to == "cancelled" and project.live_bids:
        new = attrs.evolve(new, live_bids=0)
        close_bids(u, project, by, reason="the project was cancelled")
    u.tx.save(PROJECTS, new, project.version)
    reindex(u, new)
    data: dict[str, object] = {"project_id": project.id, "buyer_id": project.buyer_id,
                               "from": project.state, "to": move.to}
    if reason:
        data["reason"] = reason
    for key in ("awarded_bid_id", "order_id"):
        if key in changes:
            data[key] = changes[key]
    u.emit(move.event, f"project:{project.id}", str(by), data)
    return new


def close_bids(u: Unit, project: Project, by: Actor, *, reason: str,
               accepted: Bid | None = None) -> int:
    """Close every live bid of ``project`` but ``accepted``; each seller is told (an event).

    ``accepted`` (the bid as accepted, version bumped) is saved in its place among the
    others: every command writes a project's bids in key order, so two buyers' accepts
    racing on one project never lock them in opposite orders (a deadlock PostgreSQL only
    breaks after ``deadlock_timeout``); the second one's compare-and-set fails instead.
    """
    closed = 0
    after: str | None = None
    pending = accepted
    while True:
        batch = u.tx.find(BIDS, {"project_id": project.id}, after=after, limit=500)
        for bid in batch:
            if pending is not None and bid.id == pending.id:
                u.tx.save(BIDS, pending, pending.version - 1)
                pending = None
                continue
            if not bid.is_live:
                continue
            move = BID.check("close", bid.state, "system", actor="system", subject=bid.id)
            u.tx.save(BIDS, evolve(bid, u.now, state=move.to, reason=reason), bid.version)
            u.emit(move.event, f"project:{project.id}", str(by), {
                "project_id": project.id, "bid_id": bid.id, "seller_id": bid.seller_id,
                "buyer_id": bid.buyer_id, "reason": reason,
            })
            closed += 1
        if len(batch) < 500:
            if pending is not None:  # not listed (cannot happen): saved all the same
                u.tx.save(BIDS, pending, pending.version - 1)
            return closed
        after = batch[-1].id
