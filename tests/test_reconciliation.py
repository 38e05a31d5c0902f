"""Reconciliation: account statements with running balances, per-gateway settlement."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pytest

import microkit as mk
from microkit import Money

if TYPE_CHECKING:
    from conftest import World


def test_statement_has_running_balances_and_an_opening_balance(seeded: World) -> None:
    m = seeded.market
    t0 = seeded.clock.now()
    seeded.paid(upgrade=True)  # -10 on gateway:sandbox
    seeded.clock.advance(days=1)
    t1 = seeded.clock.now()
    seeded.paid()  # -5
    m.payments.top_up(Money.of("20", "USD"), by=seeded.amal, gateway="sandbox",
                      idempotency_key="t")  # -20
    seeded.clock.advance(days=1)
    st = m.ledger.statement("gateway:sandbox", t1, seeded.clock.now())
    assert st.opening == Money.of("-10", "USD")
    assert [line.kind for line in st.lines] == ["pay", "topup"]
    assert [line.balance for line in st.lines] == [Money.of("-15", "USD"),
                                                    Money.of("-35", "USD")]
    assert st.closing == m.ledger.account_balance("gateway:sandbox")
    whole = m.ledger.statement("gateway:sandbox", t0, seeded.clock.now())
    assert whole.opening == Money.zero("USD") and len(whole.lines) == 3


def test_settlement_report_money_in_and_refunds(seeded: World) -> None:
    m = seeded.market
    start = seeded.clock.now()
    seeded.paid(upgrade=True)
    seeded.paid()
    seeded.clock.advance(hours=1)
    report = m.ledger.settlement("sandbox", start, seeded.clock.now())
    assert (report.charges, report.money_in) == (2, Money.of("15", "USD"))
    assert report.refunds == Money.zero("USD") and report.net == Money.of("15", "USD")


def test_a_tick_at_a_local_time_posts_in_the_right_period(seeded: World) -> None:
    # Times are stored as UTC text and compared as text: a tick given Tripoli time must
    # not put its postings into a later period (SQLite used to keep the +02:00).
    m = seeded.market
    seeded.completed()
    due = seeded.clock.now() + dt.timedelta(days=m.config.clearance_days)
    tripoli = dt.timezone(dt.timedelta(hours=2))
    assert m.tick(now=due.astimezone(tripoli)).ran == {"clear": 1}
    hour = m.ledger.statement("user:omar:available", due - dt.timedelta(minutes=30),
                              due + dt.timedelta(minutes=30))
    assert [line.kind for line in hour.lines] == ["clear"]
    assert hour.lines[0].at == due and hour.closing == m.ledger.balance("omar").available


@pytest.mark.parametrize("bad", ["naive", "reversed", "account"])
def test_statement_refuses_bad_periods(seeded: World, bad: str) -> None:
    now = seeded.clock.now()
    start, end, account = now, now + dt.timedelta(days=1), "gateway:sandbox"
    if bad == "naive":
        start = start.replace(tzinfo=None)
    elif bad == "reversed":
        start, end = end, start
    else:
        account = "nope"
    with pytest.raises(mk.ValidationError):
        seeded.market.ledger.statement(account, start, end)
