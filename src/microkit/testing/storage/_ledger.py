"""Conformance tests of the ledger, timers and the event log."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from ...escrow.ledger import LedgerTransaction, Posting, verify
from ...storage.base import Storage, Timer, post_then
from ...storage.records import SERVICES
from ._helpers import LYD, T0, USD, Boom, attr_without_seq, event, service, txn

__all__ = ["LedgerMixin"]


class LedgerMixin:
    """The ledger, timers and events tests of :class:`StorageConformance`."""

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
