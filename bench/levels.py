"""Benchmark: evaluate 100,000 sellers with 2,000,000 completed orders on SQLite.

Target (issue 4): under 30 s and under 500 MB.

Seeding (not timed) is the documented bulk path: each seller's history
(completed orders with their day, net earnings, buyer, on-time first delivery,
rating; cancellations; buyer messages and answers) is generated and folded
with :func:`microkit.levels.metrics.bump` — the fold the in-transaction
projector applies to each command's events — into ``seller_metrics``
records, written in large transactions. Orders themselves are not stored:
evaluation never reads them (that is the point), only the per-seller
counters and per-day buckets.

The evaluation runs in a child process, so its peak RSS is its own:

    python bench/levels.py                 # 100,000 sellers, 2,000,000 orders
    python bench/levels.py --sellers 10000 --orders 200000 --db /tmp/l.db
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

import microkit as mk
from microkit.levels.metrics import bump, day_of
from microkit.levels.model import SellerMetrics
from microkit.storage.records import SELLER_METRICS

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def seed(url: str, sellers: int, orders: int, seed_: int) -> float:
    """Write the sellers' metrics; returns seconds taken."""
    t0 = time.perf_counter()
    config = mk.MarketConfig.khamsat()
    market = mk.Marketplace.open(url, config=config, load_entry_points=False)
    ladder = config.levels
    rnd = random.Random(seed_)
    # Orders per seller: a long tail (most sell a little, a few sell a lot), summing to `orders`.
    weights = [rnd.paretovariate(1.2) for _ in range(sellers)]
    scale = orders / sum(weights)
    counts = [max(1, int(w * scale)) for w in weights]
    counts[0] += orders - sum(counts)  # exact total
    days = [day_of(NOW - dt.timedelta(days=d)) for d in range(365)]
    batch: list[SellerMetrics] = []

    def flush() -> None:
        with market.storage.write() as tx:
            for m in batch:
                tx.add(SELLER_METRICS, m)
        batch.clear()

    for i, n in enumerate(counts):
        age = rnd.randint(1, 900)
        since = NOW - dt.timedelta(days=age)
        span = min(age, 364)
        buyers = max(1, int(n * rnd.uniform(0.3, 0.9)))
        quality = rnd.random()
        rows: list[tuple[str, str, int]] = []
        last_day: dict[int, str] = {}
        for _ in range(n):
            day = days[rnd.randint(0, span)]
            buyer = rnd.randrange(buyers)
            rows += [(day, "completed", 1), (day, "earnings", rnd.choice((400, 800, 2000))),
                     (day, "first_deliveries", 1),
                     (day, "on_time", int(rnd.random() < 0.85 + 0.15 * quality))]
            prev = last_day.get(buyer)
            if prev is None:
                rows += [(day, "buyers", 1), (day, "buyers_total", 1)]
                last_day[buyer] = day
            elif day > prev:
                rows += [(prev, "buyers", -1), (day, "buyers", 1)]
                last_day[buyer] = day
            if rnd.random() < 0.6:
                rows += [(day, "ratings", 1), (day, "rating_total", 5 if quality > 0.2 else 4)]
            if rnd.random() < 0.5:
                rows += [(day, "waits", 1), (day, "answered", int(rnd.random() < 0.9))]
        if rnd.random() < 0.3:
            rows.append((days[rnd.randint(0, span)], "cancelled", 1))
        metrics = SellerMetrics(f"seller{i:06d}", since, version=0)
        batch.append(bump(metrics, rows, now=NOW, history_days=ladder.history_days))
        if len(batch) >= 5000:
            flush()
    flush()
    market.close()
    return time.perf_counter() - t0


def evaluate(url: str) -> dict[str, object]:
    """Evaluate twice (the second must change nothing); times and peak RSS."""
    market = mk.Marketplace.open(url, config=mk.MarketConfig.khamsat(), load_entry_points=False)
    t0 = time.perf_counter()
    first = market.levels.evaluate(NOW)
    t1 = time.perf_counter()
    second = market.levels.evaluate(NOW)
    t2 = time.perf_counter()
    market.close()
    assert second.changed == 0, second
    return {
        "evaluated": first.evaluated, "promoted": first.promoted,
        "first_s": round(t1 - t0, 2), "second_s": round(t2 - t1, 2),
        "peak_rss_mb": round(peak_rss_kib() / 1024, 1),
    }


def peak_rss_kib() -> int:
    """This process's peak resident set (VmHWM). ``ru_maxrss`` is no good in a child:
    Linux carries the parent's high-water mark across fork and exec."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sellers", type=int, default=100_000)
    ap.add_argument("--orders", type=int, default=2_000_000)
    ap.add_argument("--db", default=None, help="SQLite file (default: a temporary one)")
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--evaluate-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.evaluate_only:
        print(json.dumps(evaluate(f"sqlite:///{args.db}")))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or os.path.join(tmp, "levels.db")
        if os.path.exists(path):
            sys.exit(f"{path} exists; give a new file")
        seconds = seed(f"sqlite:///{path}", args.sellers, args.orders, args.seed)
        print(f"seeded {args.sellers:,} sellers / {args.orders:,} completed orders"
              f" in {seconds:.1f} s ({os.path.getsize(path) / 2**20:.0f} MB)")
        out = subprocess.run(
            [sys.executable, __file__, "--evaluate-only", "--db", path],
            check=True, capture_output=True, text=True,
        ).stdout
        r = json.loads(out)
        print(f"evaluate: {r['evaluated']:,} sellers in {r['first_s']} s"
              f" ({r['promoted']:,} promoted); again: {r['second_s']} s, no change;"
              f" peak RSS {r['peak_rss_mb']} MB")
        ok = r["first_s"] < 30 and r["second_s"] < 30 and r["peak_rss_mb"] < 500
        print("target (< 30 s, < 500 MB):", "met" if ok else "MISSED")
        if not ok:
            sys.exit(1)


if __name__ == "__main__":
    main()
