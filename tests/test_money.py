"""Money: the ISO 4217 exponent table, exact construction, one-currency arithmetic, allocate."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from microkit import Currency, CurrencyMismatch, InvalidAmount, Money, UnknownCurrency
from microkit.money import CURRENCIES, MAX_MINOR, currency


@pytest.mark.parametrize(
    ("code", "exponent"),
    [
        ("USD", 2), ("EUR", 2), ("SAR", 2), ("EGP", 2),
        ("LYD", 3), ("KWD", 3), ("BHD", 3), ("OMR", 3), ("JOD", 3), ("TND", 3),
        ("JPY", 0),
    ],
)
def test_exponent_table(code: str, exponent: int) -> None:
    assert currency(code) == Currency(code, exponent)
    assert Money.of("1", code).amount == 10**exponent


@pytest.mark.parametrize(
    ("value", "code", "minor"),
    [
        ("12.500", "LYD", 12_500),
        ("0.001", "LYD", 1),
        ("5", "USD", 500),
        ("  5.25 ", "USD", 525),
        ("-3.10", "USD", -310),
        (Decimal("5"), "USD", 500),
        (Decimal("1.005"), "KWD", 1_005),
        (7, "USD", 700),
        (1500, "JPY", 1_500),
        ("0", "EUR", 0),
    ],
)
def test_of_accepts_str_decimal_and_int(value: object, code: str, minor: int) -> None:
    money = Money.of(value, code)  # type: ignore[arg-type]
    assert money == Money(minor, currency(code))
    assert money.currency.code == code


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (5.0, "USD"),
        (0.1, "LYD"),
        (True, "USD"),
        (None, "USD"),
        ("five", "USD"),
        ("", "USD"),
        ("NaN", "USD"),
        ("Infinity", "USD"),
        ("5.001", "USD"),
        ("12.3456", "LYD"),
        ("1.5", "JPY"),
        (Decimal("0.001"), "EUR"),
    ],
)
def test_of_refuses_floats_non_numbers_and_excess_decimals(value: object, code: str) -> None:
    with pytest.raises(InvalidAmount) as err:
        Money.of(value, code)  # type: ignore[arg-type]
    assert err.value.field == "amount"
    assert err.value.value == value


@pytest.mark.parametrize("amount", [5.0, "500", Decimal(500), True])
def test_constructor_takes_integer_minor_units_only(amount: object) -> None:
    with pytest.raises(InvalidAmount):
        Money(amount, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize("code", ["XXX", "usd", "", "DOLLAR", None])
def test_unknown_currency(code: object) -> None:
    with pytest.raises(UnknownCurrency) as err:
        Money.of("5", code)  # type: ignore[arg-type]
    assert (err.value.field, err.value.value) == ("currency", code)


@pytest.mark.parametrize(
    ("code", "exponent", "field", "value"),
    [
        ("USD", 3, "exponent", 3),  # a known code keeps the table's exponent
        ("LYD", 2, "exponent", 2),
        ("JPY", False, "exponent", False),  # not an int, though False == 0
        ("XXX", 2, "currency", "XXX"),  # a code outside the table, as currency("XXX")
        ("usd", 2, "currency", "usd"),
        (None, 2, "currency", None),
    ],
)
def test_a_currency_is_one_of_the_table(
    code: object, exponent: object, field: str, value: object
) -> None:
    with pytest.raises(UnknownCurrency) as err:
        Currency(code, exponent)  # type: ignore[arg-type]
    assert (err.value.field, err.value.value) == (field, value)
    assert type(err.value.value) is type(value)


def test_money_cannot_bypass_the_exponent_table() -> None:
    with pytest.raises(UnknownCurrency):
        Money(100, Currency("USD", 3))
    assert Money(100, Currency("USD", 2)) == Money(100, "USD")


@pytest.mark.parametrize("amount", [MAX_MINOR, -MAX_MINOR, 0])
def test_amounts_up_to_a_signed_64_bit_column_are_accepted(amount: int) -> None:
    assert Money(amount, "USD").amount == amount


@pytest.mark.parametrize("amount", [MAX_MINOR + 1, -MAX_MINOR - 1, 10**30, -(10**30)])
def test_amounts_beyond_a_signed_64_bit_column_are_refused(amount: int) -> None:
    # SQLite turns an integer past int64 into a float; PostgreSQL's BIGINT refuses it.
    with pytest.raises(InvalidAmount) as err:
        Money(amount, "JPY")
    assert (err.value.field, err.value.value) == ("amount", amount)


def test_arithmetic_past_the_limit_is_refused() -> None:
    top = Money(MAX_MINOR, "USD")
    with pytest.raises(InvalidAmount):
        top + Money(1, "USD")
    with pytest.raises(InvalidAmount):
        -top - Money(1, "USD")
    with pytest.raises(InvalidAmount):
        top * 2


def test_arithmetic_within_one_currency() -> None:
    a, b = Money.of("5.25", "USD"), Money.of("1.75", "USD")
    assert a + b == Money.of("7", "USD")
    assert a - b == Money.of("3.50", "USD")
    assert -a == Money.of("-5.25", "USD")
    assert a * 3 == 3 * a == Money.of("15.75", "USD")
    assert b < a and b <= a and a > b and a >= b and a >= a
    assert not Money.zero("USD") and bool(a)
    assert a.decimal == Decimal("5.25")
    assert str(Money.of("12.5", "LYD")) == "12.500 LYD"


@pytest.mark.parametrize(
    "operation",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a < b,
        lambda a, b: a <= b,
        lambda a, b: a > b,
        lambda a, b: a >= b,
    ],
    ids=["add", "sub", "lt", "le", "gt", "ge"],
)
def test_mixing_currencies_raises(operation: Callable[[Money, Money], object]) -> None:
    usd, lyd = Money.of("5", "USD"), Money.of("5", "LYD")
    with pytest.raises(CurrencyMismatch) as err:
        operation(usd, lyd)
    assert (err.value.field, err.value.value) == ("currency", "LYD")


def test_different_currencies_are_never_equal() -> None:
    assert Money.of("5", "USD") != Money.of("5", "EUR")
    assert Money.zero("USD") != Money.zero("LYD")


@pytest.mark.parametrize("factor", [1.5, Decimal("2"), "2"])
def test_multiplying_by_a_non_int_is_refused(factor: object) -> None:
    with pytest.raises(InvalidAmount):
        Money.of("5", "USD") * factor  # type: ignore[operator]


@pytest.mark.parametrize(
    ("value", "code", "weights", "parts"),
    [
        ("10", "USD", [80, 20], ["8", "2"]),
        ("0.05", "USD", [1, 1], ["0.03", "0.02"]),
        ("1", "USD", [1, 1, 1], ["0.34", "0.33", "0.33"]),
        ("-1", "USD", [1, 1, 1], ["-0.34", "-0.33", "-0.33"]),
        ("0.010", "LYD", [1, 2], ["0.003", "0.007"]),
        ("100", "JPY", [1, 0, 2], ["33", "0", "67"]),
    ],
)
def test_allocate_examples(value: str, code: str, weights: list[int], parts: list[str]) -> None:
    assert Money.of(value, code).allocate(weights) == [Money.of(p, code) for p in parts]


@pytest.mark.parametrize("weights", [[], [0, 0], [1, -1], [1.5, 1], [True, 0]])
def test_allocate_refuses_bad_weights(weights: list[object]) -> None:
    with pytest.raises(InvalidAmount) as err:
        Money.of("10", "USD").allocate(weights)  # type: ignore[arg-type]
    assert err.value.field == "weights"


codes = st.sampled_from(sorted(CURRENCIES))
weight_lists = st.lists(st.integers(0, 10_000), min_size=1, max_size=8).filter(any)


@given(amount=st.integers(-(10**15), 10**15), code=codes, weights=weight_lists)
def test_allocate_sums_to_the_whole_within_one_unit_of_each_share(
    amount: int, code: str, weights: list[int]
) -> None:
    money = Money(amount, code)
    parts = money.allocate(weights)
    assert len(parts) == len(weights)
    assert all(p.currency == money.currency for p in parts)
    assert sum(p.amount for p in parts) == amount
    total = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        assert abs(part.amount - Fraction(amount * weight, total)) < 1


def _major(minor: int, exponent: int) -> str:
    """The decimal text of ``minor`` units, built with integer arithmetic only."""
    sign, digits = ("-" if minor < 0 else ""), str(abs(minor)).rjust(exponent + 1, "0")
    if exponent == 0:
        return sign + digits
    return f"{sign}{digits[:-exponent]}.{digits[-exponent:]}"


@given(minor=st.integers(-(10**18), 10**18), code=codes)
def test_of_round_trips_every_amount_exactly(minor: int, code: str) -> None:
    cur = currency(code)
    assert Money.of(_major(minor, cur.exponent), code) == Money(minor, cur)
    assert Money.of(Decimal(_major(minor, cur.exponent)), code).amount == minor


@pytest.mark.parametrize(
    ("text", "exact"),
    [
        ("1234567890123456789012345678.91", 123456789012345678901234567891),  # 30 digits
        ("1e-999999999", None),  # not a whole number of cents: must be refused
        ("1e999999999", None),  # too large for any market: must be refused
    ],
    ids=["30 digits", "tiny", "huge"],
)
def test_of_keeps_extreme_amounts_exact_or_refuses_them(text: str, exact: int | None) -> None:
    try:
        money = Money.of(text, "USD")
    except InvalidAmount:
        return
    assert money.amount == exact
