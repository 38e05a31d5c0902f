"""What the SQL feature modules (catalog and project search) need from a unit of work."""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["FeatureTx", "is_sqlite"]


class FeatureTx(Protocol):
    """The part of :class:`~microkit.storage._sql.SqlTx` a feature module's own SQL uses."""

    @property
    def cursor(self) -> Any: ...

    def sql(self, text: str) -> str: ...

    @property
    def dialect(self) -> Any: ...


def is_sqlite(tx: FeatureTx) -> bool:
    """Whether the unit of work runs on SQLite (else PostgreSQL): picks the SQL variant."""
    return bool(tx.dialect.name == "sqlite")
