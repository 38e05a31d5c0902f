"""What the SQL feature modules (catalog and project search) need from a unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

__all__ = ["FeatureTx", "is_sqlite", "keyset_after"]


class FeatureTx(Protocol):
    """The part of :class:`~microkit.storage._sql.SqlTx` a feature module's own SQL uses."""

    @property
    def cursor(self) -> Any: ...

    def sql(self, text: str) -> str: ...

    def update_one(self, sql: str, params: list[Any], missing: tuple[str, str]) -> None: ...

    @property
    def dialect(self) -> Any: ...


def is_sqlite(tx: FeatureTx) -> bool:
    """Whether the unit of work runs on SQLite (else PostgreSQL): picks the SQL variant."""
    return bool(tx.dialect.name == "sqlite")


def keyset_after(
    order: Sequence[tuple[str, bool]], after: Sequence[Any]
) -> tuple[str, list[Any]]:
    """The WHERE clause that resumes a page after the sort key ``after`` (keyset paging).

    Args:
        order: ``(SQL expression, descending)`` per sort key component.
        after: the last row's key, descending components negated (so every component
            compares "greater is later").

    Returns:
        ``(e1 > ?) OR (e1 = ? AND e2 > ?) OR …`` (``<`` for descending parts) and its
        parameters in placeholder order.
    """
    ors: list[str] = []
    params: list[Any] = []
    for i, (expr, desc) in enumerate(order):
        parts = [f"{e} = ?" for e, _ in order[:i]]
        parts.append(f"{expr} {'<' if desc else '>'} ?")
        ors.append("(" + " AND ".join(parts) + ")")
        params += [-after[j] if order[j][1] else after[j] for j in range(i + 1)]
    return "(" + " OR ".join(ors) + ")", params
