"""The ledger's domain (``microkit.escrow.ledger``): balanced transactions, apply, retry, verify."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from microkit import Conflict, CurrencyMismatch, InsufficientFunds, Money, ValidationError
from microkit.escrow import ledger
from microkit.escrow.ledger import LedgerTransaction, Posting
from microkit.money import Currency, currency

AT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
USD = currency("USD")


def txn(txn_id: str, *postings: tuple[str, int], kind: str = "pay") -> LedgerTransaction:
    return LedgerTransaction(txn_id, kind, USD, tuple(Posting(a, n) for a, n in postings), AT)


def usd(value: str) -> Money:
    return Money.of(value, "USD")


def test_unbalanced_transaction_is_refused() -> None:
    with pytest.raises(ValidationError) as err:
        txn("t1", ("gateway:sandbox", -1000), ("escrow:order:o1", 999))
    assert err.value.field == "postings"


def test_transfer_debits_the_source_by_the_total_and_drops_zeros() -> None:
    t = ledger.transfer("order:o1:release", "release", "escrow:order:o1",
                        [("user:omar:pending", usd("8")), ("platform:commission", usd("2")),
                         ("user:x:available", usd("0"))], at=AT)
    assert t.postings == (Posting("escrow:order:o1", -1000), Posting("user:omar:pending", 800),
                          Posting("platform:commission", 200))
    assert t.currency == USD


def test_transfer_refuses_mixed_currencies() -> None:
    with pytest.raises(CurrencyMismatch):
        ledger.transfer("t", "pay", "gateway:sandbox",
                        [("a:1", usd("1")), ("a:2", Money.of("1", "LYD"))], at=AT)


def apply(
    t: LedgerTransaction, before: dict[str, tuple[int, Currency]]
) -> dict[str, tuple[int, Currency]]:
    """What storage does with a transaction: add the deltas, then let the domain check."""
    after = {
        account: (before.get(account, (0, t.currency))[0] + delta,
                  before.get(account, (0, t.currency))[1])
        for account, delta in ledger.deltas(t).items()
    }
    ledger.check_applied(t, after)
    return after


def test_deltas_net_the_postings_per_account() -> None:
    t = txn("t1", ("user:amal:available", -300), ("escrow:order:o1", 500),
            ("user:amal:available", -200))
    assert ledger.deltas(t) == {"user:amal:available": -500, "escrow:order:o1": 500}


def test_apply_keeps_balances_that_stay_non_negative() -> None:
    t = txn("t1", ("user:amal:available", -300), ("escrow:order:o1", 300))
    after = apply(t, {"user:amal:available": (1000, USD)})
    assert after == {"user:amal:available": (700, USD), "escrow:order:o1": (300, USD)}


@pytest.mark.parametrize(
    "account", ["user:amal:available", "user:omar:pending", "escrow:order:o1", "payout:p1",
                "platform:commission"],
)
def test_apply_refuses_to_take_a_non_gateway_account_below_zero(account: str) -> None:
    t = txn("t1", (account, -501), ("gateway:sandbox", 501))
    with pytest.raises(InsufficientFunds) as err:
        apply(t, {account: (500, USD)})
    assert (err.value.account, err.value.balance, err.value.needed) == (account, 500, 501)


def test_apply_lets_gateway_accounts_go_negative() -> None:
    t = txn("t1", ("gateway:sandbox", -1000), ("escrow:order:o1", 1000))
    assert apply(t, {}) == {"gateway:sandbox": (-1000, USD), "escrow:order:o1": (1000, USD)}


def test_apply_refuses_an_account_held_in_another_currency() -> None:
    t = txn("t1", ("gateway:sandbox", -1000), ("escrow:order:o1", 1000))
    with pytest.raises(CurrencyMismatch):
        apply(t, {"escrow:order:o1": (0, currency("LYD"))})


def test_retry_with_the_same_body_is_harmless() -> None:
    first = txn("order:o1:pay", ("gateway:sandbox", -1000), ("escrow:order:o1", 1000))
    again = LedgerTransaction(first.id, first.kind, USD, tuple(reversed(first.postings)),
                              AT + dt.timedelta(seconds=5))
    assert ledger.check_retry(first, again) is first


@pytest.mark.parametrize(
    "other",
    [
        txn("order:o1:pay", ("gateway:sandbox", -999), ("escrow:order:o1", 999)),
        txn("order:o1:pay", ("gateway:other", -1000), ("escrow:order:o1", 1000)),
        txn("order:o1:pay", ("gateway:sandbox", -1000), ("escrow:order:o1", 1000),
            kind="refund"),
    ],
    ids=["amount", "account", "kind"],
)
def test_retry_with_another_body_conflicts(other: LedgerTransaction) -> None:
    first = txn("order:o1:pay", ("gateway:sandbox", -1000), ("escrow:order:o1", 1000))
    with pytest.raises(Conflict) as err:
        ledger.check_retry(first, other)
    assert err.value.key == "order:o1:pay"


JOURNAL = [
    ("pay", "gateway:sandbox", -1000),
    ("pay", "escrow:order:o1", 1000),
    ("release", "escrow:order:o1", -1000),
    ("release", "user:omar:pending", 800),
    ("release", "platform:commission", 200),
]
KEPT = {"gateway:sandbox": -1000, "escrow:order:o1": 0, "user:omar:pending": 800,
        "platform:commission": 200}


def test_verify_accepts_a_consistent_ledger() -> None:
    report = ledger.verify(JOURNAL, KEPT)
    assert report.ok and report.problems == ()
    assert (report.transactions, report.accounts) == (2, 4)


def test_verify_detects_a_drifted_balance() -> None:
    report = ledger.verify(JOURNAL, {**KEPT, "user:omar:pending": 801})
    assert not report.ok
    assert any("user:omar:pending" in p for p in report.problems)


def test_verify_detects_a_balance_with_no_postings() -> None:
    report = ledger.verify(JOURNAL, {**KEPT, "user:ghost:available": 5})
    assert not report.ok
    assert any("user:ghost:available" in p for p in report.problems)


def test_verify_detects_an_unbalanced_transaction() -> None:
    rows = [*JOURNAL, ("bad", "platform:commission", 1)]
    report = ledger.verify(rows, {**KEPT, "platform:commission": 201})
    assert not report.ok
    assert any("'bad'" in p for p in report.problems)


def test_verify_detects_a_negative_user_account() -> None:
    rows = [("t", "user:amal:available", -5), ("t", "gateway:sandbox", 5)]
    report = ledger.verify(rows, {"user:amal:available": -5, "gateway:sandbox": 5})
    assert not report.ok
    assert any("negative" in p for p in report.problems)


user_accounts = st.sampled_from(["user:a:available", "user:b:available", "escrow:order:o1"])
moves = st.lists(st.tuples(user_accounts, st.integers(1, 1000)), max_size=30)


@given(moves=moves)
def test_applied_transactions_keep_verify_ok_and_users_non_negative(
    moves: list[tuple[str, int]],
) -> None:
    """Random transfers between the gateway and user accounts, applied like storage would."""
    balances: dict[str, tuple[int, Currency]] = {}
    journal: list[tuple[str, str, int]] = []
    for i, (account, amount) in enumerate(moves):
        direction = 1 if i % 3 else -1  # every third move tries to take money out
        t = txn(f"t{i}", (account, direction * amount), ("gateway:sandbox", -direction * amount))
        try:
            after = apply(t, balances)
        except InsufficientFunds:
            assert balances.get(account, (0, USD))[0] < amount
            continue
        balances.update(after)
        journal += [(t.id, p.account, p.amount) for p in t.postings]
    kept = {account: balance for account, (balance, _) in balances.items()}
    assert all(v >= 0 for a, v in kept.items() if not ledger.may_go_negative(a))
    assert ledger.verify(journal, kept).ok
