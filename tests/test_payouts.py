"""Withdrawals: holds, minimum and fee, payout methods, confirmation, failure, retries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

import microkit as mk
from _overtake import webhook_first  # found through conftest's sys.path entry
from microkit import Money
from microkit.payments.builtin import SandboxPayout

if TYPE_CHECKING:
    from conftest import World, WorldFactory

IBAN = "LY83002048000020100120361"


def earn(world: World, orders: int = 2) -> None:
    """omar completes ``orders`` 10 USD orders (8 USD each to him) and they clear."""
    for _ in range(orders):
        world.completed(upgrade=True)
    world.clock.advance(days=world.market.config.clearance_days + 1)
    world.market.tick()


def sandbox(world: World) -> SandboxPayout:
    method = world.market.payouts.method("sandbox")
    assert isinstance(method, SandboxPayout)
    return method


def test_manual_bank_withdrawal_holds_then_settles_with_the_fee(seeded: World) -> None:
    m = seeded.market
    earn(seeded)
    assert m.ledger.balance("omar").available == Money.of("16", "USD")
    payout = m.payouts.request(Money.of("10", "USD"), by=seeded.omar, method="manual_bank",
                               destination=IBAN)
    assert payout.state == "sent"
    assert (payout.fee, payout.net) == (Money.of("0.20", "USD"), Money.of("9.80", "USD"))
    assert m.ledger.balance("omar").available == Money.of("6", "USD")
    assert m.ledger.account_balance(f"payout:{payout.id}") == Money.of("10", "USD")
    with pytest.raises(mk.PermissionDenied):
        m.payouts.confirm(payout.id, by=seeded.omar, reference="BANK-1")
    done = m.payouts.confirm(payout.id, by=seeded.staff, reference="BANK-1")
    assert done.state == "paid"
    assert m.ledger.account_balance(f"payout:{payout.id}") == Money.zero("USD")
    assert m.ledger.account_balance("payout_method:manual_bank") == Money.of("9.80", "USD")
    assert m.ledger.account_balance("platform:payout_fees") == Money.of("0.20", "USD")
    with pytest.raises(mk.InvalidTransition):
        m.payouts.fail(payout.id, by=seeded.staff, reason="late")
    assert m.ledger.verify().ok


def test_failed_withdrawal_returns_the_whole_amount(seeded: World) -> None:
    m = seeded.market
    earn(seeded)
    payout = m.payouts.request(Money.of("10", "USD"), by=seeded.omar, method="manual_bank",
                               destination=IBAN)
    returned = m.payouts.fail(payout.id, by=seeded.staff, reason="account closed")
    assert returned.state == "returned"
    assert m.ledger.balance("omar").available == Money.of("16", "USD")
    assert m.ledger.verify().ok


def test_pending_earnings_cannot_be_withdrawn(seeded: World) -> None:
    m = seeded.market
    seeded.completed(upgrade=True)
    seeded.completed(upgrade=True)
    assert m.ledger.balance("omar").pending == Money.of("16", "USD")
    before = seeded.snapshot()
    with pytest.raises(mk.InsufficientFunds):
        m.payouts.request(Money.of("10", "USD"), by=seeded.omar, method="manual_bank",
                          destination=IBAN)
    assert seeded.snapshot() == before


@pytest.mark.parametrize("case", ["over_balance", "under_min", "unknown_method",
                                  "bad_destination", "wrong_currency", "staff", "float"])
def test_bad_withdrawals_are_typed_errors_and_change_nothing(seeded: World, case: str) -> None:
    m = seeded.market
    earn(seeded)
    args: dict[str, Any] = {"by": seeded.omar, "method": "manual_bank", "destination": IBAN}
    amount: Any = Money.of("10", "USD")
    error: type[Exception] = mk.MicrokitError
    if case == "over_balance":
        amount, error = Money.of("17", "USD"), mk.InsufficientFunds
    elif case == "under_min":
        amount, error = Money.of("9.99", "USD"), mk.LimitExceeded
    elif case == "unknown_method":
        args["method"], error = "paypal", mk.NotFound
    elif case == "bad_destination":
        args["destination"], error = "x", mk.ValidationError
    elif case == "wrong_currency":
        amount, error = Money.of("10", "LYD"), mk.CurrencyMismatch
    elif case == "staff":
        args["by"], error = seeded.staff, mk.PermissionDenied
    else:
        amount, error = 10.0, mk.ValidationError
    before = seeded.snapshot()
    with pytest.raises(error):
        m.payouts.request(amount, **args)
    assert seeded.snapshot() == before


def test_fee_cap_and_fixed_fee(make_world: WorldFactory) -> None:
    khamsat = make_world(mk.MarketConfig.khamsat(), "5")
    assert khamsat.market.payouts.fee(Money.of("500", "USD")) == Money.of("1", "USD")  # cap
    libya = make_world(mk.MarketConfig.microlibya(), "12.345")
    assert libya.market.payouts.fee(Money.of("100", "LYD")) == Money.of("2", "LYD")


@pytest.mark.parametrize(("amount", "error"), [
    ("5", mk.ValidationError), (None, mk.ValidationError),
    (Money.of("5", "LYD"), mk.CurrencyMismatch),
    (Money.of("0", "USD"), mk.InvalidAmount), (Money.of("-5", "USD"), mk.InvalidAmount),
])
def test_fee_of_a_non_money_another_currency_or_nothing_is_a_typed_error(
    seeded: World, amount: Any, error: type[Exception]
) -> None:
    with pytest.raises(error) as err:
        seeded.market.payouts.fee(amount)
    assert type(err.value) is error
    assert (err.value.field, err.value.value) == ("amount", amount)  # type: ignore[attr-defined]


@pytest.mark.parametrize("limit", [-1, 0, True, 1.5, "5", None, 10_001])
def test_payouts_of_refuses_a_bad_limit(seeded: World, limit: Any) -> None:
    m = seeded.market
    earn(seeded)
    m.payouts.request(Money.of("10", "USD"), by=seeded.omar, method="sandbox",
                      destination="acct-1")
    with pytest.raises(mk.ValidationError) as err:
        m.payouts.of("omar", limit=limit)
    assert (err.value.field, err.value.value) == ("limit", limit)
    assert len(m.payouts.of("omar", limit=1)) == 1


def test_a_retried_withdrawal_with_a_padded_destination_returns_the_first(
    seeded: World,
) -> None:
    # The destination is stored stripped; the retry must compare it the same way.
    m = seeded.market
    earn(seeded)
    args: dict[str, Any] = {"by": seeded.omar, "method": "sandbox", "destination": " acct-1 ",
                            "idempotency_key": "w1"}
    payout = m.payouts.request(Money.of("10", "USD"), **args)
    assert payout.destination == "acct-1"
    before = seeded.snapshot()
    assert m.payouts.request(Money.of("10", "USD"), **args) == m.payouts.get(payout.id)
    assert m.payouts.request(Money.of("10", "USD"), **{**args, "destination": "acct-1"}
                             ).id == payout.id
    assert seeded.snapshot() == before
    with pytest.raises(mk.Conflict):
        m.payouts.request(Money.of("10", "USD"), **{**args, "destination": "acct-2"})
    assert m.ledger.verify().ok


def test_sandbox_payout_settles_by_webhook_once(seeded: World) -> None:
    m = seeded.market
    earn(seeded)
    payout = m.payouts.request(Money.of("10", "USD"), by=seeded.omar, method="sandbox",
                               destination="acct-1", idempotency_key="w1")
    assert payout.state == "sent" and payout.reference
    assert m.payouts.request(Money.of("10", "USD"), by=seeded.omar, method="sandbox",
                             destination="acct-1", idempotency_key="w1").id == payout.id
    hook = sandbox(seeded).webhook(payout.reference, "payout.paid", event_id="p1")
    assert m.payouts.handle_webhook("sandbox", *hook).outcome == "applied"
    assert m.payouts.handle_webhook("sandbox", *hook).outcome == "duplicate"
    late = sandbox(seeded).webhook(payout.reference, "payout.failed", event_id="p2")
    assert m.payouts.handle_webhook("sandbox", *late).outcome == "ignored"
    assert m.payouts.get(payout.id).state == "paid"
    with pytest.raises(mk.WebhookVerificationError):
        m.payouts.handle_webhook("sandbox", hook[0], hook[1] + b" ")
    assert m.ledger.verify().ok


def test_failed_payout_webhook_returns_the_money(seeded: World) -> None:
    m = seeded.market
    earn(seeded)
    payout = m.payouts.request(Money.of("10", "USD"), by=seeded.omar, method="sandbox",
                               destination="acct-1")
    assert payout.reference
    m.payouts.handle_webhook("sandbox", *sandbox(seeded).webhook(payout.reference,
                                                                  "payout.failed"))
    assert m.payouts.get(payout.id).state == "returned"
    assert m.ledger.balance("omar").available == Money.of("16", "USD")
    assert m.ledger.verify().ok


def test_payout_method_timeout_is_retried_by_tick(seeded: World) -> None:
    m = seeded.market
    earn(seeded)
    method = sandbox(seeded)
    method.outcome = "raise"
    payout = m.payouts.request(Money.of("10", "USD"), by=seeded.omar, method="sandbox",
                               destination="acct-1")
    assert payout.state == "requested"
    assert m.ledger.balance("omar").available == Money.of("6", "USD")  # still held
    method.outcome = "paid"
    seeded.clock.advance(hours=1)
    summary = m.tick()
    assert summary.ran.get("payout_paid") == 1
    assert m.payouts.get(payout.id).state == "paid"
    assert m.tick().total == 0
    assert m.ledger.verify().ok


def test_two_methods_with_one_name_is_a_plugin_error(make_market: Any) -> None:
    class Dup:
        @mk.hookimpl
        def microkit_payout_methods(self, config: Any, clock: Any, register: Any) -> None:
            register(SandboxPayout(name="wallet", clock=lambda: 0))

    with pytest.raises(mk.PluginError, match="'wallet' registered twice"):
        make_market(plugins=(Dup(), Dup()))


def test_a_plugin_method_named_like_a_builtin_replaces_it(make_market: Any) -> None:
    class Mine:
        @mk.hookimpl
        def microkit_payout_methods(self, config: Any, clock: Any, register: Any) -> None:
            register(SandboxPayout(name="manual_bank", clock=lambda: 0))

    market = make_market(plugins=(Mine(),))
    assert isinstance(market.payouts.method("manual_bank"), SandboxPayout)


class BadDestinationCheck(SandboxPayout):
    """A payout method whose check_destination raises or answers something else."""

    answer: object = None

    def check_destination(self, destination: str) -> str | None:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer  # type: ignore[return-value]


@pytest.mark.parametrize(("answer", "message"), [
    (ValueError("regex blew up"), "check_destination raised ValueError: regex blew up"),
    (42, "check_destination: expected None or the reason as a str, got 42"),
])
def test_a_check_destination_that_breaks_is_a_plugin_error_and_changes_nothing(
    make_world: WorldFactory, snapshot: Any, answer: object, message: str
) -> None:
    method = BadDestinationCheck(name="wallet", clock=lambda: 0)
    method.answer = answer

    class Plugin:
        @mk.hookimpl
        def microkit_payout_methods(self, config: Any, clock: Any, register: Any) -> None:
            register(method)

    world = make_world(plugins=(Plugin(),))
    earn(world)
    before = snapshot(world.market)
    with pytest.raises(mk.PluginError, match=f"'wallet': {message}") as err:
        world.market.payouts.request(Money.of("10", "USD"), by=world.omar, method="wallet",
                                     destination="acct-1")
    if isinstance(answer, Exception):
        assert err.value.__cause__ is answer
    assert snapshot(world.market) == before


@pytest.mark.parametrize(("event", "state", "left"), [("payout.paid", "paid", "6"),
                                                      ("payout.failed", "returned", "16")])
def test_payout_webhook_that_overtakes_the_methods_answer_is_applied_when_it_is_recorded(
    seeded: World, monkeypatch: pytest.MonkeyPatch, event: str, state: str, left: str,
) -> None:
    m = seeded.market
    earn(seeded)
    early = webhook_first(monkeypatch, SandboxPayout, "send", event, m.payouts.handle_webhook)
    payout = m.payouts.request(Money.of("10", "USD"), by=seeded.omar, method="sandbox",
                               destination="acct-1", idempotency_key="early")
    assert early == ["unmatched"]
    assert payout.state == state and m.payouts.get(payout.id).state == state
    assert payout.reference is not None
    again = sandbox(seeded).webhook(payout.reference, event, event_id="early")
    assert m.payouts.handle_webhook("sandbox", *again).outcome == "duplicate"
    assert m.ledger.balance("omar").available == Money.of(left, "USD")
    assert m.ledger.verify().ok


def test_a_withdrawal_of_nothing_leaves_nothing_after_the_fee(make_world: WorldFactory) -> None:
    """With no minimum, a zero withdrawal still is what request's docs say: a fee that
    leaves nothing (fee() alone refuses zero as no amount at all)."""
    world = make_world(mk.MarketConfig.khamsat().evolve(withdrawal_min=Money.of("0", "USD")))
    earn(world)
    before = world.snapshot()
    with pytest.raises(mk.LimitExceeded) as err:
        world.market.payouts.request(Money.of("0", "USD"), by=world.omar, method="manual_bank",
                                     destination=IBAN)
    assert err.value.limit == "withdrawal_fee"
    assert world.snapshot() == before
