"""MarketConfig: the presets' values, evolve, and InvalidConfig naming every bad field."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import attrs
import pytest

from microkit import InvalidConfig, MarketConfig, Money, ValidationError

USD = "USD"


def usd(value: str) -> Money:
    return Money.of(value, USD)


def test_khamsat_preset() -> None:
    config = MarketConfig.khamsat()
    assert config.currency.code == "USD" and config.currency.exponent == 2
    assert config.min_price == usd("5")
    assert config.price_step == usd("5")
    assert config.commission_rate == Decimal("0.20")
    assert config.refund_to == "balance"
    assert config.buyer_fee_rate == 0


def test_microlibya_preset() -> None:
    config = MarketConfig.microlibya()
    assert config.currency.code == "LYD" and config.currency.exponent == 3
    assert config.min_price == Money.of("10", "LYD")
    assert config.price_step is None
    assert Decimal(0) < config.commission_rate < Decimal(1)
    assert config.buyer_fee_rate == 0


def test_money_shorthand_uses_the_market_currency() -> None:
    assert MarketConfig.microlibya().money("12.5") == Money.of("12.500", "LYD")


def test_evolve_returns_a_changed_copy() -> None:
    base = MarketConfig.khamsat()
    changed = base.evolve(max_revisions=2, auto_complete_days=5)
    assert (changed.max_revisions, changed.auto_complete_days) == (2, 5)
    assert (base.max_revisions, base.auto_complete_days) == (None, 3)
    assert attrs.evolve(changed, max_revisions=None, auto_complete_days=3) == base


def test_config_is_frozen() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        MarketConfig.khamsat().max_revisions = 3  # type: ignore[misc]


def test_evolve_validates_like_construction() -> None:
    with pytest.raises(InvalidConfig) as err:
        MarketConfig.khamsat().evolve(currency="LYD")  # prices stay in USD
    assert err.value.field == "min_price"


BAD_FIELDS = [
    ("currency", "XXX"),
    ("currency", None),
    ("min_price", usd("0")),
    ("min_price", Money.of("5", "EUR")),
    ("min_price", "5"),
    ("min_price", usd("7")),  # not a multiple of the 5 USD step
    ("price_step", usd("0")),
    ("price_step", usd("-5")),
    ("max_price", usd("4")),  # below min_price
    ("max_price", Money.of("100", "SAR")),
    ("commission_rate", Decimal("1")),
    ("commission_rate", Decimal("-0.01")),
    ("commission_rate", 0.2),
    ("commission_rounding", "down"),
    ("buyer_fee_rate", Decimal("1.5")),
    ("clearance_days", -1),
    ("clearance_days", 1.5),
    ("auto_complete_days", "3"),
    ("seller_start_days", -2),
    ("max_revisions", 0),
    ("max_revisions", True),
    ("payment_timeout", dt.timedelta(0)),
    ("payment_timeout", 3600),
    ("refund_to", "card"),
    ("withdrawal_min", usd("-1")),
    ("withdrawal_min", Money.of("10", "LYD")),
    ("withdrawal_fee_rate", Decimal("1")),
    ("withdrawal_fee_cap", usd("-1")),
    ("withdrawal_fee_fixed", Money.of("1", "EUR")),
    ("message_filter", "maybe"),
    ("mutual_cancel_hours", -1),
    ("review_window_days", -1),
]


@pytest.mark.parametrize(("field", "value"), BAD_FIELDS, ids=[f for f, _ in BAD_FIELDS])
def test_invalid_field_raises_naming_it(field: str, value: object) -> None:
    with pytest.raises(InvalidConfig) as err:
        MarketConfig.khamsat().evolve(**{field: value})
    assert err.value.field == field
    assert err.value.value == value
    assert field in str(err.value)
    assert isinstance(err.value, ValidationError) and isinstance(err.value, ValueError)


RATES = ["commission_rate", "buyer_fee_rate", "withdrawal_fee_rate"]


@pytest.mark.parametrize("text", ["NaN", "sNaN", "-NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("field", RATES)
def test_rates_refuse_nan_and_infinity_naming_the_field(field: str, text: str) -> None:
    value = Decimal(text)  # NaN compares unequal to itself: check identity below
    with pytest.raises(InvalidConfig) as err:
        MarketConfig.khamsat().evolve(**{field: value})
    assert err.value.field == field and err.value.value is value
    assert field in str(err.value)


@pytest.mark.parametrize("field", ["min_price", "withdrawal_min"])
def test_required_money_fields_refuse_none(field: str) -> None:
    # price_step, max_price, withdrawal_fee_cap and withdrawal_fee_fixed may be None;
    # min_price and withdrawal_min have no default and may not.
    fields: dict[str, object] = {"currency": USD, "min_price": usd("5"),
                                 "withdrawal_min": usd("10"), field: None}
    for make in (lambda: MarketConfig(**fields),  # type: ignore[arg-type]
                 lambda: MarketConfig.khamsat().evolve(**{field: None})):
        with pytest.raises(InvalidConfig) as err:
            make()
        assert (err.value.field, err.value.value) == (field, None)


@pytest.mark.parametrize("field", [f.name for f in attrs.fields(MarketConfig)])
def test_every_field_refuses_junk_naming_the_field(field: str) -> None:
    junk = object()
    with pytest.raises(InvalidConfig) as err:
        MarketConfig.khamsat().evolve(**{field: junk})
    assert err.value.field == field and err.value.value is junk


@pytest.mark.parametrize(
    "changes",
    [
        {"max_revisions": 1},
        {"price_step": None, "min_price": usd("0.01")},
        {"max_price": None},
        {"commission_rate": Decimal(0)},
        {"auto_complete_days": 0},
        {"refund_to": "original"},
        {"payment_timeout": dt.timedelta(minutes=30)},
    ],
)
def test_valid_changes_are_accepted(changes: dict[str, object]) -> None:
    config = MarketConfig.khamsat().evolve(**changes)
    assert all(getattr(config, k) == v for k, v in changes.items())


def test_evolve_recomputes_a_default_ladder_from_the_new_fields() -> None:
    # The ladder is "computed from the other fields": evolve computed it from the old ones,
    # so the new level still capped prices at 100 USD after min_price went to 10 USD.
    changes = {"min_price": usd("10"), "price_step": usd("10"), "max_price": usd("1500"),
               "clearance_days": 3}
    evolved = MarketConfig.khamsat().evolve(**changes)
    fresh = MarketConfig(currency=USD, withdrawal_min=usd("10"), **changes)
    assert evolved.levels == fresh.levels
    assert evolved.levels.first.privileges.max_price == usd("200")
    assert [lv.privileges.clearance_days for lv in evolved.levels.levels] == [None, None, 3, 3]
    # another currency: the whole default ladder moves with it
    lyd = MarketConfig.khamsat().evolve(
        currency="LYD", min_price=Money.of("10", "LYD"), price_step=None,
        max_price=None, withdrawal_min=Money.of("50", "LYD"), withdrawal_fee_cap=None)
    assert lyd.levels.first.privileges.max_price == Money.of("200", "LYD")
    # an unrelated change keeps the same ladder
    assert MarketConfig.khamsat().evolve(max_revisions=2).levels == MarketConfig.khamsat().levels


def test_evolve_keeps_a_ladder_the_caller_set() -> None:
    from microkit.levels import Level, LevelLadder, Privileges

    own = LevelLadder((Level("seller", {"ar": "بائع", "en": "Seller"},
                             privileges=Privileges(3, 2, usd("50"), 10)),))
    config = MarketConfig.khamsat().evolve(levels=own)
    for changed in (config.evolve(min_price=usd("10"), price_step=usd("10")),
                    config.evolve(clearance_days=3), config.evolve(max_revisions=1)):
        assert changed.levels == own
    built = MarketConfig(currency=USD, min_price=usd("5"), withdrawal_min=usd("10"), levels=own)
    assert built.evolve(clearance_days=20).levels == own
    # a new ladder passed with the other changes wins
    single = LevelLadder.single()
    assert MarketConfig.khamsat().evolve(min_price=usd("10"), price_step=usd("10"),
                                         levels=single).levels == single
