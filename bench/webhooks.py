#!/usr/bin/env python3
"""Webhooks applied per second through ``market.payments.handle_webhook`` on SQLite.

Setup (not timed): N orders paid through a sandbox gateway whose charges
answer ``pending``. Timed: 1.25 N signed ``charge.succeeded`` deliveries in a
shuffled order -- N first deliveries plus 0.25 N duplicates (20 % of all
deliveries), as processors retry. Each delivery verifies the HMAC signature
on the raw body, looks up its dedupe record and, the first time, funds the
order's escrow and marks it paid in one unit of work (SQLite: its own
``BEGIN IMMEDIATE`` … ``COMMIT`` in WAL mode). Duplicates are also a unit of
work (one read). Run beside ``bench/lifecycle.py``; the figure is
deliveries per second (duplicates included). Memory figures for reference.

Usage::

    python bench/webhooks.py                # 8,000 orders → 10,000 deliveries
    python bench/webhooks.py --orders 2000 --repeats 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import microkit as mk
from microkit import Actor, Money
from microkit.clock import FrozenClock
from microkit.payments.builtin import SandboxGateway


def prepare(url: str, n: int) -> tuple[mk.Marketplace, list[tuple[dict[str, str], bytes]]]:
    clock = FrozenClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    config = mk.MarketConfig.khamsat()
    market = mk.Marketplace.open(url, config=config, clock=clock, load_entry_points=False)
    staff, seller = Actor.staff("bench"), Actor.user("seller")
    market.users.register("seller", display_name="Seller")
    market.catalog.add_category("bench", names={"en": "Bench"}, by=staff)
    svc = market.catalog.create_service(by=seller, category="bench", title="خدمة",
                                        description="وصف", price=Money.of(10, "USD"),
                                        delivery_days=2)
    market.catalog.approve(svc.id, by=staff)
    gw = market.payments.gateway("sandbox")
    assert isinstance(gw, SandboxGateway)
    gw.outcome = "pending"
    buyers = [f"b{i}" for i in range(max(1, n // 20))]
    for b in buyers:
        market.users.register(b, display_name=b)
    deliveries = []
    for i in range(n):
        buyer = Actor.user(buyers[i % len(buyers)])
        order = market.orders.place(svc.id, by=buyer)
        payment = market.payments.pay(order.id, by=buyer, gateway="sandbox",
                                      idempotency_key=f"k{i}")
        assert payment.reference is not None
        deliveries.append(gw.webhook(payment.reference, event_id=f"ev{i}"))
    rng = random.Random(7)
    stream = deliveries + [rng.choice(deliveries) for _ in range(n // 4)]
    rng.shuffle(stream)
    return market, stream


def run_once(url: str, n: int) -> tuple[float, int]:
    market, stream = prepare(url, n)
    handle = market.payments.handle_webhook
    gc.collect()
    t0 = time.perf_counter()
    outcomes: dict[str, int] = {}
    for headers, body in stream:
        out = handle("sandbox", headers, body).outcome
        outcomes[out] = outcomes.get(out, 0) + 1
    elapsed = time.perf_counter() - t0
    assert outcomes.get("applied") == n, outcomes
    assert outcomes.get("duplicate") == len(stream) - n, outcomes
    assert market.ledger.verify().ok
    market.close()
    return len(stream) / elapsed, len(stream)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, default=8000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    print(f"python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, url_for in (
            ("microkit sqlite (WAL, txn per delivery)",
             lambda i: f"sqlite:///{tmp}/wh{i}.db"),
            ("microkit memory://", lambda i: "memory://"),
        ):
            rates = []
            total = 0
            for i in range(args.repeats):
                rate, total = run_once(url_for(i), args.orders)
                rates.append(rate)
            print(f"  {label:<42} {statistics.median(rates):>9,.0f} webhooks/s"
                  f"  (best {max(rates):,.0f}; {total:,} deliveries, 20 % duplicates)",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
