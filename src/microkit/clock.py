"""Where time comes from: the Clock protocol, the system clock and a frozen clock."""

from __future__ import annotations

import datetime as dt
from typing import Protocol, final, runtime_checkable

__all__ = ["Clock", "FrozenClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Anything that tells the current time as an aware UTC datetime.

    The domain never reads the wall clock; every timestamp comes from the
    market's clock, so tests and the demo can move time by hand.

    .. versionadded:: 0.1
    """

    def now(self) -> dt.datetime:
        """The current time, timezone-aware (UTC)."""
        ...


@final
class SystemClock:
    """The real time, from :func:`datetime.datetime.now` in UTC."""

    __slots__ = ()

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


@final
class FrozenClock:
    """A clock that stands still until told to move; for tests and the demo.

    Args:
        start: an aware datetime; naive datetimes are refused because
            mixing them with aware ones breaks every comparison later.
    """

    __slots__ = ("_now",)

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError(f"start: expected a timezone-aware datetime, got {start!r}")
        self._now = start.astimezone(dt.UTC)

    def now(self) -> dt.datetime:
        return self._now

    def advance(
        self, *, days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0
    ) -> dt.datetime:
        """Move forward and return the new time."""
        delta = dt.timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        if delta < dt.timedelta(0):
            raise ValueError(f"advance: time only moves forward, got {delta}")
        self._now += delta
        return self._now

    def set(self, when: dt.datetime) -> None:
        """Jump to ``when`` (aware), forward or back: for clock-jump tests."""
        if when.tzinfo is None:
            raise ValueError(f"when: expected a timezone-aware datetime, got {when!r}")
        self._now = when.astimezone(dt.UTC)

    def __repr__(self) -> str:
        return f"FrozenClock({self._now.isoformat()})"
