"""The Marketplace facade: opens storage, loads plugins, wires the sub-facades."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from typing import Final, Self, cast, final

import attrs
import pluggy

from . import _builtins
from ._checks import aware_time, whole_number
from ._core import Core, Unit
from ._settings import check_currency
from .actors import Actor
from .catalog.facade import CatalogFacade
from .clock import Clock, SystemClock
from .config import MarketConfig
from .errors import MicrokitError, PermissionDenied, PluginError, StorageError, ValidationError
from .escrow.facade import LedgerFacade
from .escrow.payouts import PayoutsFacade
from .events import Event
from .hooks import BUILTIN_PREFIX, call_plugin, collect_named, make_plugin_manager, plugin_label
from .levels.facade import LevelsFacade
from .levels.model import EvaluationSummary
from .levels.projector import ORDER_READS, make_projector
from .messaging.facade import MessagesFacade
from .orders.cart import CartFacade
from .orders.facade import OrdersFacade
from .payments.builtin import BALANCE
from .payments.facade import PaymentsFacade
from .payments.gateway import Gateway
from .payments.payout_method import PayoutMethod
from .projects.facade import ProjectsFacade
from .projects.offers import OffersFacade
from .projects.requests import RequestsFacade
from .reviews.facade import ReviewsFacade
from .storage.base import Storage, Timer, Tx
from .storage.records import ORDERS, USERS
from .users import User

__all__ = ["EventsFacade", "Marketplace", "TickSummary", "UsersFacade"]

log = logging.getLogger(__name__)

#: Built-in plugins, registered through the same hooks as third-party ones.
BUILTIN_PLUGINS: tuple[object, ...] = (_builtins,)


@attrs.frozen
class TickSummary:
    """What one :meth:`Marketplace.tick` did.

    .. versionadded:: 0.1
    """

    #: The time the tick ran for.
    now: dt.datetime
    #: Timers run, by what they did (``"auto_complete"``, ``"clear"``, ``"expire"``, …).
    ran: Mapping[str, int]
    #: Timers dropped because their subject moved on first.
    dropped: int
    #: The seller-level evaluation, when it was due (``config.levels.evaluate_every_days``).
    levels: EvaluationSummary | None = None
    #: Timers that raised (logged to ``microkit.market``); they stay due for the next tick.
    #:
    #: .. versionadded:: 0.3
    failed: int = 0

    @property
    def total(self) -> int:
        return sum(self.ran.values())


class UsersFacade:
    """Users. Reached as ``market.users``.

    .. versionadded:: 0.1
    """

    def __init__(self, core: Core) -> None:
        self._core = core

    def register(self, user_id: str, *, display_name: str) -> User:
        """Make the application's user known to microkit (buyers and sellers both).

        Raises:
            ValidationError: empty or over-long id or name.
            Conflict: the id is registered already.
        """
        try:
            Actor.user(user_id)  # the same id rules as everywhere else
        except ValidationError as error:
            raise ValidationError(
                f"user_id: expected a non-blank string of at most 200 characters, got"
                f" {user_id!r:.80}", field="user_id", value=user_id) from error
        if not isinstance(display_name, str) or not display_name.strip() or len(display_name) > 100:
            raise ValidationError(
                f"display_name: expected 1..100 characters, got {display_name!r}",
                field="display_name",
                value=display_name,
            )

        def command(u: Unit) -> User:
            user = User(user_id, display_name.strip(), u.now)
            u.tx.add(USERS, user)
            u.emit("user.registered", f"user:{user_id}", f"user:{user_id}",
                   {"user_id": user_id})
            return user

        return self._core.run(command)

    def get(self, user_id: str) -> User:
        """A user by id. Raises NotFound."""
        return self._core.get(USERS, user_id, "user")


class EventsFacade:
    """The event log: audit trail and durable outbox. Reached as ``market.events``.

    .. versionadded:: 0.1
    """

    def __init__(self, core: Core) -> None:
        self._core = core

    def read(self, *, after: int = 0, limit: int = 100, subject: str | None = None) -> list[Event]:
        """Events with ``seq > after``, oldest first; page on with the last ``seq`` seen."""
        if type(after) is not int or after < 0:
            raise ValidationError(f"after: expected an int >= 0, got {after!r}", field="after",
                                  value=after)
        if type(limit) is not int or not 1 <= limit <= 10_000:
            raise ValidationError(f"limit: expected 1..10000, got {limit!r}", field="limit",
                                  value=limit)
        return self._core.query(lambda tx: tx.events(after, limit, subject))


#: What an object must have to be taken as a :class:`Storage`.
_STORAGE_METHODS: Final = ("write", "read", "schema_version", "close")


def _check_protocol(items: Iterable[Gateway] | Iterable[PayoutMethod], protocol: type,
                    kind: str) -> None:
    """Each of ``items`` implements ``protocol``, with ``currencies`` a set of codes.

    Raises:
        PluginError: a missing method, or currencies that are not a set (a str such as
            ``"USD"`` would be read letter by letter).
    """
    for item in items:
        if not isinstance(item, protocol):
            raise PluginError(f"{kind} {item.name!r} does not implement the"
                              f" {protocol.__name__} protocol")
        codes: object = item.currencies
        if not isinstance(codes, AbstractSet) or not all(isinstance(c, str) for c in codes):
            raise PluginError(f"{kind} {item.name!r}: currencies: expected a set of ISO 4217"
                              f" codes (empty: any), got {codes!r:.80}")


def _open_storage(pm: pluggy.PluginManager, url: str) -> Storage:
    """The storage ``microkit_open_storage`` answers for ``url``, checked."""
    hook = pm.hook.microkit_open_storage

    def implemented_by() -> str:
        names = [repr(plugin_label(pm, impl.plugin)) for impl in hook.get_hookimpls()
                 if not impl.plugin_name.startswith(BUILTIN_PREFIX)]
        return f"plugins implementing it: {', '.join(names) or 'none but the built-ins'}"

    storage: object = call_plugin(
        "microkit_open_storage", lambda: hook(url=url),
        hint=f"{implemented_by()}; a backend that cannot reach its database raises"
             " StorageError")
    if storage is None:
        raise ValidationError(
            f"url: no storage backend for {url!r} (built in: memory://, sqlite:///path;"
            " postgresql:// with microkit[postgres])",
            field="url",
            value=url,
        )
    missing = [m for m in _STORAGE_METHODS if not callable(getattr(storage, m, None))]
    if missing or not isinstance(getattr(storage, "url", None), str):
        lacks = ", ".join(missing) if missing else "a str url"
        raise PluginError(
            f"microkit_open_storage: expected a Storage for the {url.partition(':')[0]}://"
            f" URL, got {type(storage).__qualname__} {storage!r:.80}, which lacks {lacks}"
            f" ({implemented_by()})")
    return cast(Storage, storage)


@final
class Marketplace:
    """One marketplace: its storage, rules, clock and plugins, and the facades over them.

    Open with :meth:`open`. Every command takes ``by=`` an :class:`Actor`
    and returns frozen snapshots.

    .. versionadded:: 0.1
    """

    def __init__(
        self, core: Core, payout_methods: Mapping[str, PayoutMethod] | None = None
    ) -> None:
        self._core = core
        core.market = self
        self.users = UsersFacade(core)
        self.catalog = CatalogFacade(core)
        self.orders = OrdersFacade(core)
        self.projects = ProjectsFacade(core, self.orders)
        self.offers = OffersFacade(core, self.orders)
        self.requests = RequestsFacade(core, self.offers)
        self.payments = PaymentsFacade(core)
        self.payouts = PayoutsFacade(core, payout_methods or {})
        self.ledger = LedgerFacade(core)
        self.events = EventsFacade(core)
        self.cart = CartFacade(core)
        self.messages = MessagesFacade(core)
        self.reviews = ReviewsFacade(core)
        self.levels = LevelsFacade(core)
        core.projectors.append(make_projector(core))
        core.read_with.setdefault(ORDERS.table, []).extend(ORDER_READS)

    @classmethod
    def open(
        cls,
        url: str,
        *,
        config: MarketConfig,
        plugins: Iterable[object] = (),
        clock: Clock | None = None,
        load_entry_points: bool = True,
    ) -> Self:
        """Open (creating or migrating) a market's storage and load its plugins.

        Args:
            url: ``"memory://"``, ``"sqlite:///market.db"``, or any scheme a
                ``microkit_open_storage`` plugin answers (``"postgresql://…"``).
            config: the market's rules, e.g. ``MarketConfig.khamsat()``.
            plugins: plugin objects or modules with ``@microkit.hookimpl`` functions.
            clock: where time comes from; the system clock by default.
            load_entry_points: load plugins from the ``microkit`` entry-point group.

        Raises:
            ValidationError: ``config`` is not a MarketConfig; no backend for the URL.
            InvalidConfig: the storage holds a market in another currency than
                ``config.currency`` (field ``currency``). A market records its
                currency the first time it is opened.
            PluginError: a plugin broke the hook contract: a hook raised, a
                storage plugin answered with something that is not a Storage, a
                gateway or payout method is malformed or its name taken, an entry
                point does not load.
            StorageError: the backend could not open.

        .. versionchanged:: 0.3
           The market's currency is recorded, and checked on every later open.
        """
        if not isinstance(config, MarketConfig):
            raise ValidationError(f"config: expected MarketConfig, got {config!r}",
                                  field="config", value=config)
        clock = clock or SystemClock()
        pm = make_plugin_manager(plugins, load_entry_points=load_entry_points,
                                 builtins=BUILTIN_PLUGINS)
        storage = _open_storage(pm, url)
        try:
            gateways: dict[str, Gateway] = collect_named(
                pm, "microkit_payment_gateways", "gateway", config=config, clock=clock,
                reserved={BALANCE: "payments through it come from the buyer's site balance"},
            )
            _check_protocol(gateways.values(), Gateway, "gateway")
            methods: dict[str, PayoutMethod] = collect_named(
                pm, "microkit_payout_methods", "payout method", config=config, clock=clock,
            )
            _check_protocol(methods.values(), PayoutMethod, "payout method")
            check_currency(storage, config.currency, clock.now())
            return cls(Core(storage=storage, config=config, clock=clock, pm=pm,
                            gateways=gateways), methods)
        except BaseException:
            with contextlib.suppress(Exception):  # the error that stopped the open matters
                storage.close()  # the market does not open: release what was opened for it
            raise

    @property
    def config(self) -> MarketConfig:
        """The market's rules."""
        return self._core.config

    @property
    def clock(self) -> Clock:
        return self._core.clock

    @property
    def storage(self) -> Storage:
        return self._core.storage

    def tick(
        self, now: dt.datetime | None = None, *, batch: int = 500, chunk: int = 100
    ) -> TickSummary:
        """Run every time-based transition that is due: auto-complete, payment expiry,
        clearance, offer expiry, payout and refund retries, level evaluation. Call it
        from a scheduler (every minute is plenty). Safe to run from several processes
        at once: each timer is claimed by deleting it in the unit of work that runs it.

        Timers that only touch microkit's own records run ``chunk`` to a unit of work
        (one commit for many); if a chunk fails it is rolled back and re-run one timer
        per unit, so each timer still applies fully or not at all. Timers that call a
        plugin (gateway refunds, payouts, charge expiry) run one by one. A timer that
        still raises a microkit error is logged, counted in ``failed`` and left due, and
        the others run: one broken timer must not stop every other clock in the market.
        A :class:`~microkit.errors.StorageError` (the database is gone) is raised.
        """
        if now is not None:
            aware_time("now", now)
        whole_number("batch", batch, low=1, high=10_000)
        whole_number("chunk", chunk, low=1, high=10_000)
        when = (now or self._core.clock.now()).astimezone(dt.UTC)
        ran: Counter[str] = Counter()
        dropped = 0
        failed: set[str] = set()  # ids of timers that raised in this tick
        orders, offers = self.orders, self.offers

        def run_one(u: Unit, timer: Timer) -> str | None:
            if not u.tx.delete_timer(timer):
                return None  # another tick took it
            if timer.subject.startswith("offer:"):
                return offers.run_timer(u, timer)
            return orders.run_timer(u, timer)

        def one(timer: Timer) -> str | None:
            return self._core.run(lambda u: run_one(u, timer), now=when)

        def plugin_timer(timer: Timer) -> str | None:
            # Payment, refund and payout timers call plugins after their commit.
            facade = self.payouts if timer.subject.startswith("payout:") else self.payments
            return facade.run_timer(timer, when)

        def alone(timer: Timer, run: Callable[[Timer], str | None]) -> str | None:
            try:
                return run(timer)
            except StorageError:
                raise
            except MicrokitError:
                log.exception("timer %s (%s) failed; it stays due", timer.id, timer.name)
                failed.add(timer.id)
                return None

        def run_local(timers: list[Timer]) -> None:
            nonlocal dropped
            if not timers:
                return
            try:
                outcomes = self._core.run(lambda u: [run_one(u, t) for t in timers], now=when)
            except Exception:
                outcomes = [alone(t, one) for t in timers]
            for outcome in outcomes:
                if outcome == "dropped":
                    dropped += 1
                elif outcome is not None:
                    ran[outcome] += 1
            timers.clear()

        while True:
            limit = batch + len(failed)  # the failed ones are due still: look past them

            def due_now(tx: Tx, limit: int = limit) -> list[Timer]:
                return tx.due_timers(when, limit)

            found = self._core.query(due_now)
            due = [t for t in found if t.id not in failed]
            if not due:
                break
            local: list[Timer] = []
            for timer in due:
                if timer.subject.startswith(("payment:", "refund:", "payout:")):
                    run_local(local)  # keep due order
                    self._count(ran, alone(timer, plugin_timer))
                    continue
                local.append(timer)
                if len(local) >= chunk:
                    run_local(local)
            run_local(local)
            if len(found) < limit:
                break
        levels = self.levels.run_due(when)
        return TickSummary(when, dict(ran), dropped, levels, len(failed))

    @staticmethod
    def _count(ran: Counter[str], outcome: str | None) -> None:
        if outcome is not None and outcome != "dropped":
            ran[outcome] += 1

    def close(self) -> None:
        """Close the storage."""
        self._core.storage.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _staff_only(self, by: Actor, action: str) -> None:
        if by.kind != "staff":
            raise PermissionDenied(f"{by} may not {action}", actor=str(by), action=action)
