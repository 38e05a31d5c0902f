"""``market.ledger``: balances, account balances and the full ledger check."""

from __future__ import annotations

from .._core import Core
from ..errors import ValidationError
from ..money import Money
from . import ledger
from .ledger import Balance, VerifyReport

__all__ = ["LedgerFacade"]


class LedgerFacade:
    """The escrow ledger, read side. Reached as ``market.ledger``.

    .. versionadded:: 0.1
    """

    def __init__(self, core: Core) -> None:
        self._core = core

    def balance(self, user_id: str) -> Balance:
        """A user's available and pending (clearing) money, in the market's currency."""
        accounts = [ledger.user_available(user_id), ledger.user_pending(user_id)]
        kept, _ = self._core.query(lambda tx: tx.balances(accounts))
        cur = self._core.config.currency
        return Balance(Money(kept.get(accounts[0], 0), cur), Money(kept.get(accounts[1], 0), cur))

    def account_balance(self, account: str) -> Money:
        """The balance of any ledger account, e.g. ``"platform:commission"``,
        ``"escrow:order:o_…"``; zero for an account never posted to."""
        if not isinstance(account, str) or ":" not in account:
            raise ValidationError(
                f"account: expected a ledger account name like 'platform:commission',"
                f" got {account!r}",
                field="account",
                value=account,
            )
        kept, currencies = self._core.query(lambda tx: tx.balances([account]))
        return Money(kept.get(account, 0), currencies.get(account, self._core.config.currency))

    def verify(self) -> VerifyReport:
        """Recompute every balance from the journal and report any difference.

        Checks that every transaction sums to zero, that every kept balance
        equals the sum of its postings, and that no account that must not go
        negative has.
        """
        return self._core.query(lambda tx: ledger.verify(tx.journal(), tx.all_balances()))
