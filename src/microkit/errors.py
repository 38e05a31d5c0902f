"""The one tree of errors microkit raises.

::

    MicrokitError
     ├── ValidationError (ValueError)         bad input; names the field and the value
     │    ├── InvalidAmount                   float, too many decimals, not a number
     │    ├── CurrencyMismatch                two currencies in one operation
     │    ├── UnknownCurrency                 a code outside microkit's ISO 4217 table
     │    ├── PriceOutOfRange                 under the minimum, off-step, over a cap
     │    └── InvalidConfig                   a MarketConfig field out of range
     ├── NotFound (LookupError)               an unknown id
     ├── PermissionDenied                     the actor may not do this
     ├── InvalidTransition                    the order's state does not allow it
     ├── InsufficientFunds                    a user account would go negative
     ├── Conflict                             idempotency key reused with another body,
     │                                        or a concurrent change won the race
     ├── LimitExceeded                        a configured limit (revisions, levels, …)
     ├── PaymentError                         a gateway failed or answered nonsense
     │    └── WebhookVerificationError        bad, stale or replayed webhook signature
     ├── PluginError                          a plugin broke the hook contract
     └── StorageError                         the backend failed (driver error chained)

Every error carries its context as keyword-only attributes, and its message
states what was expected and what came in. A command that raises changes
nothing. Every command checks its ``by`` first: anything but an
:class:`~microkit.actors.Actor` is a ValidationError naming ``by``.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ConcurrentUpdate",
    "Conflict",
    "CurrencyMismatch",
    "InsufficientFunds",
    "InvalidAmount",
    "InvalidConfig",
    "InvalidTransition",
    "LimitExceeded",
    "MicrokitError",
    "NotFound",
    "PaymentError",
    "PermissionDenied",
    "PluginError",
    "PriceOutOfRange",
    "StorageError",
    "UnknownCurrency",
    "ValidationError",
    "WebhookVerificationError",
]


class MicrokitError(Exception):
    """Base of every error microkit raises on purpose.

    .. versionadded:: 0.1
    """


class ValidationError(MicrokitError, ValueError):
    """Bad input. ``field`` names the argument or attribute, ``value`` is what came in.

    .. versionadded:: 0.1
    """

    def __init__(self, message: str, *, field: str, value: object) -> None:
        super().__init__(message)
        #: The name of the offending argument or attribute.
        self.field = field
        #: The value that was refused.
        self.value = value


class InvalidAmount(ValidationError):
    """An amount that is not an exact number of the currency's minor units.

    .. versionadded:: 0.1
    """


class CurrencyMismatch(ValidationError):
    """Two different currencies met in one operation, or a price is not in the market's.

    .. versionadded:: 0.1
    """


class UnknownCurrency(ValidationError):
    """A currency code that is not in microkit's ISO 4217 table.

    .. versionadded:: 0.1
    """


class PriceOutOfRange(ValidationError):
    """A price under the minimum, off the price step, or over a cap.

    .. versionadded:: 0.1
    """


class InvalidConfig(ValidationError):
    """A :class:`~microkit.config.MarketConfig` field with an impossible value.

    .. versionadded:: 0.1
    """


class NotFound(MicrokitError, LookupError):
    """An unknown id. ``kind`` is what was looked for (``"order"``), ``id`` the key.

    .. versionadded:: 0.1
    """

    def __init__(self, kind: str, id: str) -> None:
        super().__init__(f"{kind} {id!r} not found")
        self.kind = kind
        self.id = id


class PermissionDenied(MicrokitError):
    """The actor may not run this command on this subject.

    .. versionadded:: 0.1
    """

    def __init__(self, message: str, *, actor: str, action: str) -> None:
        super().__init__(message)
        #: The actor, as ``"user:amal"``, ``"staff:ops"`` or ``"system"``.
        self.actor = actor
        #: The command or transition that was refused.
        self.action = action


class InvalidTransition(MicrokitError):
    """The subject's current state does not allow the transition.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        message: str,
        *,
        transition: str,
        state: str,
        allowed: Sequence[str],
    ) -> None:
        super().__init__(message)
        #: The transition that was asked for.
        self.transition = transition
        #: The state the subject is in.
        self.state = state
        #: The transitions that the current state does allow.
        self.allowed = tuple(allowed)


class InsufficientFunds(MicrokitError):
    """A posting would take a user account below zero.

    .. versionadded:: 0.1
    """

    def __init__(self, message: str, *, account: str, balance: int, needed: int) -> None:
        super().__init__(message)
        self.account = account
        #: Balance in minor units before the posting.
        self.balance = balance
        #: Minor units the posting needed.
        self.needed = needed


class Conflict(MicrokitError):
    """An idempotency key reused with a different body, or a lost concurrent race.

    .. versionadded:: 0.1
    """

    def __init__(self, message: str, *, key: str) -> None:
        super().__init__(message)
        #: The transaction id, idempotency key or record id that conflicted.
        self.key = key


class ConcurrentUpdate(Conflict):
    """Another command changed the record between this one's read and write.

    Commands are retried automatically a few times before this reaches the caller.

    .. versionadded:: 0.1
    """


class LimitExceeded(MicrokitError):
    """A configured limit would be passed (revisions, level privileges, …).

    .. versionadded:: 0.1
    """

    def __init__(self, message: str, *, limit: str, value: object) -> None:
        super().__init__(message)
        #: The name of the limit, e.g. ``"max_revisions"``.
        self.limit = limit
        #: The limit's value.
        self.value = value


class PaymentError(MicrokitError):
    """A gateway failed, declined, or answered something microkit cannot use.

    .. versionadded:: 0.1
    """

    def __init__(self, message: str, *, gateway: str, outcome_unknown: bool = False) -> None:
        super().__init__(message)
        self.gateway = gateway
        #: The gateway raised (a timeout, say) or gave no usable answer, so the charge
        #: may have gone through: call again with the same idempotency key to learn
        #: its outcome (a processor answers a repeated key with the first result).
        #:
        #: .. versionadded:: 0.3
        self.outcome_unknown = outcome_unknown


class WebhookVerificationError(PaymentError):
    """A webhook whose signature is wrong, missing, stale or replayed.

    .. versionadded:: 0.1
    """


class PluginError(MicrokitError):
    """A plugin broke the hook contract: a duplicate name, a wrong type, a misspelled hook.

    .. versionadded:: 0.1
    """


class StorageError(MicrokitError):
    """The storage backend failed; the driver's exception is chained.

    .. versionadded:: 0.1
    """
