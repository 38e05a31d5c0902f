#!/usr/bin/env python3
"""Catalog search on SQLite: index build time and query latency vs catalogue size.

Uses the synthetic Arabic/English catalogue of the shared search floor
(``floor_search.py`` + ``arabic_vocab.py``: tashkeel, tatweel, hamza/ة/ى variants,
clitics) and its 1-2 word queries with a category filter. For each size:

- build: ``market.catalog.import_services`` in chunks (one unit of work each):
  service records, events and the search index; the index-only part is timed too;
- latency: ``market.catalog.search(query, category=..., limit=20)`` (relevance),
  end to end through the public API, p50/p95/p99 over the query set (median of
  repeats); also a second page, ``sort="price"`` and a browse without a query;
- floor: the reference FTS5 ``stem_join`` (bm25, category join) in the same run.

    .venv/bin/python bench/search.py                       # 35k
    .venv/bin/python bench/search.py --sizes 35000,100000,300000,1000000 --no-floor-above 100000

Run from the repository root; the floor is found in /work/shared/bench (or --floor-dir).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import microkit as mk
from microkit import Actor
from microkit.catalog._checks import search_doc
from microkit.catalog.model import ServiceDraft
from microkit.clock import FrozenClock


def pct(xs: list[float], p: float) -> float:
    k = max(0, min(len(xs) - 1, math.ceil(p / 100 * len(xs)) - 1))
    return xs[k]


def timed(fn: Callable[[Any], Any], items: list[Any], repeats: int, warmup: int
          ) -> dict[str, float]:
    for x in items[:warmup]:
        fn(x)
    reps = []
    for _ in range(repeats):
        lat = []
        for x in items:
            t0 = time.perf_counter()
            fn(x)
            lat.append(time.perf_counter() - t0)
        lat.sort()
        reps.append({"p50": pct(lat, 50), "p95": pct(lat, 95), "p99": pct(lat, 99),
                     "mean": statistics.fmean(lat)})
    return {k: statistics.median(r[k] for r in reps) * 1e3 for k in reps[0]}


def build(path: str, n: int, fs: Any, vocab: Any, seed: int, sellers: int) -> tuple[
        mk.Marketplace, dict[str, float]]:
    clock = FrozenClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    market = mk.Marketplace.open(f"sqlite:///{path}", config=mk.MarketConfig.khamsat(),
                                 clock=clock, load_entry_points=False)
    staff = Actor.staff("bench")
    for c in vocab.cats:
        market.catalog.add_category(c["slug"], names={"ar": c["name"], "en": c["slug"]}, by=staff)
    t0 = time.perf_counter()
    for i in range(sellers):
        market.users.register(f"u{i}", display_name=f"seller {i}")
    t_users = time.perf_counter() - t0
    rnd = random.Random(seed + 7)
    slug = {c["id"]: c["slug"] for c in vocab.cats}
    usd = market.config.money
    prices = [usd(str(5 * k)) for k in range(1, 21)]
    t_gen = t_import = 0.0
    t0 = time.perf_counter()
    gen = fs.generate(n, vocab, seed, chunk=20_000)
    while True:
        g0 = time.perf_counter()
        chunk = next(gen, None)
        if chunk is None:
            break
        drafts = [
            ServiceDraft(f"u{rnd.randrange(sellers)}", slug[c], t[:200], s, rnd.choice(prices),
                         rnd.randint(1, 7))
            for _, c, t, s, _ in chunk
        ]
        t_gen += time.perf_counter() - g0
        i0 = time.perf_counter()
        market.catalog.import_services(drafts, by=staff)
        t_import += time.perf_counter() - i0
        clock.advance(seconds=1)
    total = time.perf_counter() - t0
    # The index alone: re-normalize and re-index a sample, extrapolated (same code path).
    sample = market.catalog.services(limit=1000)
    paths = {c["slug"]: (c["slug"],) for c in vocab.cats}
    i0 = time.perf_counter()
    docs = [search_doc(s, paths[s.category]) for s in sample]
    t_norm = (time.perf_counter() - i0) / len(sample) * n
    return market, {"users_s": t_users, "generate_s": t_gen, "import_s": t_import,
                    "total_s": total, "normalize_s_est": t_norm, "n_docs": len(docs)}


def run_size(n: int, args: argparse.Namespace, fs: Any, vocab: Any) -> dict[str, Any]:
    workdir = tempfile.mkdtemp(prefix="mk_search_", dir=args.dir)
    out: dict[str, Any] = {"n": n}
    try:
        path = os.path.join(workdir, "market.db")
        market, b = build(path, n, fs, vocab, args.seed, args.sellers)
        out["build"] = b
        out["db_mb"] = os.path.getsize(path) / 1e6
        print(f"\n== {n:,} services ==")
        print(f"import (records + events + index, {math.ceil(n / 20_000)} units of work):"
              f" {b['import_s']:.2f} s  (+ corpus generation {b['generate_s']:.1f} s,"
              f" {args.sellers} sellers registered in {b['users_s']:.1f} s);"
              f" normalization part ~{b['normalize_s_est']:.2f} s;"
              f" db {out['db_mb']:.0f} MB", flush=True)
        slug = {c["id"]: c["slug"] for c in vocab.cats}
        queries = fs.make_queries(args.queries, vocab, args.seed)
        cat = market.catalog
        items = [(" ".join(q.words), slug[q.cat]) for q in queries]
        typed = [(" ".join(q.typed), slug[q.cat]) for q in queries]
        hits = [len(cat.search(qq, category=c).hits) for qq, c in items[:200]]
        variants: dict[str, Callable[[Any], Any]] = {
            "relevance": lambda x: cat.search(x[0], category=x[1], limit=20),
            "relevance_typed": lambda x: cat.search(x[0], category=x[1], limit=20),
            "relevance_page2": lambda x: cat.search(x[0], category=x[1], limit=20,
                                                   cursor=x[2]),
            "price": lambda x: cat.search(x[0], category=x[1], limit=20, sort="price"),
            "browse_newest": lambda x: cat.search(category=x[1], limit=20, sort="newest"),
        }
        page2 = []
        for qq, c in items:
            nxt = cat.search(qq, category=c).next_cursor
            if nxt:
                page2.append((qq, c, nxt))
        inputs = {"relevance": items, "relevance_typed": typed, "relevance_page2": page2,
                  "price": items[: max(50, len(items) // 5)],
                  "browse_newest": items[: max(50, len(items) // 5)]}
        out["latency_ms"] = {}
        print(f"search latency, ms (median of {args.repeats} repeats; {len(items)} queries,"
              f" avg {statistics.fmean(hits):.1f} hits on page 1):")
        print(f"  {'variant':<16} {'p50':>7} {'p95':>7} {'p99':>7} {'mean':>7}  queries")
        for name, fn in variants.items():
            xs = inputs[name]
            if not xs:
                continue
            m = timed(fn, xs, args.repeats, min(args.warmup, len(xs)))
            out["latency_ms"][name] = m
            print(f"  {name:<16} {m['p50']:>7.2f} {m['p95']:>7.2f} {m['p99']:>7.2f}"
                  f" {m['mean']:>7.2f}  {len(xs)}", flush=True)
        market.close()
        if n <= args.floor_max:
            out["floor"] = run_floor(n, args, fs, vocab, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return out


def run_floor(n: int, args: argparse.Namespace, fs: Any, vocab: Any, workdir: str
              ) -> dict[str, Any]:
    path = os.path.join(workdir, "floor.db")
    t0 = time.perf_counter()
    conn, st, _, _ = fs.build_db(path, n, vocab, args.seed, ["stem"], "full", True, False)
    build_s = time.perf_counter() - t0
    queries = fs.make_queries(args.queries, vocab, args.seed)
    vs = fs.variants_for(["stem"])
    res: dict[str, Any] = {"build_s": build_s, "fts_s": st.fts_s, "normalize_s": st.normalize_s}
    for name in ("stem_join", "stem_unranked"):
        m = fs.time_variant(conn, vs[name], queries, args.repeats, args.warmup)
        res[name] = {k: m[k] * 1e3 for k in ("p50", "p95", "p99", "mean")}
        print(f"  floor {name:<10} {res[name]['p50']:>7.2f} {res[name]['p95']:>7.2f}"
              f" {res[name]['p99']:>7.2f} {res[name]['mean']:>7.2f}  (raw sqlite3)")
    print(f"  floor build {build_s:.1f} s (fts {sum(st.fts_s.values()):.1f} s,"
          f" normalize {st.normalize_s:.1f} s, generate {st.gen_s:.1f} s)")
    conn.close()
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="35000")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--sellers", type=int, default=2000)
    ap.add_argument("--floor-max", type=int, default=100_000,
                    help="run the raw-sqlite3 floor only up to this size")
    ap.add_argument("--floor-dir", default="/work/shared/bench")
    ap.add_argument("--dir", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    sys.path.insert(0, args.floor_dir)
    import sqlite3

    import floor_search as fs  # the shared floor (stdlib only)
    from benchutil import cpu_reference
    print(f"sqlite {sqlite3.sqlite_version}, python {sys.version.split()[0]},"
          f" cpus {os.cpu_count()}; cpu reference {cpu_reference():.1f} ns/iter")
    vocab = fs.build_vocab(args.seed)
    results = [run_size(int(s), args, fs, vocab) for s in args.sizes.split(",")]
    print(f"\ncpu reference (end) {cpu_reference():.1f} ns/iter")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
