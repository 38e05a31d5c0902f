"""Reconciliation: an account's statement over a period, and a gateway's settlement report."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import attrs

from ..errors import ValidationError
from ..money import Currency, Money
from ..storage.base import Tx

__all__ = ["SettlementReport", "Statement", "StatementLine", "postings_of", "settlement"]

#: Ledger transaction kinds that bring money in through a gateway.
MONEY_IN = frozenset({"pay", "capture", "topup", "unapplied"})
#: Kinds that send money back out through a gateway: a cancelled order's refund, and the
#: buyer's part of a dispute split (both to the original card with ``refund_to="original"``).
REFUND_KINDS = frozenset({"refund", "split"})
#: Kinds that reverse a refund the gateway refused (the money went to the balance).
REFUND_REVERSALS = frozenset({"refund_to_balance"})
#: The part of a refund the card never paid (a split payment's balance part), sent back
#: from the gateway account to the balance at once: never a refund through the gateway.
REFUND_EXCESS = frozenset({"refund_excess"})


@attrs.frozen
class StatementLine:
    """One posting to the account, with the balance after it.

    .. versionadded:: 0.2
    """

    at: dt.datetime
    txn_id: str
    #: The transaction's kind: ``pay``, ``refund``, ``release``, ``payout``, …
    kind: str
    amount: Money
    balance: Money


@attrs.frozen
class Statement:
    """An account's postings in ``[start, end)``, oldest first, with running balances.

    .. versionadded:: 0.2
    """

    account: str
    start: dt.datetime
    end: dt.datetime
    #: The balance just before ``start``.
    opening: Money
    #: The balance just before ``end``: ``opening`` plus every line.
    closing: Money
    lines: tuple[StatementLine, ...]


@attrs.frozen
class SettlementReport:
    """What went through one gateway in ``[start, end)``, to match the processor's report.

    ``money_in`` is every capture (order payments, split-payment card parts,
    top-ups); ``refunds`` what went back out through the gateway (cancelled orders and
    the buyer's part of dispute splits; a split payment's balance part never goes
    through it, so it is not counted); ``refunds_reversed`` refunds the
    gateway refused, moved to the buyer's balance instead; ``fees`` the
    processing fees the gateway reported on its charges (informational: not
    in the ledger). ``net = money_in - refunds + refunds_reversed - fees``:
    what the processor should have paid out to the platform.

    .. versionadded:: 0.2
    """

    gateway: str
    start: dt.datetime
    end: dt.datetime
    charges: int
    money_in: Money
    refund_count: int
    refunds: Money
    refunds_reversed: Money
    fees: Money
    net: Money


def _utc(name: str, value: object) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise ValidationError(f"{name}: expected a timezone-aware datetime, got {value!r:.80}",
                              field=name, value=value)
    return value.astimezone(dt.UTC)


def check_period(start: object, end: object) -> tuple[dt.datetime, dt.datetime]:
    s, e = _utc("start", start), _utc("end", end)
    if e < s:
        raise ValidationError(f"end: expected at or after start {s.isoformat()}, got"
                              f" {e.isoformat()}", field="end", value=end)
    return s, e


def postings_of(tx: Tx, account: str, end: dt.datetime
                ) -> Iterable[tuple[dt.datetime, str, str, int]]:
    """``(at, txn id, kind, amount)`` of every posting to ``account`` before ``end``, in
    time order. SQL backends read the account's range of the postings table (clustered by
    account); others scan the journal."""
    cursor = getattr(tx, "cursor", None)
    sql = getattr(tx, "sql", None)
    if cursor is not None and sql is not None:
        # Timestamps are stored as UTC ISO-8601 text, which sorts as time.
        cursor.execute(sql(
            "SELECT p.at, p.txn_id, t.kind, p.amount FROM postings p"
            " JOIN ledger_transactions t ON t.id = p.txn_id"
            " WHERE p.account = ? AND p.at < ? ORDER BY p.at, p.txn_id, p.line"
        ), (account, end.isoformat()))
        return [(dt.datetime.fromisoformat(r[0]), r[1], r[2], int(r[3]))
                for r in cursor.fetchall()]
    rows: list[tuple[dt.datetime, str, str, int]] = []
    kinds: dict[str, tuple[dt.datetime, str]] = {}
    for txn_id, acct, amount in tx.journal():
        if acct != account:
            continue
        if txn_id not in kinds:
            txn = tx.ledger_transaction(txn_id)
            assert txn is not None
            kinds[txn_id] = (txn.at.astimezone(dt.UTC), txn.kind)
        at, kind = kinds[txn_id]
        if at < end:
            rows.append((at, txn_id, kind, amount))
    rows.sort(key=lambda r: (r[0], r[1]))
    return rows


def statement(tx: Tx, account: str, start: dt.datetime, end: dt.datetime,
              default: Currency) -> Statement:
    _, currencies = tx.balances([account])
    cur = currencies.get(account, default)
    opening = 0
    lines: list[StatementLine] = []
    balance = 0
    for at, txn_id, kind, amount in postings_of(tx, account, end):
        balance += amount
        if at < start:
            opening = balance
            continue
        lines.append(StatementLine(at, txn_id, kind, Money(amount, cur), Money(balance, cur)))
    return Statement(account, start, end, Money(opening, cur), Money(balance, cur),
                     tuple(lines))


def settlement(tx: Tx, gateway: str, start: dt.datetime, end: dt.datetime,
               default: Currency, fees: int) -> SettlementReport:
    st = statement(tx, f"gateway:{gateway}", start, end, default)
    cur = st.opening.currency
    money_in = refunds = reversed_ = 0
    charges: set[str] = set()
    refund_ids: set[str] = set()
    for line in st.lines:
        n = line.amount.amount
        if line.kind in MONEY_IN and n < 0:
            money_in -= n
            charges.add(line.txn_id)
        elif line.kind in REFUND_KINDS and n > 0:
            refunds += n
            refund_ids.add(line.txn_id)
        elif line.kind in REFUND_REVERSALS and n < 0:
            reversed_ -= n
        elif line.kind in REFUND_EXCESS and n < 0:
            refunds += n
    return SettlementReport(
        gateway, start, end, len(charges), Money(money_in, cur), len(refund_ids),
        Money(refunds, cur), Money(reversed_, cur), Money(fees, cur),
        Money(money_in - refunds + reversed_ - fees, cur),
    )
