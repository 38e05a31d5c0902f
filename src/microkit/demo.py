"""The scripted story behind ``python -m microkit demo``: two markets, every money step shown.

1. A Khamsat-style USD market: the DESIGN.md contract program, step by step
   (a 5 USD service with a 5 USD upgrade, paid through the sandbox gateway,
   started, delivered, revised, delivered again, accepted, cleared 14 days
   later by ``tick``).
2. A MicroLibya-style LYD market in a second SQLite file: a 27.750 LYD
   service, so the 15 % commission (4.1625 LYD) has to be rounded to whole
   dirhams, and a second order the seller never starts: once
   ``seller_start_days`` have passed the buyer cancels it and the money goes
   back to the buyer's site balance.

Each story ends with the buyer's, the seller's and the platform's balances
and the ledger check. :func:`run_demo` is what the CLI calls; tests call it
directly.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Final

import attrs

from .actors import Actor
from .catalog.model import UpgradeSpec
from .clock import FrozenClock
from .config import MarketConfig
from .errors import ValidationError
from .escrow import ledger
from .escrow.ledger import VerifyReport
from .market import Marketplace
from .money import Money

__all__ = ["DEMO_START", "DemoResult", "StoryResult", "run_demo"]

#: Where the demo's frozen clocks start.
DEMO_START: Final = dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC)
#: The two files a demo writes into its directory.
USD_FILE: Final = "demo.db"
LYD_FILE: Final = "demo-lyd.db"

Out = Callable[[str], object]


@attrs.frozen
class StoryResult:
    """How one story ended.

    .. versionadded:: 0.1
    """

    #: The storage URL of the story's market.
    url: str
    #: Final balances of the accounts the story prints, by ledger account name.
    balances: Mapping[str, Money]
    #: The commission and the seller's share of the story's main order.
    commission: Money
    seller_share: Money
    #: The ledger check at the end.
    report: VerifyReport


@attrs.frozen
class DemoResult:
    """Both stories' results.

    .. versionadded:: 0.1
    """

    directory: str
    khamsat: StoryResult
    microlibya: StoryResult

    @property
    def ok(self) -> bool:
        """Both ledgers verified."""
        return self.khamsat.report.ok and self.microlibya.report.ok


class _Story:
    """Prints the story's lines with the market clock's time in front."""

    def __init__(self, clock: FrozenClock, out: Out) -> None:
        self.clock = clock
        self.out = out

    def step(self, text: str) -> None:
        self.out(f"   [{self.clock.now():%Y-%m-%d %H:%M}] {text}")

    def note(self, text: str) -> None:
        self.out(f"                      {text}")


def _percent(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f} %"


def _balances(market: Marketplace, out: Out, people: Mapping[str, str],
              extra: Mapping[str, str]) -> dict[str, Money]:
    """Print and return the final balances: users by role, then named accounts."""
    found: dict[str, Money] = {}
    out("   final balances:")
    for role, user_id in people.items():
        balance = market.ledger.balance(user_id)
        found[ledger.user_available(user_id)] = balance.available
        found[ledger.user_pending(user_id)] = balance.pending
        out(f"     {role:<9}{user_id:<7} available {balance.available}"
            f"   pending {balance.pending}")
    for role, account in extra.items():
        money = market.ledger.account_balance(account)
        found[account] = money
        out(f"     {role:<9}{account} {money}")
    return found


def _verify(market: Marketplace, out: Out) -> VerifyReport:
    from .cli import format_report

    report = market.ledger.verify()
    out("   " + format_report(report).replace("\n", "\n   "))
    return report


def _check_fresh(directory: str) -> None:
    for name in (USD_FILE, LYD_FILE):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            raise ValidationError(
                f"directory: expected no {name} in {directory!r} (the demo starts from"
                f" fresh files), found {path}",
                field="directory",
                value=directory,
            )


def khamsat_story(url: str, out: Out = print) -> StoryResult:
    """The DESIGN.md contract program in a Khamsat-style USD market, narrated."""
    config = MarketConfig.khamsat()
    clock = FrozenClock(DEMO_START)
    say = _Story(clock, out)
    out(f"1. Khamsat-style market: {config.currency.code}, from {config.min_price} in steps of"
        f" {config.price_step}, {_percent(config.commission_rate)} commission from the seller,"
        f" refunds to the site balance")
    out(f"   storage: {url}")
    with Marketplace.open(url, config=config, clock=clock, load_entry_points=False) as market:
        staff, amal, omar = Actor.staff("ops"), Actor.user("amal"), Actor.user("omar")
        market.users.register("amal", display_name="أمل")
        market.users.register("omar", display_name="Omar")
        say.step("users registered: amal «أمل» (buyer), omar «Omar» (seller)")

        market.catalog.add_category("design", names={"ar": "تصميم", "en": "Design"}, by=staff)
        svc = market.catalog.create_service(
            by=omar, category="design", title="تصميم شعار احترافي",
            description="شعار بثلاثة مقترحات", price=Money.of("5", "USD"), delivery_days=2,
            upgrades=[UpgradeSpec(title="تسليم سريع", price=Money.of("5", "USD"),
                                  extra_days=-1)],
        )
        say.step(f"omar lists «{svc.title}» at {svc.price}, {svc.delivery_days} days;"
                 f" upgrade «{svc.upgrades[0].title}» +{svc.upgrades[0].price}, one day faster"
                 f" → {svc.state}")
        market.catalog.approve(svc.id, by=staff)
        say.step("staff:ops approves the service → approved (it can be bought now)")

        order = market.orders.place(svc.id, by=amal, upgrades=[svc.upgrades[0].id])
        say.step(f"amal orders it with the upgrade: total {order.total}, {order.delivery_days}"
                 f" day(s) → {order.state}")
        say.note(f"split fixed at order time: seller {order.seller_share} + commission"
                 f" {order.commission} ({_percent(config.commission_rate)} of {order.subtotal})")

        market.payments.pay(order.id, by=amal, gateway="sandbox", idempotency_key="pay-1")
        escrow = market.ledger.account_balance(ledger.escrow(order.id))
        say.step(f"amal pays {order.total} through the sandbox gateway → paid;"
                 f" escrow:order:… holds {escrow}")
        market.payments.pay(order.id, by=amal, gateway="sandbox", idempotency_key="pay-1")
        say.note("the same idempotency key again: the first payment is returned,"
                 " nothing is charged twice")

        started = market.orders.start(order.id, by=omar)
        due = f"{started.due_at:%Y-%m-%d %H:%M}" if started.due_at else "?"
        say.step(f"omar starts → {started.state}, due {due}")
        market.orders.deliver(order.id, by=omar, message="التصميم جاهز",
                              attachments=["logo-v1.png"])
        say.step("omar delivers «التصميم جاهز» with logo-v1.png → delivered")
        revised = market.orders.request_revision(order.id, by=amal, reason="لون أغمق")
        say.step(f"amal asks for a revision «لون أغمق» → {revised.state}"
                 f" (revision {revised.revisions})")
        market.orders.deliver(order.id, by=omar, message="النسخة الثانية",
                              attachments=["logo-v2.png"])
        say.step("omar delivers «النسخة الثانية» with logo-v2.png → delivered")
        done = market.orders.accept(order.id, by=amal)
        say.step(f"amal accepts → {done.state}: omar pending"
                 f" {market.ledger.balance('omar').pending}, platform:commission"
                 f" {market.ledger.account_balance(ledger.PLATFORM_COMMISSION)}")

        clock.advance(days=14)
        summary = market.tick()
        ran = ", ".join(f"{k} ×{v}" for k, v in sorted(summary.ran.items()))
        say.step(f"14 days later (clearance_days), tick: {ran}; {summary.dropped} stale"
                 f" timer(s) dropped → omar available {market.ledger.balance('omar').available}")
        history = [e.name for e in market.orders.history(order.id)]
        out(f"   order events: {' → '.join(history)}")

        balances = _balances(
            market, out, {"buyer": "amal", "seller": "omar"},
            {"platform": ledger.PLATFORM_COMMISSION, "outside": ledger.gateway("sandbox")},
        )
        report = _verify(market, out)
    return StoryResult(url, balances, order.commission, order.seller_share, report)


def microlibya_story(url: str, out: Out = print) -> StoryResult:
    """A MicroLibya-style LYD purchase with dirhams, and a refund to the site balance."""
    config = MarketConfig.microlibya()
    clock = FrozenClock(DEMO_START)
    say = _Story(clock, out)
    rate = config.commission_rate
    out(f"2. MicroLibya-style market: {config.currency.code} ({config.currency.exponent}"
        f" decimals: 1 dinar = 1000 dirhams), from {config.min_price},"
        f" {_percent(rate)} commission from the seller only")
    out(f"   storage: {url}")
    with Marketplace.open(url, config=config, clock=clock, load_entry_points=False) as market:
        staff, huda, salem = Actor.staff("ops"), Actor.user("huda"), Actor.user("salem")
        market.users.register("huda", display_name="هدى")
        market.users.register("salem", display_name="سالم")
        say.step("users registered: huda «هدى» (buyer), salem «سالم» (seller)")
        market.catalog.add_category("translation", names={"ar": "ترجمة", "en": "Translation"},
                                    by=staff)
        svc = market.catalog.create_service(
            by=salem, category="translation", title="ترجمة صفحة من الإنجليزية إلى العربية",
            description="ترجمة دقيقة لصفحة واحدة (250 كلمة)", price=Money.of("27.750", "LYD"),
            delivery_days=3,
        )
        market.catalog.approve(svc.id, by=staff)
        say.step(f"salem lists «{svc.title}» at {svc.price}; staff:ops approves it")

        order = market.orders.place(svc.id, by=huda)
        exact = (order.subtotal.decimal * rate).normalize()
        say.step(f"huda orders it: total {order.total} → {order.state}")
        say.note(f"commission {_percent(rate)} of {order.subtotal} = {exact:f} LYD, rounded"
                 f" {config.commission_rounding} to whole dirhams → {order.commission}")
        say.note(f"seller's share = {order.subtotal} − {order.commission} ="
                 f" {order.seller_share} (by subtraction: no dirham created or lost)")

        market.payments.pay(order.id, by=huda, gateway="sandbox", idempotency_key="ly-1")
        say.step(f"huda pays {order.total} through the sandbox gateway → paid; salem is"
                 " notified (order.paid)")
        market.orders.start(order.id, by=salem)
        market.orders.deliver(order.id, by=salem, message="الترجمة مرفقة",
                              attachments=["page-ar.docx"])
        say.step("salem starts, then delivers «الترجمة مرفقة» with page-ar.docx → delivered")
        market.orders.accept(order.id, by=huda)
        say.step(f"huda accepts → completed: salem pending"
                 f" {market.ledger.balance('salem').pending}, platform:commission"
                 f" {market.ledger.account_balance(ledger.PLATFORM_COMMISSION)}")

        second = market.orders.place(svc.id, by=huda)
        market.payments.pay(second.id, by=huda, gateway="sandbox", idempotency_key="ly-2")
        say.step(f"huda orders the service again and pays {second.total}; salem does not"
                 " start it")
        clock.advance(days=config.seller_start_days, hours=1)
        market.orders.cancel(second.id, by=huda, reason="لم يبدأ البائع العمل")
        say.step(f"more than seller_start_days ({config.seller_start_days}) later huda cancels"
                 f" → cancelled; {second.total} refunded to her site balance (available"
                 f" {market.ledger.balance('huda').available})")

        clock.set(DEMO_START + dt.timedelta(days=config.clearance_days))
        summary = market.tick()
        ran = ", ".join(f"{k} ×{v}" for k, v in sorted(summary.ran.items()))
        say.step(f"{config.clearance_days} days after completion (clearance_days), tick: {ran};"
                 f" {summary.dropped} stale timer(s) dropped → salem available"
                 f" {market.ledger.balance('salem').available}")

        balances = _balances(
            market, out, {"buyer": "huda", "seller": "salem"},
            {"platform": ledger.PLATFORM_COMMISSION, "outside": ledger.gateway("sandbox")},
        )
        report = _verify(market, out)
    return StoryResult(url, balances, order.commission, order.seller_share, report)


def run_demo(directory: str | os.PathLike[str], out: Out = print) -> DemoResult:
    """Run both stories on fresh SQLite files in ``directory`` and print every step.

    Args:
        directory: an existing folder; ``demo.db`` (USD) and ``demo-lyd.db``
            (LYD) are created in it and left there.
        out: called with each line of the story (``print`` by default).

    Returns:
        Both stories' final balances, splits and ledger reports.

    Raises:
        ValidationError: ``demo.db`` or ``demo-lyd.db`` exists in ``directory`` already.
        MicrokitError: any step failed (a bug: the story is fixed).

    .. versionadded:: 0.1
    """
    folder = os.path.abspath(os.fspath(directory))
    _check_fresh(folder)
    out(f"microkit demo: two markets, a frozen clock from {DEMO_START:%Y-%m-%d %H:%M} UTC,"
        f" files in {folder}")
    out("")
    usd = khamsat_story(f"sqlite:///{os.path.join(folder, USD_FILE)}", out)
    out("")
    lyd = microlibya_story(f"sqlite:///{os.path.join(folder, LYD_FILE)}", out)
    out("")
    result = DemoResult(folder, usd, lyd)
    out("both ledgers verified: ok" if result.ok else "ledger problems found: see above")
    return result
