"""Bad input: the right typed error, naming the field and the value, and storage untouched.

Each case prepares what it needs, then returns the one bad call; the test
snapshots storage between the two and checks nothing changed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

import microkit as mk
from microkit import Actor, Money
from microkit.projects.model import Offer

if TYPE_CHECKING:
    from conftest import World

BadCall = Callable[[], object]


def usd(value: str) -> Money:
    return Money.of(value, "USD")


def create(world: World, price: object, **extra: Any) -> BadCall:
    fields: dict[str, Any] = {
        "by": world.omar, "category": "design", "title": "شعار", "description": "وصف",
        "price": price, "delivery_days": 2, **extra,
    }
    return lambda: world.market.catalog.create_service(**fields)


def in_category(world: World, price: str, **caps: Money) -> BadCall:
    world.market.catalog.add_category("logos", names={"en": "Logos"}, by=world.staff, **caps)
    return create(world, usd(price), category="logos")


def upgrade_priced(world: World, price: Money) -> BadCall:
    return create(world, usd("5"), upgrades=[mk.UpgradeSpec(title="سريع", price=price)])


def order_call(stage: str, command: str, actor: str = "", **kwargs: Any) -> Callable[..., BadCall]:
    """Bring an order to ``stage`` (a World method), then run ``command`` on it."""

    def case(world: World) -> BadCall:
        order = getattr(world, stage)()
        by = {"amal": world.amal, "omar": world.omar, "staff": world.staff}[actor]
        return lambda: getattr(world.market.orders, command)(order.id, by=by, **kwargs)

    return case


def pay(
    world: World, order_id: str, *, gateway: str = "sandbox", by: Actor | None = None
) -> BadCall:
    return lambda: world.market.payments.pay(order_id, by=by or world.amal, gateway=gateway,
                                             idempotency_key="again")


def split_paid(world: World, from_balance: Money) -> BadCall:
    order = world.place()
    return lambda: world.market.payments.pay_orders(
        [order.id], by=world.amal, gateway="sandbox", idempotency_key="k",
        from_balance=from_balance)


def conversation(world: World) -> str:
    """amal's inquiry about omar's service."""
    msg = world.market.messages.inquire(world.service.id, by=world.amal, body="مرحبا")
    return msg.conversation_id


def offer(world: World) -> Offer:
    """omar's pending offer to amal, with one upgrade (``u1``)."""
    return world.market.offers.send(
        conversation(world), by=world.omar, description="شعار", price=usd("20"), days=2,
        upgrades=[mk.UpgradeSpec(title="ملف مصدري", price=usd("5"))])


def in_conversation(command: str, actor: str, **kwargs: Any) -> Callable[..., BadCall]:
    """Open amal's inquiry, then run ``command`` (``"messages.send"``) in it."""

    def case(world: World) -> BadCall:
        conv = conversation(world)
        facade, name = command.split(".")
        call = getattr(getattr(world.market, facade), name)
        by = {"amal": world.amal, "omar": world.omar}[actor]
        return lambda: call(conv, by=by, **kwargs)

    return case


def accepting_offer(**kwargs: Any) -> Callable[..., BadCall]:
    """Have omar send amal an offer, then amal accepts it with ``kwargs``."""

    def case(world: World) -> BadCall:
        sent = offer(world)
        return lambda: world.market.offers.accept(sent.id, by=world.amal, **kwargs)

    return case


def responded(world: World, service_id: object) -> BadCall:
    req = world.market.requests.post(by=world.amal, text="أريد شعارا", category="design")
    return lambda: world.market.requests.respond_with_service(
        req.id, by=world.omar, service_id=service_id)  # type: ignore[arg-type]


def requirements_with(attachments: object) -> Callable[[World], BadCall]:
    """An order waiting for requirements, then submitting them with ``attachments``."""

    def case(world: World) -> BadCall:
        svc = create(world, usd("5"), requirements="اسم الشركة")()
        world.market.catalog.approve(svc.id, by=world.staff)  # type: ignore[attr-defined]
        order = world.paid(service=svc)  # type: ignore[arg-type]
        return lambda: world.market.orders.submit_requirements(
            order.id, by=world.amal, text="ACME", attachments=attachments)  # type: ignore[arg-type]

    return case


def pending_review_service(world: World) -> BadCall:
    svc = create(world, usd("5"))()
    return lambda: world.market.orders.place(svc.id, by=world.amal)  # type: ignore[attr-defined]


# (id, case, error, expected attributes)
VALIDATION: list[tuple[str, Callable[[World], BadCall], type[Exception], dict[str, Any]]] = [
    ("negative price", lambda w: create(w, Money(-500, "USD")),
     mk.InvalidAmount, {"field": "price", "value": Money(-500, "USD")}),
    ("zero price", lambda w: create(w, usd("0")),
     mk.InvalidAmount, {"field": "price", "value": usd("0")}),
    ("float price", lambda w: create(w, 5.0),
     mk.InvalidAmount, {"field": "price", "value": 5.0}),
    ("Decimal price", lambda w: create(w, Decimal("5")),
     mk.InvalidAmount, {"field": "price", "value": Decimal("5")}),
    ("float amount", lambda w: lambda: Money.of(5.0, "USD"),  # type: ignore[arg-type]
     mk.InvalidAmount, {"field": "amount", "value": 5.0}),
    ("unknown currency", lambda w: lambda: Money.of("5", "XXX"),
     mk.UnknownCurrency, {"field": "currency", "value": "XXX"}),
    ("price in another currency", lambda w: create(w, Money.of("5", "EUR")),
     mk.CurrencyMismatch, {"field": "price", "value": Money.of("5", "EUR")}),
    ("price below minimum", lambda w: create(w, usd("4.99")),
     mk.PriceOutOfRange, {"field": "price", "value": usd("4.99")}),
    ("price off step", lambda w: create(w, usd("7")),
     mk.PriceOutOfRange, {"field": "price", "value": usd("7")}),
    ("price over market cap", lambda w: create(w, usd("1005")),
     mk.PriceOutOfRange, {"field": "price", "value": usd("1005")}),
    ("price over category cap", lambda w: in_category(w, "55", max_price=usd("50")),
     mk.PriceOutOfRange, {"field": "price", "value": usd("55")}),
    ("price under category minimum", lambda w: in_category(w, "15", min_price=usd("20")),
     mk.PriceOutOfRange, {"field": "price", "value": usd("15")}),
    ("upgrade price off step", lambda w: upgrade_priced(w, usd("2.50")),
     mk.PriceOutOfRange, {"field": "upgrades[0].price", "value": usd("2.50")}),
    ("upgrade price float", lambda w: upgrade_priced(w, 5.0),  # type: ignore[arg-type]
     mk.InvalidAmount, {"field": "upgrades[0].price", "value": 5.0}),
    ("category cap off step", lambda w: lambda: w.market.catalog.add_category(
        "logos", names={"en": "Logos"}, by=w.staff, max_price=usd("12")),
     mk.PriceOutOfRange, {"field": "max_price", "value": usd("12")}),
    ("zero delivery days", lambda w: create(w, usd("5"), delivery_days=0),
     mk.ValidationError, {"field": "delivery_days", "value": 0}),
    ("empty title", lambda w: create(w, usd("5"), title="  "),
     mk.ValidationError, {"field": "title", "value": "  "}),
    ("bad category slug", lambda w: lambda: w.market.catalog.add_category(
        "Design Stuff", names={"en": "x"}, by=w.staff),
     mk.ValidationError, {"field": "slug", "value": "Design Stuff"}),
    ("unknown upgrade", lambda w: lambda: w.market.orders.place(
        w.service.id, by=w.amal, upgrades=["up_9"]),
     mk.ValidationError, {"field": "upgrades", "value": "up_9"}),
    ("upgrade quantity over max", lambda w: lambda: w.market.orders.place(
        w.service.id, by=w.amal, upgrades={"up_1": 2}),
     mk.ValidationError, {"field": "upgrades", "value": 2}),
    ("empty delivery message", order_call("started", "deliver", "omar", message=" "),
     mk.ValidationError, {"field": "message", "value": " "}),
    ("empty revision reason", order_call("delivered", "request_revision", "amal", reason=""),
     mk.ValidationError, {"field": "reason", "value": ""}),
    ("events after negative", lambda w: lambda: w.market.events.read(after=-1),
     mk.ValidationError, {"field": "after", "value": -1}),
    ("upgrades None", lambda w: lambda: w.market.orders.place(
        w.service.id, by=w.amal, upgrades=None),  # type: ignore[arg-type]
     mk.ValidationError, {"field": "upgrades", "value": None}),
    ("upgrades a number", lambda w: lambda: w.market.cart.add(
        w.service.id, by=w.amal, upgrades=5),  # type: ignore[arg-type]
     mk.ValidationError, {"field": "upgrades", "value": 5}),
    ("orders page cursor a number", lambda w: lambda: w.market.orders.list(
        by=w.amal, role="buyer", cursor=5),  # type: ignore[arg-type]
     mk.ValidationError, {"field": "cursor", "value": 5}),
    ("tick at a naive time", lambda w: lambda: w.market.tick(dt.datetime(2026, 1, 9)),
     mk.ValidationError, {"field": "now", "value": dt.datetime(2026, 1, 9)}),
    ("tick at a string", lambda w: lambda: w.market.tick("2026-01-09"),  # type: ignore[arg-type]
     mk.ValidationError, {"field": "now", "value": "2026-01-09"}),
    ("tick batch zero", lambda w: lambda: w.market.tick(batch=0),
     mk.ValidationError, {"field": "batch", "value": 0}),
    ("split payment of nothing from the balance", lambda w: split_paid(w, usd("0")),
     mk.ValidationError, {"field": "from_balance", "value": usd("0")}),
    ("an upgrade id that is not a str", lambda w: lambda: w.market.orders.place(
        w.service.id, by=w.amal, upgrades=[["up_1"]]),  # type: ignore[list-item]
     mk.ValidationError, {"field": "upgrades", "value": ["up_1"]}),
    ("requirements attachments None", requirements_with(None),
     mk.ValidationError, {"field": "attachments", "value": None}),
    ("search below zero", lambda w: lambda: w.market.catalog.search(
        "شعار", min_price=Money(-1, "USD")),
     mk.InvalidAmount, {"field": "min_price", "value": Money(-1, "USD")}),
    ("blank user id", lambda w: lambda: w.market.users.register(" ", display_name="x"),
     mk.ValidationError, {"field": "user_id", "value": " "}),
    ("images as one string", lambda w: create(w, usd("5"), images="logo.png"),
     mk.ValidationError, {"field": "images", "value": "logo.png"}),
    ("bad ledger account", lambda w: lambda: w.market.ledger.account_balance("omar"),
     mk.ValidationError, {"field": "account", "value": "omar"}),
    # -- requests, offers, projects ------------------------------------------------------
    ("respond with no service", lambda w: responded(w, None),
     mk.ValidationError, {"field": "service_id", "value": None}),
    ("respond with a service id that is a number", lambda w: responded(w, 5),
     mk.ValidationError, {"field": "service_id", "value": 5}),
    ("offer accepted with upgrades None", accepting_offer(upgrades=None),
     mk.ValidationError, {"field": "upgrades", "value": None}),
    ("offer accepted with an upgrade id that is a list", accepting_offer(upgrades=[["u1"]]),
     mk.ValidationError, {"field": "upgrades", "value": ["u1"]}),
    ("offer accepted with an upgrade twice", accepting_offer(upgrades=["u1", "u1"]),
     mk.ValidationError, {"field": "upgrades", "value": ["u1", "u1"]}),
    ("offer sent with upgrades None", in_conversation(
        "offers.send", "omar", description="d", price=usd("20"), days=2, upgrades=None),
     mk.ValidationError, {"field": "upgrades", "value": None}),
    ("offers after a number", lambda w: lambda: w.market.offers.list(
        by=w.amal, role="buyer", after=5),  # type: ignore[arg-type]
     mk.ValidationError, {"field": "after", "value": 5}),
    ("my projects cursor a number", lambda w: lambda: w.market.projects.mine(
        by=w.amal, cursor=5),  # type: ignore[arg-type]
     mk.ValidationError, {"field": "cursor", "value": 5}),
    ("my bids after a number", lambda w: lambda: w.market.projects.my_bids(
        by=w.omar, after=5),  # type: ignore[arg-type]
     mk.ValidationError, {"field": "after", "value": 5}),
    ("requests cursor a number", lambda w: lambda: w.market.requests.browse(
        cursor=5),  # type: ignore[arg-type]
     mk.ValidationError, {"field": "cursor", "value": 5}),
    ("requests category a number", lambda w: lambda: w.market.requests.browse(
        category=5),  # type: ignore[arg-type]
     mk.ValidationError, {"field": "category", "value": 5}),
    ("my requests after a number", lambda w: lambda: w.market.requests.mine(
        by=w.amal, after=5),  # type: ignore[arg-type]
     mk.ValidationError, {"field": "after", "value": 5}),
    ("browse budget negative", lambda w: lambda: w.market.projects.browse(
        min_budget=usd("-5")),
     mk.InvalidAmount, {"field": "min_budget", "value": usd("-5")}),
    ("browse budget in another currency", lambda w: lambda: w.market.projects.browse(
        max_budget=Money.of("10", "LYD")),
     mk.CurrencyMismatch, {"field": "max_budget", "value": Money.of("10", "LYD")}),
    ("browse budget not Money", lambda w: lambda: w.market.projects.browse(
        min_budget=10),  # type: ignore[arg-type]
     mk.InvalidAmount, {"field": "min_budget", "value": 10}),
    # -- messages ------------------------------------------------------------------------
    ("messages after negative", in_conversation("messages.list", "amal", after=-1),
     mk.ValidationError, {"field": "after", "value": -1}),
    ("messages limit zero", in_conversation("messages.list", "amal", limit=0),
     mk.ValidationError, {"field": "limit", "value": 0}),
    ("message attachments None", in_conversation(
        "messages.send", "amal", body="x", attachments=None),
     mk.ValidationError, {"field": "attachments", "value": None}),
    ("inquiry attachments a number", lambda w: lambda: w.market.messages.inquire(
        w.service.id, by=w.amal, body="x", attachments=5),  # type: ignore[arg-type]
     mk.ValidationError, {"field": "attachments", "value": 5}),
    ("message to conversation None", lambda w: lambda: w.market.messages.send(
        None, by=w.amal, body="x"),  # type: ignore[arg-type]
     mk.ValidationError, {"field": "conversation_id", "value": None}),
    ("conversations cursor a number", lambda w: lambda: w.market.messages.conversations(
        by=w.amal, cursor=5),  # type: ignore[arg-type]
     mk.ValidationError, {"field": "cursor", "value": 5}),
    # -- orders, levels, reviews ---------------------------------------------------------
    ("delivery attachments None", order_call("started", "deliver", "omar", message="x",
                                             attachments=None),
     mk.ValidationError, {"field": "attachments", "value": None}),
    ("levels evaluated at a naive time", lambda w: lambda: w.market.levels.evaluate(
        dt.datetime(2026, 1, 9)),
     mk.ValidationError, {"field": "now", "value": dt.datetime(2026, 1, 9)}),
    ("level metrics at a naive time", lambda w: lambda: w.market.levels.metrics(
        "omar", now=dt.datetime(2026, 1, 9)),
     mk.ValidationError, {"field": "now", "value": dt.datetime(2026, 1, 9)}),
    ("levels run at a string", lambda w: lambda: w.market.levels.run_due(
        "2026-01-09"),  # type: ignore[arg-type]
     mk.ValidationError, {"field": "now", "value": "2026-01-09"}),
    ("rating summary of None", lambda w: lambda: w.market.reviews.summary(
        None),  # type: ignore[arg-type]
     mk.ValidationError, {"field": "subject", "value": None}),
    ("service reviews cursor a number", lambda w: lambda: w.market.reviews.for_service(
        w.service.id, cursor=5),  # type: ignore[arg-type]
     mk.ValidationError, {"field": "cursor", "value": 5}),
]

NOT_FOUND: list[tuple[str, Callable[[World], BadCall], type[Exception], dict[str, Any]]] = [
    ("place unknown service", lambda w: lambda: w.market.orders.place("s_nope", by=w.amal),
     mk.NotFound, {"kind": "service", "id": "s_nope"}),
    ("place a service waiting for review", pending_review_service,
     mk.NotFound, {"kind": "service"}),
    ("place by unregistered buyer", lambda w: lambda: w.market.orders.place(
        w.service.id, by=Actor.user("ghost")),
     mk.NotFound, {"kind": "user", "id": "ghost"}),
    ("inquiry by unregistered buyer", lambda w: lambda: w.market.messages.inquire(
        w.service.id, by=Actor.user("ghost"), body="مرحبا"),
     mk.NotFound, {"kind": "user", "id": "ghost"}),
    ("start unknown order", lambda w: lambda: w.market.orders.start("o_nope", by=w.omar),
     mk.NotFound, {"kind": "order", "id": "o_nope"}),
    ("get unknown order", lambda w: lambda: w.market.orders.get("o_nope"),
     mk.NotFound, {"kind": "order", "id": "o_nope"}),
    ("history of unknown order", lambda w: lambda: w.market.orders.history("o_nope"),
     mk.NotFound, {"kind": "order", "id": "o_nope"}),
    ("pay unknown order", lambda w: pay(w, "o_nope"),
     mk.NotFound, {"kind": "order", "id": "o_nope"}),
    ("pay through unknown gateway", lambda w: pay(w, w.place().id, gateway="cash"),
     mk.NotFound, {"kind": "gateway", "id": "cash"}),
    ("approve unknown service", lambda w: lambda: w.market.catalog.approve("s_nope", by=w.staff),
     mk.NotFound, {"kind": "service", "id": "s_nope"}),
    ("service in unknown category", lambda w: create(w, usd("5"), category="music"),
     mk.NotFound, {"kind": "category", "id": "music"}),
    ("service by unregistered seller", lambda w: create(w, usd("5"), by=Actor.user("ghost")),
     mk.NotFound, {"kind": "user", "id": "ghost"}),
    ("unknown payment", lambda w: lambda: w.market.payments.get("p_nope"),
     mk.NotFound, {"kind": "payment", "id": "p_nope"}),
    ("unknown user", lambda w: lambda: w.market.users.get("ghost"),
     mk.NotFound, {"kind": "user", "id": "ghost"}),
]

RULES: list[tuple[str, Callable[[World], BadCall], type[Exception], dict[str, Any]]] = [
    ("seller buys own service", lambda w: lambda: w.market.orders.place(w.service.id, by=w.omar),
     mk.PermissionDenied, {"actor": "user:omar", "action": "place"}),
    ("staff places an order", lambda w: lambda: w.market.orders.place(w.service.id, by=w.staff),
     mk.PermissionDenied, {"actor": "staff:ops"}),
    ("pay a paid order again", lambda w: pay(w, w.paid().id),
     mk.InvalidTransition, {"state": "paid", "transition": "pay"}),
    ("accept an order never delivered", order_call("started", "accept", "amal"),
     mk.InvalidTransition, {"state": "in_progress", "transition": "accept"}),
    ("accept an unpaid order", order_call("place", "accept", "amal"),
     mk.InvalidTransition, {"state": "pending_payment"}),
    ("buyer starts the order", order_call("paid", "start", "amal"),
     mk.PermissionDenied, {"actor": "user:amal"}),
    ("seller accepts own delivery", order_call("delivered", "accept", "omar"),
     mk.PermissionDenied, {"actor": "user:omar"}),
    ("staff delivers", order_call("started", "deliver", "staff", message="x"),
     mk.PermissionDenied, {"actor": "staff:ops"}),
    ("seller pays", lambda w: pay(w, w.place().id, by=w.omar),
     mk.PermissionDenied, {"actor": "user:omar"}),
    ("user adds a category", lambda w: lambda: w.market.catalog.add_category(
        "music", names={"en": "Music"}, by=w.amal),
     mk.PermissionDenied, {"actor": "user:amal"}),
    ("user approves a service", lambda w: lambda: w.market.catalog.approve(
        w.service.id, by=w.omar),
     mk.PermissionDenied, {"actor": "user:omar"}),
    ("staff creates a service", lambda w: create(w, usd("5"), by=w.staff),
     mk.PermissionDenied, {"actor": "staff:ops"}),
    ("register a user twice", lambda w: lambda: w.market.users.register(
        "amal", display_name="Other"),
     mk.Conflict, {}),
    ("add a category twice", lambda w: lambda: w.market.catalog.add_category(
        "design", names={"en": "Design"}, by=w.staff),
     mk.Conflict, {}),
    ("approve an approved service", lambda w: lambda: w.market.catalog.approve(
        w.service.id, by=w.staff),
     mk.InvalidTransition, {"state": "approved"}),
]


def _ids(cases: list[tuple[str, Any, Any, Any]]) -> list[str]:
    return [c[0] for c in cases]


@pytest.mark.parametrize(("name", "case", "error", "expected"),
                         VALIDATION + NOT_FOUND + RULES, ids=_ids(VALIDATION + NOT_FOUND + RULES))
def test_bad_input_raises_and_changes_nothing(
    seeded: World,
    name: str,
    case: Callable[[World], BadCall],
    error: type[Exception],
    expected: dict[str, Any],
) -> None:
    bad_call = case(seeded)
    before = seeded.snapshot()
    with pytest.raises(error) as err:
        bad_call()
    assert type(err.value) is error, f"{name}: {type(err.value).__name__} {err.value}"
    assert {k: getattr(err.value, k) for k in expected} == expected
    assert seeded.snapshot() == before


@pytest.mark.parametrize("backend", ["memory"], indirect=True)  # messages: one backend is enough
@pytest.mark.parametrize(("name", "case", "error", "expected"), VALIDATION, ids=_ids(VALIDATION))
def test_validation_errors_are_value_errors_naming_field_and_value(
    seeded: World, name: str, case: Callable[[World], BadCall], error: type[Exception],
    expected: dict[str, Any],
) -> None:
    with pytest.raises(mk.ValidationError) as err:
        case(seeded)()
    assert isinstance(err.value, ValueError)
    assert expected["field"].split("[")[0] in str(err.value)


@pytest.mark.parametrize("user_id", ["", " ", "\t\n", "\u3000", "x" * 201, None])
def test_actor_ids_are_validated(user_id: object) -> None:
    with pytest.raises(mk.ValidationError) as err:
        Actor.user(user_id)  # type: ignore[arg-type]
    assert (err.value.field, err.value.value) == ("by", user_id)


@pytest.mark.parametrize("user_id", ["  ", "\n"])
def test_a_blank_user_id_is_not_registered(seeded: World, user_id: str) -> None:
    before = seeded.snapshot()
    with pytest.raises(mk.ValidationError) as err:
        seeded.market.users.register(user_id, display_name="Blank")
    assert err.value.value == user_id
    assert seeded.snapshot() == before


@pytest.mark.parametrize("user_id", ["x", "أمل", "a b", "user@example.com", "x" * 200])
def test_other_user_ids_stay_valid(seeded: World, user_id: str) -> None:
    assert seeded.market.users.register(user_id, display_name="Ok").id == user_id


def test_not_found_is_a_lookup_error(seeded: World) -> None:
    with pytest.raises(LookupError):
        seeded.market.orders.get("o_nope")


def test_a_failed_command_leaves_the_market_usable(seeded: World) -> None:
    with pytest.raises(mk.PriceOutOfRange):
        create(seeded, usd("7"))()
    order = seeded.completed(upgrade=True)
    assert order.state == "completed"
    assert seeded.market.ledger.verify().ok


def test_one_attachment_given_alone_is_one_reference(seeded: World) -> None:
    # Not one reference per letter: the delivery stored ('l', 'o', 'g', 'o', ...).
    m = seeded.market
    msg = m.messages.send(conversation(seeded), by=seeded.amal, body="x", attachments="a.png")
    assert msg.attachments == ("a.png",)
    order = seeded.started()
    done = m.orders.deliver(order.id, by=seeded.omar, message="x", attachments="logo.png")
    assert done.deliveries[-1].attachments == ("logo.png",)


def facade_commands_taking_by(market: mk.Marketplace) -> list[tuple[str, Callable[..., Any]]]:
    """Every public method of every facade of ``market`` that takes ``by``."""
    import inspect

    found = []
    for facade_name in ("catalog", "levels", "messages", "orders", "payments", "projects",
                        "reviews", "cart", "offers", "requests", "payouts", "users", "ledger",
                        "events"):
        facade = getattr(market, facade_name)
        for name, method in inspect.getmembers(facade, inspect.ismethod):
            if not name.startswith("_") and "by" in inspect.signature(method).parameters:
                found.append((f"{facade_name}.{name}", method))
    return found


def test_every_command_refuses_a_by_that_is_not_an_actor(seeded: World) -> None:
    """``by`` is checked before anything else runs: any other argument may be wrong too."""
    import inspect

    commands = facade_commands_taking_by(seeded.market)
    assert len(commands) >= 80  # every facade's commands, not a few
    for label, method in commands:
        params = inspect.signature(method).parameters
        before_by = list(params)[:list(params).index("by")]
        for bad in ("amal", 7, Actor.user, *(() if params["by"].default is None else (None,))):
            with pytest.raises(mk.ValidationError) as err:
                method(*["x"] * len(before_by), by=bad)
            assert (err.value.field, err.value.value) == ("by", bad), label


def test_a_by_of_none_where_none_is_the_default_means_no_actor(seeded: World) -> None:
    with pytest.raises(mk.NotFound):  # past the check: the review is looked up
        seeded.market.reviews.get("r_missing", by=None)
