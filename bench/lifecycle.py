#!/usr/bin/env python3
"""Purchase lifecycles per second through microkit's public API, beside hand-written floors.

One lifecycle = place, pay (sandbox gateway), start, deliver, accept: five
commands, each its own unit of work (on SQLite: its own ``BEGIN IMMEDIATE``
… ``COMMIT`` in WAL mode). In the same process and run, the shared floors
(``../shared/bench/floor_lifecycle.py``) do the same five steps by hand:
raw sqlite3 WAL commit-per-step (with and without secondary indexes),
``:memory:`` sqlite, and plain dicts. Ratios are what to compare; absolute
figures drift with this shared machine (see the CPU reference lines).

Usage::

    python bench/lifecycle.py                 # all, 3 repeats
    python bench/lifecycle.py --repeats 5 --n-sqlite 2000 --n-memory 20000
    python bench/lifecycle.py --peak 100000   # peak memory for 100,000 lifecycles

Peak memory is measured in a child process per backend (``ru_maxrss``), so
one measurement does not inherit the other's heap.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED_BENCH = HERE.parent.parent / "shared" / "bench"
sys.path.insert(0, str(SHARED_BENCH))
sys.path.insert(0, str(HERE.parent / "src"))

import floor_lifecycle as floor  # noqa: E402
from benchutil import cpu_reference  # noqa: E402

import microkit as mk  # noqa: E402
from microkit import Actor, Money  # noqa: E402
from microkit.clock import FrozenClock  # noqa: E402

Inputs = list[tuple[str, str, str, int]]


def setup_market(url: str, inputs: Inputs) -> tuple[mk.Marketplace, dict[str, str]]:
    """A market with every buyer and seller of ``inputs`` registered and one service each."""
    clock = FrozenClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    config = mk.MarketConfig.khamsat().evolve(price_step=None, min_price=Money.of(1, "USD"),
                                              max_price=None)
    market = mk.Marketplace.open(url, config=config, clock=clock, load_entry_points=False)
    staff = Actor.staff("bench")
    market.catalog.add_category("bench", names={"en": "Bench"}, by=staff)
    users = {b for b, *_ in inputs} | {s for _, s, *_ in inputs}
    for user in sorted(users):
        market.users.register(user, display_name=user)
    services: dict[str, str] = {}
    for _, seller, _, _ in inputs:
        if seller not in services:
            svc = market.catalog.create_service(
                by=Actor.user(seller), category="bench", title="خدمة", description="وصف",
                price=Money.of(10, "USD"), delivery_days=2,
            )
            market.catalog.approve(svc.id, by=staff)
            services[seller] = svc.id
    return market, services


def run_microkit_once(url_for: Callable[[], str], n: int, inputs: Inputs) -> float:
    """n lifecycles through the public API on a fresh market; lifecycles/s."""
    market, services = setup_market(url_for(), inputs[:n])
    orders, payments = market.orders, market.payments
    work = [(Actor.user(b), Actor.user(s), services[s]) for b, s, _, _ in inputs[:n]]
    gc.collect()
    t0 = time.perf_counter()
    for i, (buyer, seller, service_id) in enumerate(work):
        order = orders.place(service_id, by=buyer)
        payments.pay(order.id, by=buyer, gateway="sandbox", idempotency_key=f"k{i}")
        orders.start(order.id, by=seller)
        orders.deliver(order.id, by=seller, message="تم")
        orders.accept(order.id, by=buyer)
    elapsed = time.perf_counter() - t0
    report = market.ledger.verify()
    assert report.ok and report.transactions == 2 * n, report
    market.close()
    return n / elapsed


def median_rate(fn: Callable[[], float], repeats: int) -> tuple[float, float]:
    rates = []
    for _ in range(repeats):
        gc.collect()
        rates.append(fn())
    return statistics.median(rates), max(rates)


def peak_child(backend: str, n: int) -> None:
    """Child process: n lifecycles on ``backend``, then print peak RSS in MiB."""
    inputs = floor.make_inputs(n)
    with tempfile.TemporaryDirectory() as tmp:
        url = "memory://" if backend == "memory" else f"sqlite:///{tmp}/peak.db"
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rate = run_microkit_once(lambda: url, n, inputs)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{backend}: {n:,} lifecycles at {rate:,.0f}/s; peak RSS {peak / 1024:,.0f} MiB"
          f" (interpreter and setup before the run: {before / 1024:,.0f} MiB)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n-sqlite", type=int, default=1000, help="lifecycles per SQLite repeat")
    ap.add_argument("--n-memory", type=int, default=10000, help="lifecycles per memory repeat")
    ap.add_argument("--peak", type=int, default=0, help="also measure peak memory for N")
    ap.add_argument("--peak-child", nargs=2, metavar=("BACKEND", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.peak_child:
        peak_child(args.peak_child[0], int(args.peak_child[1]))
        return 0

    n_max = max(args.n_sqlite, args.n_memory)
    inputs = floor.make_inputs(n_max)
    workdir = tempfile.mkdtemp(prefix="mk_bench_")
    counter = iter(range(10**9))

    def sqlite_url() -> str:
        return f"sqlite:///{workdir}/mk{next(counter)}.db"

    print(f"python {sys.version.split()[0]}; cpu reference {cpu_reference():.0f} ns/iter"
          " (lower = faster)")
    rows: list[tuple[str, float, float]] = []

    def measure(label: str, fn: Callable[[], float]) -> float:
        median, best = median_rate(fn, args.repeats)
        rows.append((label, median, best))
        print(f"  {label:<44} {median:>10,.0f} /s   (best {best:,.0f})", flush=True)
        return median

    ns, nm = args.n_sqlite, args.n_memory
    modes = floor.MODES
    mk_sqlite = measure("microkit sqlite (WAL, txn per command)",
                        lambda: run_microkit_once(sqlite_url, ns, inputs))
    fl_sqlite = measure("floor raw sqlite3 WAL, commit per step",
                        lambda: floor.run_sql_once(modes["wal_normal"], ns, workdir, False,
                                                   False, inputs))
    fl_sqlite_ix = measure("floor raw sqlite3 WAL + 5 indexes + txn table",
                           lambda: floor.run_sql_once(modes["wal_normal"], ns, workdir, True,
                                                      True, inputs))
    mk_memory = measure("microkit memory://",
                        lambda: run_microkit_once(lambda: "memory://", nm, inputs))
    fl_mem = measure("floor raw sqlite3 :memory:, commit per step",
                     lambda: floor.run_sql_once(modes["mem_commit"], ns, workdir, False, False,
                                                inputs))
    fl_dict = measure("floor plain dicts (CPU floor)",
                      lambda: floor.run_dict_once(nm, inputs))
    print(f"cpu reference (end) {cpu_reference():.0f} ns/iter\n")
    print(f"microkit sqlite / floor sqlite             = {mk_sqlite / fl_sqlite:.2f}")
    print(f"microkit sqlite / floor sqlite + indexes   = {mk_sqlite / fl_sqlite_ix:.2f}")
    print(f"microkit memory / floor sqlite :memory:    = {mk_memory / fl_mem:.2f}")
    print(f"microkit memory / floor dicts              = {mk_memory / fl_dict:.3f}")
    if args.peak:
        print()
        for backend in ("memory", "sqlite"):
            subprocess.run([sys.executable, __file__, "--peak-child", backend, str(args.peak)],
                           check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
