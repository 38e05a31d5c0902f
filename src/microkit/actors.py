"""Who runs a command: a user of the application, a staff member, or the system."""

from __future__ import annotations

from typing import Literal, Self

import attrs

from .errors import ValidationError

__all__ = ["Actor", "ActorKind"]

ActorKind = Literal["user", "staff", "system"]


def _check_id(inst: Actor, attribute: attrs.Attribute[str], value: str) -> None:
    # Ids are opaque and kept as given; only a blank one (empty or whitespace) is no id.
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise ValidationError(
            f"actor id: expected a non-blank string of at most 200 characters, got {value!r}",
            field="by",
            value=value,
        )


@attrs.frozen
class Actor:
    """The party a command is run by. The application authenticates; microkit authorizes.

    .. versionadded:: 0.1
    """

    #: ``"user"``, ``"staff"`` or ``"system"``.
    kind: ActorKind
    #: The application's own id for the user or staff member; ``"system"`` for the system.
    id: str = attrs.field(validator=_check_id)

    @classmethod
    def user(cls, user_id: str) -> Self:
        """A marketplace user (buyer or seller) by the application's user id."""
        return cls("user", user_id)

    @classmethod
    def staff(cls, staff_id: str) -> Self:
        """A staff member (support, moderation, finance)."""
        return cls("staff", staff_id)

    @classmethod
    def system(cls) -> Self:
        """microkit itself: timers run by :meth:`Marketplace.tick`, webhooks."""
        return cls("system", "system")

    def __str__(self) -> str:
        return "system" if self.kind == "system" else f"{self.kind}:{self.id}"
