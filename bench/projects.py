#!/usr/bin/env python3
"""Project browsing on SQLite: 100,000 open projects, filters, sorts, text; p95 < 10 ms.

Seeds ``--size`` open projects (40 categories in a two-level tree, 1-4 skills of 60,
Arabic titles and descriptions with article/clitic variants, budgets 5..1000 USD)
straight through storage in large transactions (posting 100,000 projects one
command at a time only measures the seeding), then times ``market.projects.browse``
end to end through the public API, per query shape, over ``--queries`` random
variations (median of ``--repeats`` runs):

    .venv/bin/python bench/projects.py                    # 100k
    .venv/bin/python bench/projects.py --size 300000 --json out.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import microkit as mk
from microkit import Actor
from microkit.catalog._checks import Seen
from microkit.clock import FrozenClock
from microkit.projects.model import Project
from microkit.projects.search import doc_for
from microkit.storage.records import PROJECTS

_VOCAB = ("تصميم شعار موقع متجر تطبيق جوال ترجمة مقال كتابة محتوى تسويق إعلان فيديو مونتاج"
          " صوت تعليق برمجة قاعدة بيانات هوية بصرية عرض تقديمي سيرة ذاتية بحث علمي تدقيق"
          " لغوي صفحة هبوط متجر إلكتروني ووردبريس بايثون جافاسكربت تحليل بيانات")
WORDS = _VOCAB.split()
ARTICLES = ("", "ال", "وال", "بال", "")
SKILLS = [f"skill-{i}" for i in range(50)] + ["Photoshop", "Illustrator", "Python", "Django",
                                               "React", "SEO", "ووردبريس", "ترجمة", "مونتاج",
                                               "تعليق صوتي"]


def pct(xs: list[float], p: float) -> float:
    return xs[max(0, min(len(xs) - 1, math.ceil(p / 100 * len(xs)) - 1))]


def seed(market: mk.Marketplace, n: int, rnd: random.Random) -> list[str]:
    staff = Actor.staff("bench")
    cats: list[str] = []
    for i in range(10):
        market.catalog.add_category(f"c{i}", names={"ar": f"فئة {i}", "en": f"Cat {i}"},
                                    by=staff)
        cats.append(f"c{i}")
        for j in range(3):
            market.catalog.add_category(f"c{i}-{j}", names={"ar": f"فئة {i}-{j}",
                                                              "en": f"Cat {i}-{j}"},
                                        parent=f"c{i}", by=staff)
            cats.append(f"c{i}-{j}")
    for b in range(200):
        market.users.register(f"buyer{b}", display_name=f"buyer {b}")
    usd = market.config.money
    start = market.clock.now()
    seen = Seen()
    done = 0
    while done < n:
        with market.storage.write() as tx:
            docs = []
            for _ in range(min(5000, n - done)):
                words = [rnd.choice(ARTICLES) + rnd.choice(WORDS) for _ in range(rnd.randint(3, 6))]
                low = 5 * rnd.randint(1, 100)
                high = min(1000, low + 5 * rnd.randint(0, 60))
                cat = rnd.choice(cats)
                p = Project(
                    id=f"p_{done:09d}", buyer_id=f"buyer{rnd.randrange(200)}",
                    title=" ".join(words),
                    description=" ".join(rnd.choice(WORDS) for _ in range(25)),
                    category=cat, budget_min=usd(low), budget_max=usd(high),
                    duration_days=rnd.randint(1, 60),
                    skills=tuple(sorted({s.casefold() for s in rnd.sample(SKILLS,
                                                                         rnd.randint(1, 4))})),
                    state="open", created_at=start + dt.timedelta(seconds=done),
                    updated_at=start, live_bids=rnd.randint(0, 30),
                )
                tx.add(PROJECTS, p)
                docs.append(doc_for(p, seen.path(tx, cat)))
                done += 1
            tx.index_projects(docs)
    return cats


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--json", help="write the results here too")
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    tmp = tempfile.mkdtemp(prefix="mk-projects-")
    path = os.path.join(tmp, "projects.db")
    clock = FrozenClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    market = mk.Marketplace.open(f"sqlite:///{path}", config=mk.MarketConfig.khamsat(),
                                 clock=clock, load_entry_points=False)
    t0 = time.perf_counter()
    cats = seed(market, args.size, rnd)
    seed_s = time.perf_counter() - t0
    usd = market.config.money
    browse = market.projects.browse
    page2: dict[int, str | None] = {}

    def second_page(i: int) -> Any:
        cursor = page2.get(i)
        if cursor is None:
            cursor = page2[i] = browse(category=cats[i % len(cats)]).next_cursor
        return browse(category=cats[i % len(cats)], cursor=cursor)

    shapes: dict[str, Callable[[int], Any]] = {
        "newest": lambda i: browse(),
        "category (with subcategories)": lambda i: browse(category=cats[(i * 4) % len(cats)]),
        "leaf category": lambda i: browse(category=cats[i % len(cats)]),
        "category + budget range": lambda i: browse(
            category=cats[i % len(cats)], min_budget=usd(5 * (1 + i % 50)),
            max_budget=usd(5 * (60 + i % 100))),
        "skill": lambda i: browse(skills=[SKILLS[i % len(SKILLS)]]),
        "skills + category": lambda i: browse(skills=[SKILLS[i % len(SKILLS)],
                                                      SKILLS[(i * 7) % len(SKILLS)]],
                                              category=cats[(i * 4) % len(cats)]),
        "text": lambda i: browse(query=WORDS[i % len(WORDS)]),
        "text (2 words) + category": lambda i: browse(
            query=f"ال{WORDS[i % len(WORDS)]} {WORDS[(i * 3) % len(WORDS)]}",
            category=cats[(i * 4) % len(cats)]),
        "budget_high + category": lambda i: browse(sort="budget_high",
                                                   category=cats[i % len(cats)]),
        "budget_low + max duration": lambda i: browse(sort="budget_low",
                                                      max_duration_days=1 + i % 30),
        "fewest_bids + skill": lambda i: browse(sort="fewest_bids",
                                                skills=[SKILLS[i % len(SKILLS)]]),
        "second page (category)": second_page,
    }
    results: dict[str, dict[str, float]] = {}
    for name, fn in shapes.items():
        for i in range(10):
            fn(i)
        reps = []
        for _ in range(args.repeats):
            lat = []
            for i in range(args.queries):
                t = time.perf_counter()
                fn(i)
                lat.append(time.perf_counter() - t)
            lat.sort()
            reps.append({"p50": pct(lat, 50), "p95": pct(lat, 95), "p99": pct(lat, 99)})
        results[name] = {k: statistics.median(r[k] for r in reps) * 1e3 for k in reps[0]}
    worst = max(r["p95"] for r in results.values())
    print(f"projects: {args.size:,} open on SQLite; seeded in {seed_s:.1f} s"
          f" ({os.path.getsize(path) / 1e6:.0f} MB)")
    print(f"{'query shape':34} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for name, r in results.items():
        print(f"{name:34} {r['p50']:8.2f} {r['p95']:8.2f} {r['p99']:8.2f}")
    print(f"worst p95: {worst:.2f} ms (target < 10 ms): {'OK' if worst < 10 else 'MISSED'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"size": args.size, "seed_seconds": seed_s, "results": results}, f,
                      indent=2)
    market.close()
    return 0 if worst < 10 else 1


if __name__ == "__main__":
    sys.exit(main())
