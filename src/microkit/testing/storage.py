"""The storage conformance suite: the behaviour every :class:`~microkit.storage.base.Storage` owes.

Use it from a pytest test module of your backend: subclass
:class:`StorageConformance` and override the ``storage_factory`` fixture::

    import pytest
    from microkit.testing.storage import StorageConformance

    from mybackend import MyStorage

    class TestMyStorage(StorageConformance):
        @pytest.fixture
        def storage_factory(self, tmp_path):
            url = f"mydb:///{tmp_path}/market"
            return lambda: MyStorage(url)

``storage_factory`` returns a callable that opens the store under test. Each
call opens **the same, initially empty** database again (a second
connection, as a second application process would); a backend without
persistence returns the same object every time. The suite closes what it
opened. Every test method is inherited, so ``pytest -k`` and ``--lf`` work
on them as on your own tests.

The suite drives the :class:`~microkit.storage.base.Tx` protocol directly:
records (add, get, compare-and-set save, find), rollback, the ledger
(increments, currencies, journal), timers, events and read snapshots, plus a
few races between threads that each open their own storage. Two tests open a
market on the store (through a ``microkit_open_storage`` plugin) to check that
it keeps the currency it was first opened with.

.. versionadded:: 0.1
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest

from ..catalog.model import Category, Service
from ..errors import ConcurrentUpdate, Conflict
from ..escrow.ledger import LedgerTransaction, Posting, verify
from ..events import Event
from ..money import Money, currency
from ..storage.base import KeyFrom, Storage, Timer, post_then, prefetch
from ..storage.records import CATEGORIES, SERVICES, USERS
from ..users import User

__all__ = ["StorageConformance", "StorageFactory"]

#: Opens the store under test; every call opens the same database again.
StorageFactory = Callable[[], Storage]

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
USD = currency("USD")
LYD = currency("LYD")


def service(
    key: str,
    *,
    seller: str = "s1",
    category: str = "design",
    state: str = "approved",
    version: int = 1,
    title: str = "تصميم شعار",
) -> Service:
    """A small valid service record (the suite stores microkit's own record kinds)."""
    return Service(
        id=key, seller_id=seller, category=category, title=title, description="وصف",
        price=Money.of("5", "USD"), delivery_days=2, upgrades=(), state=state,  # type: ignore[arg-type]
        created_at=T0, updated_at=T0 + dt.timedelta(minutes=version), version=version,
    )


def txn(
    txn_id: str, *moves: tuple[str, int], code: str = "USD", kind: str = "test"
) -> LedgerTransaction:
    """A balanced transaction: each ``(account, amount)`` plus the balancing ``world`` line."""
    postings = [Posting(a, n) for a, n in moves]
    postings.append(Posting("gateway:world", -sum(n for _, n in moves)))
    return LedgerTransaction(txn_id, kind, currency(code), tuple(postings), T0)


def event(subject: str, n: int) -> Event:
    return Event("thing.happened", subject, "system", T0 + dt.timedelta(seconds=n),
                 {"n": n, "text": "مرحبا"})


def run_threads(target: Callable[[int], Any], count: int, timeout: float = 60) -> list[Any]:
    """Run ``target(i)`` in ``count`` threads; their results, or the exceptions they raised."""
    results: list[Any] = [None] * count

    def body(i: int) -> None:
        try:
            results[i] = target(i)
        except BaseException as exc:  # reported to the test, not lost in the thread
            results[i] = exc

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "a thread of the race did not finish"
    return results


class Boom(Exception):
    """Raised inside a unit of work to force its rollback."""


class StorageConformance:
    """Inherit this in a ``Test…`` class and override :meth:`storage_factory`.

    .. versionadded:: 0.1
    """

    #: Threads in the race tests; a backend that serializes writers still passes.
    race_threads: int = 4

    # -- fixtures ----------------------------------------------------------------

    @pytest.fixture
    def storage_factory(self) -> StorageFactory:
        """Override: return a callable opening the (same, empty) store under test."""
        raise NotImplementedError("override the storage_factory fixture in your subclass")

    @pytest.fixture
    def open_storage(self, storage_factory: StorageFactory) -> Iterator[StorageFactory]:
        """``storage_factory``, with everything it opened closed after the test."""
        opened: list[Storage] = []

        def open_() -> Storage:
            s = storage_factory()
            opened.append(s)
            return s

        yield open_
        for s in reversed(opened):
            s.close()

    @pytest.fixture
    def storage(self, open_storage: StorageFactory) -> Storage:
        return open_storage()

    # -- basics ------------------------------------------------------------------

    def test_url_and_schema_version(self, storage: Storage, open_storage: StorageFactory) -> None:
        assert isinstance(storage.url, str)
        version = storage.schema_version()
        assert isinstance(version, int) and version >= 0
        assert open_storage().schema_version() == version  # opening again migrates nothing

    # -- records -----------------------------------------------------------------

    def test_get_missing_is_none(self, storage: Storage) -> None:
        with storage.read() as tx:
            assert tx.get(SERVICES, "nope") is None

    def test_add_then_get_round_trips(self, storage: Storage) -> None:
        record = service("sv1")
        with storage.write() as tx:
            tx.add(SERVICES, record)
            assert tx.get(SERVICES, "sv1") == record  # visible inside its own unit of work
        with storage.read() as tx:
            assert tx.get(SERVICES, "sv1") == record

    def test_add_existing_key_raises_conflict_and_keeps_the_first(self, storage: Storage) -> None:
        with storage.write() as tx:
            tx.add(SERVICES, service("sv1", title="first"))
        with pytest.raises(Conflict), storage.write() as tx:
            tx.add(SERVICES, service("sv1", title="second"))
        with storage.read() as tx:
            found = tx.get(SERVICES, "sv1")
        assert found is not None and found.title == "first"

    def test_save_is_compare_and_set_on_version(self, storage: Storage) -> None:
        with storage.write() as tx:
            tx.add(SERVICES, service("sv1"))
        with storage.write() as tx:
            tx.save(SERVICES, service("sv1", state="rejected", version=2), 1)
        with pytest.raises(ConcurrentUpdate), storage.write() as tx:
            tx.save(SERVICES, service("sv1", state="approved", version=2), 1)  # stale
        with storage.read() as tx:
            assert tx.get(SERVICES, "sv1") == service("sv1", state="rejected", version=2)

    def test_save_of_a_missing_record_raises_concurrent_update(self, storage: Storage) -> None:
        with pytest.raises(ConcurrentUpdate), storage.write() as tx:
            tx.save(SERVICES, service("ghost", version=2), 1)
        with storage.read() as tx:
            assert tx.get(SERVICES, "ghost") is None

    def test_writes_of_one_unit_are_seen_in_order_and_the_last_save_is_stored(
        self, storage: Storage
    ) -> None:
        # Backends may hold writes back and send them together: the unit must not notice.
        with storage.write() as tx:
            tx.add(SERVICES, service("sv1", state="pending"))
            tx.save(SERVICES, service("sv1", state="approved", version=2), 1)
            tx.save(SERVICES, service("sv1", state="rejected", version=3), 2)
            assert [s.id for s in tx.find(SERVICES, {"state": "rejected"})] == ["sv1"]
            tx.save(SERVICES, service("sv1", state="approved", version=4), 3)
            tx.add(SERVICES, service("sv2"))
        with storage.read() as tx:
            assert tx.get(SERVICES, "sv1") == service("sv1", state="approved", version=4)
            assert tx.get(SERVICES, "sv2") == service("sv2")

    def test_a_stale_save_fails_the_unit_even_after_other_writes(self, storage: Storage) -> None:
        with storage.write() as tx:
            tx.add(SERVICES, service("sv1"))
        with pytest.raises(ConcurrentUpdate), storage.write() as tx:
            tx.add(SERVICES, service("sv2"))
            tx.save(SERVICES, service("sv1", state="rejected", version=3), 2)  # stale
            tx.add(SERVICES, service("sv3"))
        with storage.read() as tx:
            assert tx.get(SERVICES, "sv1") == service("sv1")
            assert tx.get(SERVICES, "sv2") is None and tx.get(SERVICES, "sv3") is None

    def test_many_writes_in_one_unit(self, storage: Storage) -> None:
        keys = [f"sv{i:03d}" for i in range(120)]
        with storage.write() as tx:
            for key in keys:
                tx.add(SERVICES, service(key, state="pending"))
            for key in keys[::2]:
                tx.save(SERVICES, service(key, state="approved", version=2), 1)
        with storage.write() as tx:
            for key in keys[::3]:
                current = tx.get(SERVICES, key)
                assert current is not None
                tx.save(SERVICES, service(key, state="rejected", version=current.version + 1),
                        current.version)
        with storage.read() as tx:
            for i, key in enumerate(keys):
                want = ("rejected" if i % 3 == 0 else "approved" if i % 2 == 0 else "pending")
                found = tx.get(SERVICES, key)
                assert found is not None and found.state == want, (key, found)

    def test_a_taken_key_among_many_inserts_fails_the_whole_unit(self, storage: Storage) -> None:
        with storage.write() as tx:
            tx.add(SERVICES, service("sv077", title="first"))
        with pytest.raises(Conflict) as err, storage.write() as tx:
            for i in range(120):
                tx.add(SERVICES, service(f"sv{i:03d}"))
        assert err.value.key == "sv077"
        with storage.read() as tx:
            assert tx.get(SERVICES, "sv000") is None and tx.get(SERVICES, "sv119") is None
            found = tx.get(SERVICES, "sv077")
            assert found is not None and found.title == "first"

    def test_a_stale_save_among_many_writes_fails_the_whole_unit(
        self, storage: Storage
    ) -> None:
        with storage.write() as tx:
            for i in range(60):
                tx.add(SERVICES, service(f"sv{i:03d}"))
        with pytest.raises(ConcurrentUpdate) as err, storage.write() as tx:
            for i in range(60):
                expected = 2 if i == 41 else 1  # sv041 is at version 1, not 2: stale
                tx.save(SERVICES, service(f"sv{i:03d}", state="rejected", version=expected + 1),
                        expected)
        assert err.value.key == "sv041"
        with storage.read() as tx:
            assert all(s.state == "approved" for s in tx.find(SERVICES, {}, limit=100))

    def test_prefetch_reads_what_get_reads(self, storage: Storage) -> None:
        with storage.write() as tx:
            tx.add(SERVICES, service("sv1"))
            tx.add(CATEGORIES, Category("design", {"en": "Design"}))
        with storage.write() as tx:
            prefetch(tx, (SERVICES, "sv1"), (CATEGORIES, "design"), (SERVICES, "nope"))
            assert tx.get(SERVICES, "sv1") == service("sv1")
            found = tx.get(CATEGORIES, "design")
            assert found is not None and found.slug == "design"
            assert tx.get(SERVICES, "nope") is None
            tx.add(SERVICES, service("nope"))  # read as missing, then added: fine
        with storage.read() as tx:
            assert tx.get(SERVICES, "nope") == service("nope")

    def test_prefetch_follows_a_fixed_column_to_another_record(self, storage: Storage) -> None:
        with storage.write() as tx:
            tx.add(SERVICES, service("sv1", seller="s1"))
            tx.add(SERVICES, service("sv2", seller="s2"))
            tx.add(USERS, User("s1", "سارة", T0))
            tx.add(USERS, User("s1+s1", "مكرر", T0))
        with storage.write() as tx:
            prefetch(tx, (SERVICES, "sv1"), (USERS, KeyFrom(SERVICES, "sv1", ("seller_id",))),
                     (SERVICES, "sv2"), (USERS, KeyFrom(SERVICES, "sv2", ("seller_id",))),
                     (USERS, KeyFrom(SERVICES, "nope", ("seller_id",))),
                     (USERS, KeyFrom(SERVICES, "sv1", ("seller_id", "seller_id"), sep="+")))
            assert tx.get(USERS, "s1") == User("s1", "سارة", T0)
            assert tx.get(USERS, "s1+s1") == User("s1+s1", "مكرر", T0)
            assert tx.get(USERS, "s2") is None
            tx.add(USERS, User("s2", "سعيد", T0))  # read as missing, then added: fine
            assert tx.get(SERVICES, "nope") is None
        with storage.read() as tx:
            assert tx.get(USERS, "s2") == User("s2", "سعيد", T0)
        with pytest.raises(ValueError, match="not fixed columns"):
            KeyFrom(SERVICES, "sv1", ("state",))

    def test_save_moves_the_index_columns(self, storage: Storage) -> None:
        with storage.write() as tx:
            tx.add(SERVICES, service("sv1", state="pending"))
            tx.save(SERVICES, service("sv1", state="approved", version=2), 1)
        with storage.read() as tx:
            assert tx.find(SERVICES, {"state": "pending"}) == []
            assert [s.id for s in tx.find(SERVICES, {"state": "approved"})] == ["sv1"]

    def test_save_refuses_to_change_a_fixed_column(self, storage: Storage) -> None:
        with storage.write() as tx:
            tx.add(SERVICES, service("sv1", seller="s1"))
        with pytest.raises(ValueError, match="seller_id is fixed"), storage.write() as tx:
            assert tx.get(SERVICES, "sv1") is not None  # the stored version, as commands read
            tx.save(SERVICES, service("sv1", seller="s2", version=2), 1)
        with storage.read() as tx:
            kept = tx.get(SERVICES, "sv1")
            assert kept is not None and (kept.seller_id, kept.version) == ("s1", 1)
            assert [s.id for s in tx.find(SERVICES, {"seller_id": "s1"})] == ["sv1"]

    # -- find --------------------------------------------------------------------

    @pytest.fixture
    def listed(self, storage: Storage) -> Storage:
        """sv01..sv09: sellers s1/s2 alternate, categories by thirds, states mixed."""
        with storage.write() as tx:
            for i in range(9, 0, -1):  # inserted out of key order on purpose
                tx.add(SERVICES, service(
                    f"sv{i:02d}", seller=f"s{1 + i % 2}", category=("a", "b", "c")[i % 3],
                    state="approved" if i % 4 else "pending",
                ))
        return storage

    def test_find_filters_by_equality_and_sorts_by_key(self, listed: Storage) -> None:
        with listed.read() as tx:
            assert [s.id for s in tx.find(SERVICES, {})] == [f"sv{i:02d}" for i in range(1, 10)]
            assert [s.id for s in tx.find(SERVICES, {"seller_id": "s1"})] == [
                "sv02", "sv04", "sv06", "sv08"]
            both = tx.find(SERVICES, {"seller_id": "s2", "state": "approved"})
            assert [s.id for s in both] == ["sv01", "sv03", "sv05", "sv07", "sv09"]
            assert tx.find(SERVICES, {"seller_id": "nobody"}) == []

    def test_find_descending_after_and_limit(self, listed: Storage) -> None:
        with listed.read() as tx:

            def ids(**kw: Any) -> list[str]:
                return [s.id for s in tx.find(SERVICES, {}, **kw)]

            assert ids(limit=3) == ["sv01", "sv02", "sv03"]
            assert ids(after="sv03", limit=3) == ["sv04", "sv05", "sv06"]
            assert ids(after="sv08") == ["sv09"]
            assert ids(after="sv09") == []
            assert ids(descending=True, limit=2) == ["sv09", "sv08"]
            assert ids(descending=True, after="sv03") == ["sv02", "sv01"]

    def test_find_pages_through_everything_once(self, listed: Storage) -> None:
        seen: list[str] = []
        after: str | None = None
        with listed.read() as tx:
            while True:
                page = tx.find(SERVICES, {"state": "approved"}, after=after, limit=2)
                if not page:
                    break
                seen += [s.id for s in page]
                after = page[-1].id
        assert seen == [f"sv{i:02d}" for i in range(1, 10) if i % 4]

    def test_find_orders_by_an_index_column(self, listed: Storage) -> None:
        with listed.read() as tx:
            rows = tx.find(SERVICES, {"seller_id": "s2"}, order_by="category")
            assert [s.category for s in rows] == sorted(s.category for s in rows)
            later = tx.find(SERVICES, {"seller_id": "s2"}, order_by="category", after="a")
            assert {s.category for s in later} == {"b", "c"}
            first = tx.find(SERVICES, {}, order_by="category", descending=True, limit=1)
            assert first[0].category == "c"

    def test_find_by_a_fixed_column_after_adds_and_a_rollback(self, listed: Storage) -> None:
        with listed.read() as tx:  # first asked before the adds below
            assert len(tx.find(SERVICES, {"seller_id": "s3"})) == 0
        with pytest.raises(Boom), listed.write() as tx:
            tx.add(SERVICES, service("sv10", seller="s3"))
            assert [s.id for s in tx.find(SERVICES, {"seller_id": "s3"})] == ["sv10"]
            raise Boom("rolled back")
        with listed.write() as tx:
            tx.add(SERVICES, service("sv10", seller="s1"))  # the same key, another seller
            tx.add(SERVICES, service("sv11", seller="s3"))
        with listed.read() as tx:
            assert [s.id for s in tx.find(SERVICES, {"seller_id": "s3"})] == ["sv11"]
            assert [s.id for s in tx.find(SERVICES, {"seller_id": "s1"})] == [
                "sv02", "sv04", "sv06", "sv08", "sv10"]

    def test_find_where_none_matches_null(self, storage: Storage) -> None:
        with storage.write() as tx:
            tx.add(CATEGORIES, Category(slug="design", names={"en": "Design"}))
            tx.add(CATEGORIES, Category(slug="logos", names={"en": "Logos"}, parent="design"))
        with storage.read() as tx:
            assert [c.slug for c in tx.find(CATEGORIES, {"parent": None})] == ["design"]
            assert [c.slug for c in tx.find(CATEGORIES, {"parent": "design"})] == ["logos"]
            assert tx.get(CATEGORIES, "logos") == Category(
                slug="logos", names={"en": "Logos"}, parent="design")

    def test_find_refuses_unknown_columns(self, storage: Storage) -> None:
        with storage.read() as tx:
            with pytest.raises(KeyError):
                tx.find(SERVICES, {"colour": "red"})
            with pytest.raises(KeyError):
                tx.find(SERVICES, {}, order_by="colour")

    # -- rollback ----------------------------------------------------------------

    def test_an_exception_rolls_everything_back(self, storage: Storage) -> None:
        with storage.write() as tx:
            tx.add(SERVICES, service("kept"))
        before = self._everything(storage)
        boom = Boom("rolled back")
        with pytest.raises(Boom) as caught, storage.write() as tx:
            tx.add(SERVICES, service("sv1"))
            tx.save(SERVICES, service("kept", state="rejected", version=2), 1)
            tx.post(txn("t1", ("user:u1:available", 500)))
            tx.schedule(Timer("timer:1", "order:o1", "auto_complete", T0))
            tx.append([event("order:o1", 1)])
            raise boom
        assert caught.value is boom  # the caller's exception comes out unchanged
        assert self._everything(storage) == before
        with storage.write() as tx:  # and the storage is usable afterwards
            tx.add(SERVICES, service("sv1"))

    def test_a_failed_statement_rolls_back_the_unit_of_work(self, storage: Storage) -> None:
        with pytest.raises(Conflict), storage.write() as tx:
            tx.add(SERVICES, service("sv1"))
            tx.post(txn("t1", ("user:u1:available", 500)))
            tx.add(SERVICES, service("sv1"))
        with storage.read() as tx:
            assert tx.get(SERVICES, "sv1") is None
            assert tx.ledger_transaction("t1") is None
            assert tx.all_balances() == {}

    @staticmethod
    def _everything(storage: Storage) -> dict[str, Any]:
        with storage.read() as tx:
            return {
                "services": tx.find(SERVICES, {}, limit=1000),
                "journal": sorted(tx.journal()),
                "balances": tx.all_balances(),
                "timers": tx.due_timers(T0 + dt.timedelta(days=3650), 1000),
                "events": tx.events(0, 1000),
                "t1": tx.ledger_transaction("t1"),
            }

    # -- ledger ------------------------------------------------------------------

    def test_post_returns_balances_and_currencies(self, storage: Storage) -> None:
        with storage.write() as tx:
            after = tx.post(txn("t1", ("user:a:available", 700), ("escrow:order:o1", 300)))
        assert after == {
            "user:a:available": (700, USD), "escrow:order:o1": (300, USD),
            "gateway:world": (-1000, USD),
        }

    def test_post_of_a_known_id_writes_nothing(self, storage: Storage) -> None:
        with storage.write() as tx:
            assert tx.post(txn("t1", ("user:a:available", 700))) is not None
        with storage.write() as tx:
            assert tx.post(txn("t1", ("user:a:available", 700))) is None
            assert tx.post(txn("t1", ("user:a:available", 5))) is None
        with storage.read() as tx:
            assert tx.all_balances()["user:a:available"] == 700
            assert sum(1 for t, _, _ in tx.journal() if t == "t1") == 2  # its two postings

    def test_post_adds_increments(self, storage: Storage) -> None:
        with storage.write() as tx:
            tx.post(txn("t1", ("user:a:available", 700)))
            second = tx.post(txn("t2", ("user:a:available", -200), ("user:b:available", 200)))
        assert second is not None and second["user:a:available"] == (500, USD)
        with storage.write() as tx:
            third = tx.post(txn("t3", ("user:a:available", 1)))
        assert third == {"user:a:available": (501, USD), "gateway:world": (-701, USD)}
        with storage.read() as tx:
            assert tx.all_balances() == {
                "user:a:available": 501, "user:b:available": 200, "gateway:world": -701}

    def test_post_then_reports_what_post_returns_before_the_unit_ends(
        self, storage: Storage
    ) -> None:
        seen: list[Any] = []
        with storage.write() as tx:
            post_then(tx, txn("t1", ("user:a:available", 700)), seen.append)
            post_then(tx, txn("t2", ("user:a:available", -200)), seen.append)
            post_then(tx, txn("t1", ("user:a:available", 700)), seen.append)
        with storage.write() as tx:  # a known id again, last in its unit: None, and the
            tx.add(SERVICES, service("sv1"))  # unit's other writes still commit
            post_then(tx, txn("t2", ("user:a:available", -200)), seen.append)
        assert seen == [
            {"user:a:available": (700, USD), "gateway:world": (-700, USD)},
            {"user:a:available": (500, USD), "gateway:world": (-500, USD)},
            None,
            None,
        ]
        with storage.read() as tx:
            assert tx.get(SERVICES, "sv1") == service("sv1")
            assert tx.all_balances()["user:a:available"] == 500

    def test_what_post_then_raises_rolls_the_unit_back(self, storage: Storage) -> None:
        def refuse(after: Any) -> None:
            raise Boom(after)

        with pytest.raises(Boom), storage.write() as tx:
            tx.add(SERVICES, service("sv1"))
            post_then(tx, txn("t1", ("user:a:available", -5)), refuse)
            tx.add(SERVICES, service("sv2"))
        with storage.read() as tx:
            assert tx.get(SERVICES, "sv1") is None and tx.get(SERVICES, "sv2") is None
            assert tx.ledger_transaction("t1") is None
            assert tx.all_balances() == {}

    def test_storage_reports_negative_balances_and_the_caller_decides(
        self, storage: Storage
    ) -> None:
        with storage.write() as tx:
            after = tx.post(txn("t1", ("user:a:available", -5)))
        assert after is not None and after["user:a:available"] == (-5, USD)

    def test_an_account_keeps_its_first_currency(self, storage: Storage) -> None:
        with storage.write() as tx:
            tx.post(txn("t1", ("user:a:available", 100)))
            after = tx.post(LedgerTransaction("t2", "test", LYD, (
                Posting("user:a:available", 5), Posting("gateway:lyd", -5)), T0))
        assert after is not None
        assert after["user:a:available"] == (105, USD)  # so the caller sees the mismatch
        assert after["gateway:lyd"] == (-5, LYD)

    def test_balances_of_existing_accounts_only(self, storage: Storage) -> None:
        with storage.write() as tx:
            tx.post(txn("t1", ("user:a:available", 100)))
        with storage.read() as tx:
            amounts, currencies = tx.balances(["user:a:available", "user:zz:available"])
        assert amounts == {"user:a:available": 100}
        assert currencies == {"user:a:available": USD}

    def test_ledger_transaction_round_trips(self, storage: Storage) -> None:
        original = LedgerTransaction("order:o1:complete", "release", LYD, (
            Posting("escrow:order:o1", -12_345), Posting("user:s:pending", 9_876),
            Posting("platform:commission", 2_469)), T0 + dt.timedelta(microseconds=7))
        with storage.write() as tx:
            tx.post(txn("seed", ("escrow:order:o1", 12_345), code="LYD"))
            tx.post(original)
        with storage.read() as tx:
            assert tx.ledger_transaction("order:o1:complete") == original
            assert tx.ledger_transaction("order:o2:complete") is None

    def test_journal_and_all_balances_agree(self, storage: Storage) -> None:
        with storage.write() as tx:
            tx.post(txn("t1", ("user:a:available", 700), ("user:b:available", 300)))
            tx.post(txn("t2", ("user:a:available", -100), ("escrow:order:o1", 100)))
        with storage.read() as tx:
            journal = sorted(tx.journal())
            balances = tx.all_balances()
        assert journal == sorted([
            ("t1", "user:a:available", 700), ("t1", "user:b:available", 300),
            ("t1", "gateway:world", -1000),
            ("t2", "user:a:available", -100), ("t2", "escrow:order:o1", 100),
            ("t2", "gateway:world", 0),
        ])
        assert balances == {"user:a:available": 600, "user:b:available": 300,
                            "escrow:order:o1": 100, "gateway:world": -1000}
        report = verify(journal, balances)
        assert report.ok and report.transactions == 2, report

    # -- timers ------------------------------------------------------------------

    def test_schedule_is_idempotent_by_id(self, storage: Storage) -> None:
        first = Timer("order:o1:auto", "order:o1", "auto_complete", T0, version=3)
        with storage.write() as tx:
            tx.schedule(first)
            tx.schedule(first)
        with storage.write() as tx:
            tx.schedule(Timer("order:o1:auto", "order:o1", "other_name", T0, version=4))
        with storage.read() as tx:
            assert tx.due_timers(T0, 10) == [first]

    def test_due_timers_in_due_order_up_to_now(self, storage: Storage) -> None:
        def at(minutes: int) -> dt.datetime:
            return T0 + dt.timedelta(minutes=minutes)

        timers = [
            Timer("c", "order:o3", "expire", at(3)),
            Timer("a", "order:o1", "expire", at(1), version=1),
            Timer("b2", "order:o2", "expire", at(2)),
            Timer("b1", "order:o2", "clear", at(2)),
            Timer("z", "order:o9", "expire", at(60)),
        ]
        with storage.write() as tx:
            for t in timers:
                tx.schedule(t)
        with storage.read() as tx:
            assert [t.id for t in tx.due_timers(at(3), 10)] == ["a", "b1", "b2", "c"]
            assert [t.id for t in tx.due_timers(at(2), 10)] == ["a", "b1", "b2"]
            assert [t.id for t in tx.due_timers(at(3), 2)] == ["a", "b1"]
            assert tx.due_timers(at(0), 10) == []
            assert tx.due_timers(at(1), 10) == [timers[1]]

    def test_delete_timer_returns_false_the_second_time(self, storage: Storage) -> None:
        timer = Timer("t", "order:o1", "expire", T0)
        with storage.write() as tx:
            tx.schedule(timer)
        with storage.write() as tx:
            assert tx.delete_timer(timer) is True
        with storage.write() as tx:
            assert tx.delete_timer(timer) is False
            assert tx.due_timers(T0, 10) == []

    def test_timer_times_keep_their_instant(self, storage: Storage) -> None:
        plus3 = dt.timezone(dt.timedelta(hours=3))
        timer = Timer("t", "order:o1", "expire", dt.datetime(2026, 1, 1, 3, 0, 0, 5, tzinfo=plus3))
        with storage.write() as tx:
            tx.schedule(timer)
        with storage.read() as tx:
            assert tx.due_timers(T0 + dt.timedelta(microseconds=4), 10) == []
            (found,) = tx.due_timers(T0 + dt.timedelta(microseconds=5), 10)
        assert found.due_at == timer.due_at

    # -- events ------------------------------------------------------------------

    def test_append_numbers_events_in_order(self, storage: Storage) -> None:
        with storage.write() as tx:
            assert tx.append([]) == []
            first = tx.append([event("order:o1", 1), event("order:o2", 2)])
        with storage.write() as tx:
            second = tx.append([event("order:o1", 3)])
        seqs = [e.seq for e in first + second]
        assert seqs == sorted(seqs) and len(set(seqs)) == 3 and seqs[0] >= 1
        assert [attr_without_seq(e) for e in first + second] == [
            attr_without_seq(event("order:o1", 1)), attr_without_seq(event("order:o2", 2)),
            attr_without_seq(event("order:o1", 3))]

    def test_events_read_after_and_by_subject(self, storage: Storage) -> None:
        with storage.write() as tx:
            stored = tx.append([event(f"order:o{n % 2}", n) for n in range(6)])
        with storage.read() as tx:
            assert tx.events(0, 100) == stored
            assert tx.events(stored[2].seq, 100) == stored[3:]
            assert tx.events(0, 2) == stored[:2]
            assert tx.events(0, 100, subject="order:o1") == stored[1::2]
            assert tx.events(stored[1].seq, 1, subject="order:o1") == [stored[3]]
            assert tx.events(stored[-1].seq, 100) == []

    # -- a market on the store -------------------------------------------------------

    def _market(self, open_storage: StorageFactory, code: str) -> Any:
        """A market opened on a new opening of the store, with the preset of ``code``."""
        from .. import MarketConfig, hookimpl
        from ..market import Marketplace

        class OnTheStore:
            @hookimpl
            def microkit_open_storage(self, url: str) -> Storage | None:
                return open_storage() if url == "conformance://" else None

        config = MarketConfig.khamsat() if code == "USD" else MarketConfig.microlibya()
        return Marketplace.open("conformance://", config=config, plugins=[OnTheStore()],
                                load_entry_points=False)

    def test_a_market_keeps_its_currency(self, open_storage: StorageFactory) -> None:
        from .._settings import CURRENCY, SETTINGS
        from ..errors import InvalidConfig

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
        from .._settings import CURRENCY, SETTINGS
        from ..errors import InvalidConfig

        with open_storage().write() as tx:  # a market with money in it, currency unrecorded
            tx.add(SERVICES, attrs.evolve(service("sv1"), price=Money.of("10", "LYD")))
        with pytest.raises(InvalidConfig, match="LYD"):
            self._market(open_storage, "USD")
        with open_storage().read() as tx:
            assert tx.get(SETTINGS, CURRENCY) is None  # nothing written by the refused open
        self._market(open_storage, "LYD").close()
        with pytest.raises(InvalidConfig):
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


def attr_without_seq(e: Event) -> tuple[str, str, str, dt.datetime, Any]:
    return (e.name, e.subject, e.actor, e.at, dict(e.data))
