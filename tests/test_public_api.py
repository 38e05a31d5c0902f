"""The public surface: ``microkit.__all__``, the error tree, and the command call shape."""

from __future__ import annotations

import importlib
import inspect
import types

import pytest

import microkit as mk


@pytest.fixture
def market() -> mk.Marketplace:
    """The API's shape does not depend on the backend: memory only."""
    return mk.Marketplace.open("memory://", config=mk.MarketConfig.khamsat(),
                               load_entry_points=False)


def public_names() -> list[str]:
    """Names a user can reach on ``microkit`` that are not its submodules."""
    return [
        name for name, value in vars(mk).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    ]


def test_all_is_sorted_and_unique() -> None:
    assert mk.__all__ == sorted(set(mk.__all__))


def test_all_matches_the_namespace() -> None:
    assert sorted(public_names()) == mk.__all__


@pytest.mark.parametrize("name", mk.__all__)
def test_every_exported_name_imports(name: str) -> None:
    module = importlib.import_module("microkit")
    namespace: dict[str, object] = {}
    exec(f"from microkit import {name}", namespace)
    assert namespace[name] is getattr(module, name)


@pytest.mark.parametrize(
    "name",
    ["Marketplace", "MarketConfig", "Money", "Currency", "Actor", "hookimpl", "UpgradeSpec",
     "MicrokitError", "ValidationError", "InvalidAmount", "CurrencyMismatch",
     "PriceOutOfRange", "NotFound", "PermissionDenied", "InvalidTransition",
     "InsufficientFunds", "Conflict", "LimitExceeded", "PaymentError",
     "WebhookVerificationError"],
)
def test_design_names_are_exported(name: str) -> None:
    assert name in mk.__all__


@pytest.mark.parametrize(
    ("error", "parents"),
    [
        (mk.ValidationError, (mk.MicrokitError, ValueError)),
        (mk.InvalidAmount, (mk.ValidationError,)),
        (mk.CurrencyMismatch, (mk.ValidationError,)),
        (mk.UnknownCurrency, (mk.ValidationError,)),
        (mk.PriceOutOfRange, (mk.ValidationError,)),
        (mk.InvalidConfig, (mk.ValidationError,)),
        (mk.NotFound, (mk.MicrokitError, LookupError)),
        (mk.PermissionDenied, (mk.MicrokitError,)),
        (mk.InvalidTransition, (mk.MicrokitError,)),
        (mk.InsufficientFunds, (mk.MicrokitError,)),
        (mk.Conflict, (mk.MicrokitError,)),
        (mk.ConcurrentUpdate, (mk.Conflict,)),
        (mk.LimitExceeded, (mk.MicrokitError,)),
        (mk.PaymentError, (mk.MicrokitError,)),
        (mk.WebhookVerificationError, (mk.PaymentError,)),
        (mk.PluginError, (mk.MicrokitError,)),
        (mk.StorageError, (mk.MicrokitError,)),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_error_tree(error: type[Exception], parents: tuple[type[Exception], ...]) -> None:
    assert all(issubclass(error, parent) for parent in parents)


def test_every_exported_error_is_a_microkit_error() -> None:
    errors = [v for v in map(mk.__dict__.get, mk.__all__)
              if isinstance(v, type) and issubclass(v, Exception)]
    assert len(errors) >= 15
    assert all(issubclass(e, mk.MicrokitError) for e in errors)


def test_errors_carry_context_as_keywords() -> None:
    err = mk.InvalidTransition("no", transition="accept", state="paid", allowed=["start"])
    assert (err.transition, err.state, err.allowed) == ("accept", "paid", ("start",))
    with pytest.raises(TypeError):
        mk.InvalidTransition("no", "accept", "paid", ["start"])  # type: ignore[misc]


COMMANDS = [
    ("orders", "start"), ("orders", "deliver"), ("orders", "request_revision"),
    ("orders", "accept"), ("orders", "cancel"), ("orders", "place"),
    ("payments", "pay"), ("catalog", "approve"), ("catalog", "reject"),
]


@pytest.mark.parametrize(("facade", "command"), COMMANDS)
def test_commands_take_the_subject_first_and_everything_else_by_keyword(
    market: mk.Marketplace, facade: str, command: str
) -> None:
    params = list(inspect.signature(getattr(getattr(market, facade), command)).parameters.values())
    assert params[0].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert [p.kind for p in params[1:]] == [inspect.Parameter.KEYWORD_ONLY] * (len(params) - 1)
    assert "by" in {p.name for p in params[1:]}


def test_market_exposes_its_facades(market: mk.Marketplace) -> None:
    for name in ("users", "catalog", "orders", "payments", "ledger", "events"):
        assert getattr(market, name) is not None
    assert callable(market.tick)
    assert isinstance(market.config, mk.MarketConfig)
