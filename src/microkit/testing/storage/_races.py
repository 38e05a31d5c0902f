"""Conformance tests across openings: a market on the store, isolation and races."""

from __future__ import annotations

import threading
from typing import Any

import attrs
import pytest

from ...errors import ConcurrentUpdate, Conflict
from ...escrow.ledger import verify
from ...money import Money
from ...storage.base import Storage
from ...storage.records import SERVICES
from ._helpers import LYD, StorageFactory, event, run_threads, service, txn

__all__ = ["SharedStoreMixin"]


class SharedStoreMixin:
    """The market-on-the-store, isolation and race tests of :class:`StorageConformance`."""

    race_threads: int  # set (and documented) on StorageConformance

    # -- a market on the store -------------------------------------------------------

    def _market(self, open_storage: StorageFactory, code: str) -> Any:
        """A market opened on a new opening of the store, with the preset of ``code``."""
        from ... import MarketConfig, hookimpl
        from ...market import Marketplace

        class OnTheStore:
            @hookimpl
            def microkit_open_storage(self, url: str) -> Storage | None:
                return open_storage() if url == "conformance://" else None

        config = MarketConfig.khamsat() if code == "USD" else MarketConfig.microlibya()
        return Marketplace.open("conformance://", config=config, plugins=[OnTheStore()],
                                load_entry_points=False)

    def test_a_market_keeps_its_currency(self, open_storage: StorageFactory) -> None:
        from ..._settings import CURRENCY, SETTINGS
        from ...errors import InvalidConfig

        self._market(open_storage, "LYD").close()  # the first open records LYD
        with pytest.raises(InvalidConfig) as refused:
            self._market(open_storage, "USD")
        assert refused.value.field == "currency"
        assert "LYD" in str(refused.value) and "USD" in str(refused.value)
        market = self._market(open_storage, "LYD")  # the refused open changed nothing
        assert market.config.currency == LYD
        with open_storage().read() as tx:
            found = tx.get(SETTINGS, CURRENCY)
        assert found is not None and found.value == "LYD"

    def test_a_market_from_before_recorded_currencies_keeps_the_one_in_use(
        self, open_storage: StorageFactory
    ) -> None:
        from ..._settings import CURRENCY, SETTINGS
        from ...errors import InvalidConfig

        with open_storage().write() as tx:  # a market with money in it, currency unrecorded
            tx.add(SERVICES, attrs.evolve(service("sv1"), price=Money.of("10", "LYD")))
        with pytest.raises(InvalidConfig, match="LYD"):
            self._market(open_storage, "USD")
        with open_storage().read() as tx:
            assert tx.get(SETTINGS, CURRENCY) is None  # nothing written by the refused open
        self._market(open_storage, "LYD").close()
        with pytest.raises(InvalidConfig):
            self._market(open_storage, "USD")

    def test_a_market_with_only_a_priced_category_keeps_its_currency(
        self, open_storage: StorageFactory
    ) -> None:
        from ...catalog.model import Category
        from ...errors import InvalidConfig
        from ...storage.records import CATEGORIES

        with open_storage().write() as tx:  # no service yet: a category's price cap is money
            tx.add(CATEGORIES, Category("design", {"ar": "تصميم", "en": "Design"},
                                        max_price=Money.of("500", "LYD")))
        with pytest.raises(InvalidConfig, match="LYD"):
            self._market(open_storage, "USD")

    # -- isolation and races ---------------------------------------------------------

    def test_another_opening_sees_what_was_committed(self, open_storage: StorageFactory) -> None:
        a, b = open_storage(), open_storage()
        with a.write() as tx:
            tx.add(SERVICES, service("sv1"))
            tx.post(txn("t1", ("user:a:available", 5)))
        with b.read() as tx:
            assert tx.get(SERVICES, "sv1") == service("sv1")
            assert tx.all_balances()["user:a:available"] == 5

    def test_read_is_a_snapshot(self, open_storage: StorageFactory) -> None:
        reader, writer = open_storage(), open_storage()
        with writer.write() as tx:
            tx.add(SERVICES, service("sv1"))
            tx.post(txn("t1", ("user:a:available", 5)))

        def write() -> None:
            with writer.write() as tx:
                tx.save(SERVICES, service("sv1", state="rejected", version=2), 1)
                tx.post(txn("t2", ("user:a:available", 5)))

        with reader.read() as tx:
            first = (tx.get(SERVICES, "sv1"), tx.all_balances())
            # A writer may wait for this reader (one lock) or commit beside it (MVCC);
            # either way the reader keeps seeing what it saw first.
            thread = threading.Thread(target=write)
            thread.start()
            thread.join(0.5)
            assert (tx.get(SERVICES, "sv1"), tx.all_balances()) == first
        thread.join(30)
        assert not thread.is_alive()
        with reader.read() as tx:
            assert tx.all_balances()["user:a:available"] == 10

    def test_racing_saves_of_one_version_let_exactly_one_win(
        self, open_storage: StorageFactory
    ) -> None:
        with open_storage().write() as tx:
            tx.add(SERVICES, service("sv1"))
        stores = [open_storage() for _ in range(self.race_threads)]

        def save(i: int) -> str:
            # Every racer read version 1 before the race (as a command's guard read would).
            with stores[i].write() as tx:
                tx.save(SERVICES, service("sv1", title=f"t{i}", version=2), 1)
            return f"t{i}"

        results = run_threads(save, self.race_threads)
        winners = [r for r in results if isinstance(r, str)]
        assert len(winners) == 1, results
        assert all(isinstance(r, ConcurrentUpdate) for r in results if r not in winners), results
        with stores[0].read() as tx:
            found = tx.get(SERVICES, "sv1")
        assert found is not None and found.version == 2 and found.title == winners[0]

    def test_racing_adds_of_one_key_let_exactly_one_win(
        self, open_storage: StorageFactory
    ) -> None:
        stores = [open_storage() for _ in range(self.race_threads)]

        def add(i: int) -> int:
            with stores[i].write() as tx:
                if tx.get(SERVICES, "sv1") is None:
                    tx.add(SERVICES, service("sv1", seller=f"s{i}"))
            return i

        results = run_threads(add, self.race_threads)
        # The losers either saw the winner's record (and added nothing) or lost the
        # insert: a Conflict (ConcurrentUpdate when they had read the key as missing).
        assert all(isinstance(r, int | Conflict) for r in results), results
        with stores[0].read() as tx:
            assert len(tx.find(SERVICES, {})) == 1

    def test_concurrent_postings_lose_no_increment(self, open_storage: StorageFactory) -> None:
        per_thread = 20
        stores = [open_storage() for _ in range(self.race_threads)]

        def post(i: int) -> None:
            for n in range(per_thread):
                with stores[i].write() as tx:
                    # Opposite account orders in alternate threads: no deadlock allowed.
                    moves = [("user:a:available", 1), ("user:b:available", 2)]
                    tx.post(txn(f"t{i}-{n}", *(moves if i % 2 else moves[::-1])))

        results = run_threads(post, self.race_threads)
        assert results == [None] * self.race_threads, results
        with stores[0].read() as tx:
            balances = tx.all_balances()
            report = verify(tx.journal(), balances)
        total = self.race_threads * per_thread
        assert balances == {"user:a:available": total, "user:b:available": 2 * total,
                            "gateway:world": -3 * total}
        assert report.ok and report.transactions == total

    def test_concurrent_appends_number_events_uniquely(self, open_storage: StorageFactory) -> None:
        per_thread = 10
        stores = [open_storage() for _ in range(self.race_threads)]

        def append(i: int) -> list[int]:
            seqs: list[int] = []
            for n in range(per_thread):
                with stores[i].write() as tx:
                    seqs += [e.seq for e in tx.append([event(f"order:o{i}", n)])]
            return seqs

        results = run_threads(append, self.race_threads)
        for seqs in results:
            assert isinstance(seqs, list) and seqs == sorted(seqs), results
        with stores[0].read() as tx:
            log = tx.events(0, 10_000)
        assert sorted(s for seqs in results for s in seqs) == [e.seq for e in log]
        for i in range(self.race_threads):
            mine = [e.data["n"] for e in log if e.subject == f"order:o{i}"]
            assert mine == list(range(per_thread))
