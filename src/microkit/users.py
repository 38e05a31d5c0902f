"""Marketplace users: the application's own ids with a display name."""

from __future__ import annotations

import datetime as dt

import attrs

__all__ = ["User"]


@attrs.frozen
class User:
    """A user as microkit knows them. Authentication stays with the application.

    .. versionadded:: 0.1
    """

    #: The application's own user id.
    id: str
    display_name: str
    registered_at: dt.datetime
