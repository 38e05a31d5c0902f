"""The double-entry ledger's domain: accounts, postings, balanced transactions, checks.

No I/O here. Storage keeps the journal and the current balances; the rules
about what a valid transaction is and which accounts may go negative live
in this module only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Final

import attrs

from ..errors import Conflict, CurrencyMismatch, InsufficientFunds, InvalidAmount, ValidationError
from ..money import MAX_MINOR, Currency, Money

__all__ = [
    "PLATFORM_COMMISSION",
    "PLATFORM_PAYOUT_FEES",
    "Balance",
    "LedgerTransaction",
    "Posting",
    "VerifyReport",
    "check_applied",
    "deltas",
    "escrow",
    "gateway",
    "may_go_negative",
    "payment_hold",
    "payout",
    "payout_method",
    "transfer",
    "user_available",
    "user_pending",
]

#: The platform's commission income.
PLATFORM_COMMISSION: Final = "platform:commission"


def user_available(user_id: str) -> str:
    """The user's withdrawable / spendable balance."""
    return f"user:{user_id}:available"


def user_pending(user_id: str) -> str:
    """The seller's earnings still in clearance."""
    return f"user:{user_id}:pending"


def escrow(order_id: str) -> str:
    """The money held for one order."""
    return f"escrow:order:{order_id}"


def gateway(name: str) -> str:
    """Money outside microkit, as seen through one gateway (goes negative as money comes in)."""
    return f"gateway:{name}"


def payout(payout_id: str) -> str:
    """Money held for one withdrawal until it is paid out or returned."""
    return f"payout:{payout_id}"


def payment_hold(payment_id: str) -> str:
    """Money held for one split payment: the balance part, until the card part is captured.

    .. versionadded:: 0.2
    """
    return f"payment:{payment_id}"


def payout_method(name: str) -> str:
    """Money paid out to sellers through one payout method (grows as payouts settle).

    .. versionadded:: 0.2
    """
    return f"payout_method:{name}"


#: Withdrawal fees the platform keeps (``.. versionadded:: 0.2``).
PLATFORM_PAYOUT_FEES: Final = "platform:payout_fees"


def may_go_negative(account: str) -> bool:
    """Only the outside world's accounts go negative; users, escrow and holds never do."""
    return account.startswith("gateway:")


@attrs.frozen
class Posting:
    """One line of a journal transaction: ``amount`` minor units into ``account``.

    .. versionadded:: 0.1
    """

    account: str
    #: Positive credits the account's balance, negative debits it.
    amount: int


@attrs.frozen
class LedgerTransaction:
    """A balanced journal transaction; its id is the idempotency key.

    The id is derived from the cause (``"order:o_1:complete"``), so a retried
    command finds the transaction already there and posts nothing twice.

    .. versionadded:: 0.1
    """

    id: str
    #: What moved the money: ``"pay"``, ``"release"``, ``"refund"``, ``"clear"``, …
    kind: str
    currency: Currency
    postings: tuple[Posting, ...]
    at: dt.datetime

    def __attrs_post_init__(self) -> None:
        if sum(p.amount for p in self.postings) != 0:
            raise ValidationError(
                f"postings: expected a sum of 0, got {sum(p.amount for p in self.postings)}"
                f" in transaction {self.id!r}",
                field="postings",
                value=self.postings,
            )

    @property
    def body(self) -> str:
        """A canonical text of what the transaction does, to compare a retry with the first."""
        lines = sorted(f"{p.account}={p.amount}" for p in self.postings)
        return f"{self.kind};{self.currency.code};" + ";".join(lines)


def transfer(
    txn_id: str,
    kind: str,
    source: str,
    amounts: Mapping[str, Money] | Iterable[tuple[str, Money]],
    *,
    at: dt.datetime,
) -> LedgerTransaction:
    """Move money out of ``source`` into one or more accounts, as one transaction.

    Zero amounts are dropped; the source is debited by the total.

    Raises:
        CurrencyMismatch: the amounts are in more than one currency.
    """
    items = list(amounts.items()) if isinstance(amounts, Mapping) else list(amounts)
    if not items:
        raise ValidationError("amounts: expected at least one", field="amounts", value=items)
    cur = items[0][1].currency
    postings: list[Posting] = []
    total = 0
    for account, money in items:
        if money.currency != cur:
            raise CurrencyMismatch(
                f"currency: expected {cur.code}, got {money.currency.code}",
                field="currency",
                value=money.currency.code,
            )
        if money.amount:
            postings.append(Posting(account, money.amount))
            total += money.amount
    postings.insert(0, Posting(source, -total))
    return LedgerTransaction(txn_id, kind, cur, tuple(postings), at)


def deltas(txn: LedgerTransaction) -> dict[str, int]:
    """The net change per account: what storage adds to each balance."""
    net: dict[str, int] = {}
    for p in txn.postings:
        net[p.account] = net.get(p.account, 0) + p.amount
    return net


@attrs.frozen
class Limits:
    """What a transaction must leave behind: every touched account in its currency, and
    none of ``floored`` below zero. :func:`check_applied` enforces them; a storage may
    enforce the same limits inside the statement that posts (PostgreSQL does).

    .. versionadded:: 0.2
    """

    currency: Currency
    #: The touched accounts that may not go negative (:func:`may_go_negative`), sorted.
    floored: tuple[str, ...]


def limits_of(txn: LedgerTransaction) -> Limits:
    """The :class:`Limits` of ``txn``."""
    return Limits(txn.currency,
                  tuple(sorted(a for a in deltas(txn) if not may_go_negative(a))))


def check_applied(txn: LedgerTransaction, after: Mapping[str, tuple[int, Currency]]) -> None:
    """Check the balances ``txn`` left behind; raising rolls the unit of work back.

    Storage applies postings as increments (``balance = balance + delta``), so
    concurrent transactions on one account never lose an update; this check
    then refuses what the rules forbid.

    Args:
        after: balance and currency of each touched account, after the postings.

    Raises:
        CurrencyMismatch: an account holds another currency than the transaction.
        InvalidAmount: a balance would pass :data:`~microkit.money.MAX_MINOR`.
        InsufficientFunds: an account that may not go negative did.
    """
    net = deltas(txn)
    # The rules of limits_of(txn), applied without building it: this runs on every posting.
    for account, (balance, cur) in after.items():
        if cur != txn.currency:
            raise CurrencyMismatch(
                f"currency: account {account!r} holds {cur.code}, got {txn.currency.code}",
                field="currency",
                value=txn.currency.code,
            )
        if not -MAX_MINOR <= balance <= MAX_MINOR:  # SQLite would have made it a float
            raise InvalidAmount(
                f"amount: {account}'s balance would pass {MAX_MINOR} minor units either way",
                field="amount", value=net.get(account, 0))
        if balance < 0 and not may_go_negative(account):
            before = balance - net.get(account, 0)
            raise InsufficientFunds(
                f"{account}: balance {before} minor units, needs {before - balance}",
                account=account,
                balance=before,
                needed=before - balance,
            )


def check_retry(existing: LedgerTransaction, txn: LedgerTransaction) -> LedgerTransaction:
    """A transaction id seen before: the same body is a harmless retry, another is a Conflict."""
    if existing.body != txn.body:
        raise Conflict(
            f"ledger transaction {txn.id!r} exists with another body:"
            f" {existing.body!r} != {txn.body!r}",
            key=txn.id,
        )
    return existing


@attrs.frozen
class Balance:
    """A user's money: what they can spend or withdraw, and earnings still clearing.

    .. versionadded:: 0.1
    """

    available: Money
    pending: Money


@attrs.frozen
class VerifyReport:
    """The result of recomputing every balance from the journal.

    .. versionadded:: 0.1
    """

    #: True when no problem was found.
    ok: bool
    transactions: int
    accounts: int
    #: One line per problem found: unbalanced transactions, drifted or negative balances.
    problems: tuple[str, ...] = ()


def verify(
    postings: Iterable[tuple[str, str, int]],
    stored: Mapping[str, int],
) -> VerifyReport:
    """Recompute balances from ``(txn_id, account, amount)`` rows and compare with ``stored``."""
    sums: dict[str, int] = {}
    per_txn: dict[str, int] = {}
    for txn_id, account, amount in postings:
        sums[account] = sums.get(account, 0) + amount
        per_txn[txn_id] = per_txn.get(txn_id, 0) + amount
    problems = [f"transaction {t!r} sums to {s}, not 0" for t, s in per_txn.items() if s]
    for account in sorted(set(sums) | set(stored)):
        computed, kept = sums.get(account, 0), stored.get(account, 0)
        if computed != kept:
            problems.append(f"account {account!r}: journal says {computed}, balance says {kept}")
        if computed < 0 and not may_go_negative(account):
            problems.append(f"account {account!r} is negative: {computed}")
    return VerifyReport(not problems, len(per_txn), len(set(sums) | set(stored)), tuple(problems))
