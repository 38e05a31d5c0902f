"""The event log (appended with each command) and the pluggy hooks plugins implement."""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib.metadata import EntryPoint
from typing import TYPE_CHECKING, Any

import pytest

import microkit as mk
import microkit.hooks
from microkit.clock import FrozenClock
from microkit.payments.builtin import SandboxGateway
from microkit.storage.memory import MemoryStorage

if TYPE_CHECKING:
    from conftest import World, WorldFactory


def last_seq(market: mk.Marketplace) -> int:
    events = market.events.read(after=0, limit=10_000)
    return events[-1].seq if events else 0


def appended(world: World, command: Callable[[], object]) -> list[mk.Event]:
    """Run ``command`` and return the events it appended, read by paging from the last seq."""
    seq = last_seq(world.market)
    command()
    return world.market.events.read(after=seq, limit=10_000)


def test_every_command_appends_its_events(seeded: World) -> None:
    m, amal, omar, staff = seeded.market, seeded.amal, seeded.omar, seeded.staff
    svc: list[mk.Service] = []
    order: list[mk.Order] = []

    def create() -> None:
        svc.append(m.catalog.create_service(
            by=omar, category="design", title="t", description="d",
            price=seeded.money("10"), delivery_days=1))

    def place() -> None:
        order.append(m.orders.place(seeded.service.id, by=amal))

    steps: list[tuple[Callable[[], object], list[str]]] = [
        (lambda: m.users.register("huda", display_name="Huda"), ["user.registered"]),
        (lambda: m.catalog.add_category("music", names={"en": "Music"}, by=staff),
         ["category.added"]),
        (create, ["service.submitted"]),
        (lambda: m.catalog.reject(svc[0].id, by=staff, reason="صور ناقصة"),
         ["service.rejected"]),
        (lambda: m.catalog.approve(svc[0].id, by=staff), ["service.approved"]),
        (place, ["order.placed"]),
        (lambda: m.payments.pay(order[0].id, by=amal, gateway="sandbox", idempotency_key="k"),
         ["payment.succeeded", "order.paid"]),
        (lambda: m.orders.start(order[0].id, by=omar), ["order.started"]),
        (lambda: m.orders.deliver(order[0].id, by=omar, message="m"), ["order.delivered"]),
        (lambda: m.orders.request_revision(order[0].id, by=amal, reason="r"),
         ["order.revision_requested"]),
        (lambda: m.orders.deliver(order[0].id, by=omar, message="m2"), ["order.delivered"]),
        (lambda: m.orders.accept(order[0].id, by=amal), ["order.completed"]),
        (place, ["order.placed"]),
        (lambda: m.orders.cancel(order[1].id, by=amal), ["order.cancelled"]),
    ]
    seq = last_seq(m)
    for command, names in steps:
        seeded.clock.advance(minutes=1)
        events = appended(seeded, command)
        assert sorted(e.name for e in events) == sorted(names)
        assert [e.seq for e in events] == list(range(seq + 1, seq + 1 + len(names)))
        assert all(e.at == seeded.clock.now() for e in events)
        seq = events[-1].seq
    rejected = m.events.read(after=0, limit=10_000, subject=f"service:{svc[0].id}")
    assert [e.name for e in rejected] == ["service.submitted", "service.rejected",
                                          "service.approved"]
    assert rejected[1].data["reason"] == "صور ناقصة"


def test_tick_appends_the_timers_events(seeded: World) -> None:
    unpaid, delivered = seeded.place(), seeded.delivered()
    seeded.clock.advance(days=seeded.market.config.auto_complete_days)
    names = [e.name for e in appended(seeded, seeded.market.tick)]
    assert sorted(names) == ["order.completed", "order.expired"]
    seeded.clock.advance(days=seeded.market.config.clearance_days)
    events = appended(seeded, seeded.market.tick)
    assert [e.name for e in events] == ["earnings.cleared"]
    assert events[0].data["seller_id"] == "omar" and events[0].actor == "system"
    assert {e.subject for e in seeded.market.events.read(after=0, limit=10_000)} >= {
        f"order:{unpaid.id}", f"order:{delivered.id}"}


def test_a_failed_command_appends_no_events(seeded: World) -> None:
    order = seeded.place()
    seq = last_seq(seeded.market)
    with pytest.raises(mk.InsufficientFunds):  # after payment.succeeded was emitted
        seeded.market.payments.pay(order.id, by=seeded.amal, gateway="balance",
                                   idempotency_key="k")
    assert seeded.market.events.read(after=seq) == []


def test_paging_reads_every_event_once_in_order(seeded: World) -> None:
    seeded.completed(upgrade=True)
    seeded.paid()
    everything = seeded.market.events.read(after=0, limit=10_000)
    assert len(everything) > 10
    pages, after = [], 0
    while page := seeded.market.events.read(after=after, limit=3):
        assert len(page) <= 3
        pages += page
        after = page[-1].seq
    assert pages == everything
    assert [e.seq for e in everything] == sorted({e.seq for e in everything})


@pytest.mark.parametrize(("after", "limit"), [(-1, 10), (0, 0), (0, 10_001), ("0", 10)])
def test_read_refuses_bad_paging(market: mk.Marketplace, after: Any, limit: Any) -> None:
    with pytest.raises(mk.ValidationError):
        market.events.read(after=after, limit=limit)


# -- microkit_on_event -------------------------------------------------------------------


class Recorder:
    """Records every event with what the market looked like when the hook ran."""

    def __init__(self) -> None:
        self.events: list[mk.Event] = []
        self.seen_paid: list[tuple[str, bool]] = []

    @mk.hookimpl
    def microkit_on_event(self, event: mk.Event, market: mk.Marketplace) -> None:
        self.events.append(event)
        if event.name == "order.paid":
            order = market.orders.get(event.data["order_id"])
            stored = market.events.read(after=event.seq - 1, limit=1)
            self.seen_paid.append((order.state, stored == [event]))


class Failing:
    @mk.hookimpl
    def microkit_on_event(self, event: mk.Event, market: mk.Marketplace) -> None:
        raise RuntimeError(f"notifier down for {event.name}")


def test_on_event_gets_order_paid_with_seller_after_commit(make_world: WorldFactory) -> None:
    recorder = Recorder()
    world = make_world(plugins=(recorder,))
    order = world.paid()
    paid = [e for e in recorder.events if e.name == "order.paid"]
    assert len(paid) == 1
    assert paid[0].data["seller_id"] == "omar" and paid[0].data["order_id"] == order.id
    assert recorder.seen_paid == [("paid", True)]  # committed before the hook ran
    assert recorder.events == world.market.events.read(after=0, limit=10_000)


def test_failing_on_event_does_not_undo_the_command(
    make_world: WorldFactory, caplog: pytest.LogCaptureFixture
) -> None:
    world = make_world(plugins=(Failing(),))
    with caplog.at_level(logging.ERROR, logger="microkit"):
        order = world.paid()
    assert world.market.orders.get(order.id).state == "paid"
    assert world.market.ledger.account_balance(f"escrow:order:{order.id}") == order.total
    assert any("order.paid" in r.getMessage() for r in caplog.records)


def test_failing_on_event_does_not_starve_other_plugins() -> None:
    recorder = Recorder()
    market = mk.Marketplace.open("memory://", config=mk.MarketConfig.khamsat(),
                                 plugins=(recorder, Failing()), load_entry_points=False)
    market.users.register("amal", display_name="Amal")
    assert [e.name for e in recorder.events] == ["user.registered"]


# -- plugin contract ---------------------------------------------------------------------


def open_memory(*plugins: object, url: str = "memory://") -> mk.Marketplace:
    return mk.Marketplace.open(url, config=mk.MarketConfig.khamsat(), plugins=plugins,
                               load_entry_points=False)


def gateway_plugin(name: str) -> object:
    class Plugin:
        @mk.hookimpl
        def microkit_payment_gateways(self, config: Any, clock: Any, register: Any) -> None:
            register(SandboxGateway(name=name, clock=lambda: 0))

    return Plugin()


def test_a_plugin_gateway_is_registered() -> None:
    market = open_memory(gateway_plugin("card"))
    assert market.payments.gateway("card").name == "card"
    assert market.payments.gateway("sandbox").name == "sandbox"


def test_two_plugins_with_one_gateway_name_is_an_error() -> None:
    with pytest.raises(mk.PluginError, match="card"):
        open_memory(gateway_plugin("card"), gateway_plugin("card"))


def test_a_gateway_missing_the_protocol_is_an_error() -> None:
    class Broken:
        @mk.hookimpl
        def microkit_payment_gateways(self, config: Any, clock: Any, register: Any) -> None:
            register(type("NotAGateway", (), {"name": "broken"})())

    with pytest.raises(mk.PluginError, match="broken"):
        open_memory(Broken())


@pytest.mark.parametrize("currencies", ["USD", ["USD"], frozenset({840})])
def test_a_gateway_whose_currencies_are_not_a_set_of_codes_is_an_error(
    currencies: object,
) -> None:
    # "USD" would be read letter by letter: "US" in "USD" is true.
    class Odd:
        @mk.hookimpl
        def microkit_payment_gateways(self, config: Any, clock: Any, register: Any) -> None:
            gateway = SandboxGateway(name="odd", clock=lambda: 0)
            gateway.currencies = currencies  # type: ignore[assignment]
            register(gateway)

    with pytest.raises(mk.PluginError, match=r"odd.*currencies"):
        open_memory(Odd())


def test_a_plugin_that_implements_no_hook_is_an_error() -> None:
    def on_event(event: Any, market: Any) -> None:  # not marked: pluggy would ignore it
        pass

    with pytest.raises(mk.PluginError, match=r"on_event.*implements no microkit hook"):
        open_memory(on_event)


def test_a_misspelled_hook_is_an_error() -> None:
    class Misspelled:
        @mk.hookimpl
        def microkit_on_evnt(self, event: Any, market: Any) -> None:
            pass

    with pytest.raises(mk.PluginError, match="microkit_on_evnt"):
        open_memory(Misspelled())


def test_a_hook_with_unknown_arguments_is_an_error() -> None:
    class WrongArgs:
        @mk.hookimpl
        def microkit_on_event(self, event: Any, marketplace: Any) -> None:
            pass

    with pytest.raises(mk.PluginError):
        open_memory(WrongArgs())


class OwnStorage:
    """Answers its own scheme, and takes over ``memory://`` too."""

    def __init__(self) -> None:
        self.opened: list[MemoryStorage] = []

    @mk.hookimpl
    def microkit_open_storage(self, url: str) -> MemoryStorage | None:
        if not url.startswith(("mine://", "memory://")):
            return None
        storage = MemoryStorage(url)
        self.opened.append(storage)
        return storage


@pytest.mark.parametrize("url", ["mine://shop", "memory://"])
def test_a_storage_plugin_wins_for_its_scheme(url: str) -> None:
    plugin = OwnStorage()
    market = open_memory(plugin, url=url)
    assert plugin.opened and market.storage is plugin.opened[0]
    market.users.register("amal", display_name="Amal")
    assert "users" in plugin.opened[0].records


def test_a_storage_plugin_leaves_other_schemes_to_the_builtins(tmp_path: Any) -> None:
    plugin = OwnStorage()
    market = open_memory(plugin, url=f"sqlite:///{tmp_path}/m.db")
    assert plugin.opened == []
    assert not isinstance(market.storage, MemoryStorage)
    market.close()


def test_a_url_nobody_answers_is_a_validation_error() -> None:
    with pytest.raises(mk.ValidationError) as err:
        open_memory(url="nosuch://db")
    assert (err.value.field, err.value.value) == ("url", "nosuch://db")


def test_on_event_sees_the_market_clock(clock: FrozenClock) -> None:
    recorder = Recorder()
    market = mk.Marketplace.open("memory://", config=mk.MarketConfig.khamsat(), clock=clock,
                                 plugins=(recorder,), load_entry_points=False)
    clock.advance(hours=5)
    market.users.register("amal", display_name="Amal")
    assert [(e.name, e.at) for e in recorder.events] == [("user.registered", clock.now())]


# -- broken plugins: a typed error, and the market does not open --------------------------


class ClosingStorage(MemoryStorage):
    """A memory store that records being closed."""

    closed = False

    def close(self) -> None:
        self.closed = True


class TracksStorage:
    """Opens ``tracked://`` stores and keeps them, to see whether a failed open closed them."""

    def __init__(self) -> None:
        self.opened: list[ClosingStorage] = []

    @mk.hookimpl
    def microkit_open_storage(self, url: str) -> MemoryStorage | None:
        if not url.startswith("tracked://"):
            return None
        self.opened.append(ClosingStorage(url))
        return self.opened[-1]


class GatewaysRaise:
    @mk.hookimpl
    def microkit_payment_gateways(self, register: Any) -> None:
        raise RuntimeError("config file missing")


class PayoutMethodsRaise:
    @mk.hookimpl
    def microkit_payout_methods(self, register: Any) -> None:
        raise KeyError("secret")


@pytest.mark.parametrize(("plugin", "hook", "raised"), [
    (GatewaysRaise(), "microkit_payment_gateways", RuntimeError),
    (PayoutMethodsRaise(), "microkit_payout_methods", KeyError),
])
def test_a_register_hook_that_raises_is_a_plugin_error_and_the_storage_is_closed(
    plugin: object, hook: str, raised: type[Exception]
) -> None:
    storage = TracksStorage()
    with pytest.raises(mk.PluginError) as err:
        open_memory(storage, plugin, url="tracked://shop")
    assert type(plugin).__name__ in str(err.value) and hook in str(err.value)
    assert isinstance(err.value.__cause__, raised)
    assert [s.closed for s in storage.opened] == [True]


def test_a_failed_open_after_the_storage_closes_it_for_any_plugin_error() -> None:
    storage = TracksStorage()
    with pytest.raises(mk.PluginError, match="card"):
        open_memory(storage, gateway_plugin("card"), gateway_plugin("card"), url="tracked://x")
    assert [s.closed for s in storage.opened] == [True]


def test_a_storage_plugin_answering_with_something_else_is_a_plugin_error() -> None:
    class Garbage:
        @mk.hookimpl
        def microkit_open_storage(self, url: str) -> object:
            return object() if url.startswith("weird://") else None

    with pytest.raises(mk.PluginError, match=r"expected a Storage.*Garbage"):
        open_memory(Garbage(), url="weird://x")


def test_a_storage_plugin_that_raises_is_a_plugin_error() -> None:
    class Raises:
        @mk.hookimpl
        def microkit_open_storage(self, url: str) -> object:
            raise OSError("disk on fire")

    with pytest.raises(mk.PluginError, match="microkit_open_storage raised OSError") as err:
        open_memory(Raises())
    assert isinstance(err.value.__cause__, OSError)


def test_a_storage_plugins_own_microkit_error_passes() -> None:
    class Down:
        @mk.hookimpl
        def microkit_open_storage(self, url: str) -> object:
            raise mk.StorageError("database unreachable")

    with pytest.raises(mk.StorageError, match="unreachable"):
        open_memory(Down())


def test_an_entry_point_that_does_not_load_is_a_plugin_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken = EntryPoint(name="broken", value="no_such_module_for_microkit", group="microkit")
    monkeypatch.setattr(microkit.hooks, "entry_points",
                        lambda group: [broken] if group == "microkit" else [])
    monkeypatch.delenv("MICROKIT_LOAD_PLUGINS", raising=False)
    with pytest.raises(mk.PluginError, match=r"'broken'.*ModuleNotFoundError") as err:
        mk.Marketplace.open("memory://", config=mk.MarketConfig.khamsat())
    assert isinstance(err.value.__cause__, ModuleNotFoundError)
    monkeypatch.setenv("MICROKIT_LOAD_PLUGINS", "")  # left out, it is not loaded
    mk.Marketplace.open("memory://", config=mk.MarketConfig.khamsat()).close()


# -- a plugin replaces a built-in gateway or payout method of its name -------------------


class MySandbox(SandboxGateway):
    """The plugin's own gateway under the built-in's name."""


@pytest.mark.parametrize("first", [False, True])
def test_a_plugin_gateway_replaces_the_builtin_of_its_name(first: bool) -> None:
    class Replace:
        @mk.hookimpl(tryfirst=first)
        def microkit_payment_gateways(self, clock: Any, register: Any) -> None:
            register(MySandbox(clock=lambda: 0))

    market = open_memory(Replace())
    assert type(market.payments.gateway("sandbox")) is MySandbox
    assert type(market.payments.gateway("manual")).__name__ == "ManualGateway"  # the others stay


def test_two_plugins_replacing_one_builtin_is_an_error() -> None:
    with pytest.raises(mk.PluginError, match="'sandbox' registered twice"):
        open_memory(gateway_plugin("sandbox"), gateway_plugin("sandbox"))


def test_the_balance_gateway_cannot_be_replaced() -> None:
    with pytest.raises(mk.PluginError, match="'balance' is reserved"):
        open_memory(gateway_plugin("balance"))


def test_a_plugin_payout_method_replaces_the_builtin_of_its_name() -> None:
    from microkit.payments.builtin import SandboxPayout

    class Replace:
        @mk.hookimpl
        def microkit_payout_methods(self, register: Any) -> None:
            register(SandboxPayout(name="manual_bank", clock=lambda: 0))

    market = open_memory(Replace())
    assert type(market.payouts.method("manual_bank")) is SandboxPayout
