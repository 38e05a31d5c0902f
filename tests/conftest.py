"""Shared fixtures: markets over every backend, a frozen clock, a seeded world, snapshots.

``tests/`` is put on ``sys.path`` so test modules can ``from _pg import ...``.

Backends: ``memory`` and ``sqlite`` always; ``postgres`` when ``MICROKIT_TEST_PG`` is
set or under CI (``CI=true``), where it must run and never skips.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

import microkit as mk
from microkit import Actor, Money
from microkit.clock import FrozenClock
from microkit.storage.records import ALL_KINDS

sys.path.insert(0, str(Path(__file__).parent))

import _pg  # found through the sys.path entry above

#: Every test market starts at this instant.
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
#: Later than any timer a test can schedule.
FAR_FUTURE = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
IN_CI = os.environ.get("CI") == "true"


def backends() -> list[str]:
    """The storage backends this run covers."""
    names = ["memory", "sqlite"]
    if _pg.postgres_url() or IN_CI:
        names.append("postgres")
    return names


MarketFactory = Callable[..., mk.Marketplace]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def staff() -> Actor:
    return Actor.staff("ops")


@pytest.fixture(params=backends())
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_market(backend: str, tmp_path: Path, clock: FrozenClock) -> Iterator[MarketFactory]:
    """Open fresh markets on the test's backend: ``make_market(config=..., plugins=...)``."""
    with ExitStack() as stack:
        opened = 0

        def make(
            config: mk.MarketConfig | None = None, *, plugins: tuple[object, ...] = ()
        ) -> mk.Marketplace:
            nonlocal opened
            opened += 1
            if backend == "memory":
                url = "memory://"
            elif backend == "sqlite":
                url = f"sqlite:///{tmp_path}/m{opened}.db"
            else:
                url = stack.enter_context(_pg.fresh_schema_url(_pg.require_postgres()))
            market = _open(url, config or mk.MarketConfig.khamsat(), plugins, clock)
            stack.callback(market.close)
            return market

        yield make


def _open(
    url: str, config: mk.MarketConfig, plugins: tuple[object, ...], clock: FrozenClock
) -> mk.Marketplace:
    try:
        return mk.Marketplace.open(
            url, config=config, plugins=plugins, clock=clock, load_entry_points=False
        )
    except mk.ValidationError as exc:
        if url.startswith("postgresql") and "no storage backend" in str(exc) and not IN_CI:
            pytest.skip(f"PostgreSQL backend not available yet: {exc}")
        raise


@pytest.fixture
def market(make_market: MarketFactory) -> mk.Marketplace:
    """An empty Khamsat-style market on the test's backend."""
    return make_market()


# -- a seeded world --------------------------------------------------------------------


class World:
    """A market with buyer amal, seller omar, category "design" and one approved service.

    The service is the DESIGN.md contract's: a base price with one upgrade of the
    same price (5 + 5 USD in the Khamsat preset).
    """

    def __init__(self, market: mk.Marketplace, clock: FrozenClock, price: str) -> None:
        self.market = market
        self.clock = clock
        self.staff = Actor.staff("ops")
        self.amal = Actor.user("amal")
        self.omar = Actor.user("omar")
        self.buyer, self.seller = self.amal, self.omar
        market.users.register("amal", display_name="أمل")
        market.users.register("omar", display_name="Omar")
        market.catalog.add_category("design", names={"ar": "تصميم", "en": "Design"},
                                    by=self.staff)
        self.service = self.add_service(price, upgrade=price)

    def money(self, value: str) -> Money:
        return self.market.config.money(value)

    def add_service(self, price: str, *, upgrade: str | None = None) -> mk.Service:
        """An approved service by omar in "design"."""
        upgrades = [] if upgrade is None else [
            mk.UpgradeSpec(title="تسليم سريع", price=self.money(upgrade), extra_days=-1)
        ]
        svc = self.market.catalog.create_service(
            by=self.omar, category="design", title="تصميم شعار احترافي",
            description="شعار بثلاثة مقترحات", price=self.money(price), delivery_days=2,
            upgrades=upgrades,
        )
        return self.market.catalog.approve(svc.id, by=self.staff)

    def place(self, *, upgrade: bool = False, service: mk.Service | None = None) -> mk.Order:
        svc = service or self.service
        ups = [svc.upgrades[0].id] if upgrade else []
        return self.market.orders.place(svc.id, by=self.amal, upgrades=ups)

    def paid(self, *, upgrade: bool = False, service: mk.Service | None = None) -> mk.Order:
        order = self.place(upgrade=upgrade, service=service)
        self.market.payments.pay(order.id, by=self.amal, gateway="sandbox",
                                 idempotency_key=f"pay-{order.id}")
        return self.market.orders.get(order.id)

    def started(self, **kw: Any) -> mk.Order:
        order = self.paid(**kw)
        return self.market.orders.start(order.id, by=self.omar)

    def delivered(self, **kw: Any) -> mk.Order:
        order = self.started(**kw)
        return self.market.orders.deliver(order.id, by=self.omar, message="التصميم جاهز",
                                          attachments=["logo-v1.png"])

    def completed(self, **kw: Any) -> mk.Order:
        order = self.delivered(**kw)
        return self.market.orders.accept(order.id, by=self.amal)

    def credit_buyer(self, *, upgrade: bool = False) -> mk.Order:
        """Put money on amal's balance: staff cancel a paid order, refunding its total."""
        order = self.paid(upgrade=upgrade)
        return self.market.orders.cancel(order.id, by=self.staff, reason="refund")

    def snapshot(self) -> dict[str, Any]:
        return snapshot(self.market)


WorldFactory = Callable[..., World]


@pytest.fixture
def make_world(make_market: MarketFactory, clock: FrozenClock) -> WorldFactory:
    """``make_world(config, price, plugins=...)``: a seeded world on the test's backend."""

    def make(
        config: mk.MarketConfig | None = None, price: str = "5", *,
        plugins: tuple[object, ...] = (),
    ) -> World:
        return World(make_market(config, plugins=plugins), clock, price)

    return make


@pytest.fixture
def seeded(make_world: WorldFactory) -> World:
    """Khamsat preset: a 5 USD service with a 5 USD upgrade."""
    return make_world(mk.MarketConfig.khamsat(), "5")


@pytest.fixture
def microlibya(make_world: WorldFactory) -> World:
    """MicroLibya preset (LYD, 3 decimals): a 12.345 LYD service with a 12.345 LYD upgrade."""
    return make_world(mk.MarketConfig.microlibya(), "12.345")


# -- snapshots -------------------------------------------------------------------------


def snapshot(market: mk.Marketplace) -> dict[str, Any]:
    """Everything observable in a market's storage, for "nothing changed" assertions."""
    with market.storage.read() as tx:
        records = {
            kind.table: {kind.key(r): r for r in tx.find(kind, {}, limit=10_000)}
            for kind in ALL_KINDS
        }
        balances = tx.all_balances()
        journal = sorted(tx.journal())
        timers = sorted(tx.due_timers(FAR_FUTURE, 10_000), key=lambda t: t.id)
    return {
        "records": records,
        "balances": balances,
        "journal": journal,
        "timers": timers,
        "events": market.events.read(after=0, limit=10_000),
        "verify": market.ledger.verify(),
    }


@pytest.fixture(name="snapshot")
def snapshot_fixture() -> Callable[[mk.Marketplace], dict[str, Any]]:
    return snapshot
