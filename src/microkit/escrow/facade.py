"""``market.ledger``: balances, account balances and the full ledger check."""

from __future__ import annotations

import datetime as dt

from .._core import Core
from ..errors import ValidationError
from ..money import Money
from ..storage.base import Tx
from . import ledger
from . import statement as _statement
from .ledger import Balance, VerifyReport
from .statement import SettlementReport, Statement

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

    def statement(self, account: str, start: dt.datetime, end: dt.datetime) -> Statement:
        """An account's postings in ``[start, end)`` with running balances, for reconciliation.

        Args:
            account: any ledger account, e.g. ``"gateway:sandbox"``, ``"user:amal:available"``.
            start, end: timezone-aware bounds; ``start`` included, ``end`` excluded.

        Raises:
            ValidationError: a bad account name, naive datetimes, or ``end`` before ``start``.

        .. versionadded:: 0.2
        """
        self.account_balance(account)  # validates the name
        start, end = _statement.check_period(start, end)
        cur = self._core.config.currency
        return self._core.query(lambda tx: _statement.statement(tx, account, start, end, cur))

    def settlement(self, gateway: str, start: dt.datetime, end: dt.datetime) -> SettlementReport:
        """Money in, refunds and fees through one gateway in ``[start, end)``.

        Match it against the processor's own settlement report. Fees are those
        the gateway reported on its charges (``ChargeResult.fee``).

        Raises:
            ValidationError: naive datetimes, or ``end`` before ``start``.

        .. versionadded:: 0.2
        """
        start, end = _statement.check_period(start, end)
        cur = self._core.config.currency
        core = self._core

        def read(tx: Tx) -> SettlementReport:
            fees = 0
            after = 0
            while True:
                page = tx.events(after, 1000)
                if not page:
                    break
                for e in page:
                    if (e.name == "payment.fee" and e.data.get("gateway") == gateway
                            and start <= e.at < end):
                        fees += int(e.data["fee"])
                after = page[-1].seq
            return _statement.settlement(tx, gateway, start, end, cur, fees)

        return core.query(read)
