"""Conformance tests of records: add, get, compare-and-set save, prefetch, find, rollback."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from ...catalog.model import Category
from ...errors import ConcurrentUpdate, Conflict
from ...storage.base import KeyFrom, Storage, Timer, prefetch
from ...storage.records import CATEGORIES, SERVICES, USERS
from ...users import User
from ._helpers import T0, Boom, StorageFactory, event, service, txn

__all__ = ["RecordsMixin"]


class RecordsMixin:
    """The basics, records, find and rollback tests of :class:`StorageConformance`."""

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

    def test_adding_an_identical_record_again_is_a_conflict_not_a_race(
        self, storage: Storage
    ) -> None:
        # A stored row equal to the one added proves nothing about a concurrent change:
        # it is a duplicate (Conflict), which a retry would only repeat.
        with storage.write() as tx:
            tx.add(SERVICES, service("sv1"))
        with pytest.raises(Conflict) as err, storage.write() as tx:
            tx.add(SERVICES, service("sv1"))
        assert not isinstance(err.value, ConcurrentUpdate)

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
