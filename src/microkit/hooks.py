"""Every hook a plugin can implement, the markers, and how a market's plugin manager is built.

Hooks are called with keyword arguments only. Built-in gateways and storage
backends are registered through these same hooks (``trylast``, so a plugin
can replace them: a plugin's gateway or payout method replaces the built-in
of its name). Third-party plugins are found through the ``microkit``
entry-point group; ``MICROKIT_LOAD_PLUGINS`` limits which load (a comma list
of entry-point names; empty loads none).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, Final, TypeVar

import pluggy

from .errors import MicrokitError, PluginError

if TYPE_CHECKING:
    from .clock import Clock
    from .config import MarketConfig
    from .events import Event
    from .market import Marketplace
    from .messaging._contact_filter import ContactMatch
    from .payments.gateway import Gateway
    from .payments.payout_method import PayoutMethod
    from .storage.base import Storage

__all__ = [
    "PROJECT", "call_plugin", "collect_named", "hookimpl", "hookspec", "make_plugin_manager",
    "plugin_label",
]

T = TypeVar("T")

#: Project name of the markers and the entry-point group.
PROJECT: Final = "microkit"
hookspec: Final = pluggy.HookspecMarker(PROJECT)
#: Decorate a plugin's hook implementations with this (re-exported as ``microkit.hookimpl``).
hookimpl: Final = pluggy.HookimplMarker(PROJECT)
#: The names built-in plugins are registered under start with this.
BUILTIN_PREFIX: Final = "microkit.builtin."


@hookspec(firstresult=True)
def microkit_open_storage(url: str) -> Storage | None:
    """Open the storage backend for ``url``, or return None if the URL is not yours.

    Called once by :meth:`Marketplace.open`. ``firstresult``: the first
    non-None answer wins; the built-in ``memory://`` and ``sqlite:///``
    backends answer last, so a plugin can take over their schemes too. An
    answer without the Storage methods, or an exception other than a
    :class:`~microkit.errors.MicrokitError` (raise
    :class:`~microkit.errors.StorageError` when the database cannot be
    reached), is a :class:`~microkit.errors.PluginError`.

    Args:
        url: the URL given to ``Marketplace.open``, e.g. ``"postgresql://db/market"``.

    Returns:
        An object implementing :class:`microkit.storage.base.Storage`, or None.
    """


@hookspec
def microkit_payment_gateways(
    config: MarketConfig, clock: Clock, register: Callable[[Gateway], None]
) -> None:
    """Register payment gateways by calling ``register(gateway)`` once for each.

    Called once when the market opens, for each plugin in turn. Names must be
    unique across plugins: a second plugin's gateway with a taken name raises
    :class:`~microkit.errors.PluginError`. A plugin's gateway named like a
    built-in one (``sandbox``, ``manual``) replaces it; ``balance`` (payment
    from the buyer's site balance) cannot be replaced. Register only gateways
    that can charge ``config.currency``. An exception raised here becomes a
    :class:`~microkit.errors.PluginError` naming the plugin, and the market
    does not open.

    Args:
        config: the market's configuration (currency, refund rule, …).
        clock: the market's clock, for webhook timestamp checks.
        register: call with an object implementing
            :class:`microkit.payments.gateway.Gateway`.
    """


@hookspec
def microkit_payout_methods(
    config: MarketConfig, clock: Clock, register: Callable[[PayoutMethod], None]
) -> None:
    """Register payout methods (how sellers get paid out) by calling ``register(method)``.

    Called once when the market opens, for each plugin in turn. Names must be
    unique across plugins: a second plugin's method with a taken name raises
    :class:`~microkit.errors.PluginError`. Built in: ``manual_bank`` (staff
    make the transfer and confirm it) and ``sandbox`` (tests), both
    ``trylast``; a plugin's method of the same name replaces the built-in
    one. An exception raised here becomes a
    :class:`~microkit.errors.PluginError` naming the plugin, and the market
    does not open.

    Args:
        config: the market's configuration (currency, withdrawal rules, …).
        clock: the market's clock, for webhook timestamp checks.
        register: call with an object implementing
            :class:`microkit.payments.payout_method.PayoutMethod`.

    .. versionadded:: 0.2
    """


@hookspec
def microkit_on_event(event: Event, market: Marketplace) -> None:
    """React to an event after the command that appended it has committed.

    Called once per event, in log order. Use it to notify (e-mail the
    seller that an order was paid, that a service was rejected). A failure
    here is logged and never undoes the command; the durable record is the
    event log (``market.events.read``), so a notifier that must not miss
    anything can also page through it by ``seq``.

    Args:
        event: the stored event, with its ``seq``.
        market: the market, for lookups; do not run commands from here.
    """


@hookspec(firstresult=True)
def microkit_check_message(
    text: str, sender: str, conversation_id: str, config: MarketConfig
) -> Sequence[ContactMatch] | None:
    """Find the contact information in a message before it is stored.

    Called for every message a user sends (pre-purchase inquiries and order
    conversations), unless ``config.message_filter == "off"``. Staff messages
    are not checked. ``firstresult``: the first non-None answer wins; the
    built-in answer (``trylast``) is
    :func:`microkit.messaging.find_contacts` (phone numbers in ASCII or
    Arabic-Indic digits, e-mails, links, messaging handles). Return an empty
    sequence to let a message through, or None to leave the decision to the
    next implementation.

    What happens to a message with matches is the market's rule, not the
    plugin's: ``config.message_filter == "block"`` refuses it with a
    :class:`~microkit.errors.ValidationError` naming the kinds found;
    ``"redact"`` stores it with each match replaced by ``***``.

    Args:
        text: the message body as the user wrote it.
        sender: the sender as ``str(actor)``, e.g. ``"user:amal"``.
        conversation_id: ``"order:{order_id}"`` or ``"inquiry:{service_id}:{buyer_id}"``.
        config: the market's configuration.

    Returns:
        :class:`microkit.messaging.ContactMatch` records whose ``text`` is
        ``text[start:end]``, or None.
    """


class _Specs:
    """Holder so the module-level specs register as one object."""


for _name, _value in list(globals().items()):
    if _name.startswith("microkit_"):
        setattr(_Specs, _name, staticmethod(_value))


def _allowed_entry_points() -> set[str] | None:
    value = os.environ.get("MICROKIT_LOAD_PLUGINS")
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def make_plugin_manager(
    plugins: Iterable[object], *, load_entry_points: bool, builtins: Iterable[object]
) -> pluggy.PluginManager:
    """A fresh manager: the specs, the built-ins, entry points, then ``plugins``.

    Raises:
        PluginError: a plugin implements a hook that does not exist, or with a
            wrong signature, or none at all; an entry point does not load (its error
            chained).
    """
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(_Specs)
    try:
        for builtin in builtins:
            pm.register(builtin, name=f"{BUILTIN_PREFIX}{getattr(builtin, '__name__', builtin)}")
        if load_entry_points:
            allowed = _allowed_entry_points()
            for ep in entry_points(group=PROJECT):
                if allowed is None or ep.name in allowed:
                    pm.register(_load(ep), name=ep.name)
        for plugin in plugins:
            pm.register(plugin)
            if not pm.get_hookcallers(plugin):  # e.g. a bare function: pluggy says nothing
                raise PluginError(f"plugin {plugin_label(pm, plugin)!r} implements no microkit"
                                  " hook (are its methods marked @microkit.hookimpl?)")
        pm.check_pending()
    except (pluggy.PluginValidationError, ValueError) as exc:
        raise PluginError(f"plugin rejected: {exc}") from exc
    return pm


def _load(ep: EntryPoint) -> object:
    """The object an entry point names; a PluginError naming it if it does not import."""
    try:
        return ep.load()
    except Exception as exc:
        raise PluginError(
            f"entry point {ep.name!r} ({ep.value}) of group {PROJECT!r} failed to load:"
            f" {type(exc).__name__}: {exc} (MICROKIT_LOAD_PLUGINS can leave it out)"
        ) from exc


def plugin_label(pm: pluggy.PluginManager, plugin: object) -> str:
    """How error messages name a plugin: its registered name, or its class or module name
    when it has only pluggy's default name (a number)."""
    name = pm.get_name(plugin)
    if name and name != str(id(plugin)):
        return name
    return str(getattr(plugin, "__name__", None) or type(plugin).__qualname__)


def collect_named(
    pm: pluggy.PluginManager,
    hook_name: str,
    kind: str,
    *,
    reserved: Mapping[str, str] | None = None,
    **kwargs: object,
) -> dict[str, Any]:
    """Run a register-style hook one plugin at a time; the contributions by name.

    Plugins are called in pluggy's order (the ``trylast`` built-ins last). A
    plugin's contribution replaces a built-in one of the same name, unless the
    name is in ``reserved`` (name -> why); two plugins, or two built-ins,
    claiming one name are an error.

    Raises:
        PluginError: a contribution without a name, a taken or reserved name, or a
            hook that raised something other than a MicrokitError (chained).
    """
    hook = getattr(pm.hook, hook_name)
    plugins = pm.get_plugins()
    found: dict[str, tuple[Any, str, bool]] = {}  # name -> (item, plugin label, built-in)
    for impl in reversed(hook.get_hookimpls()):  # the order pluggy calls them in
        label = plugin_label(pm, impl.plugin)
        register = _registrar(found, kind, hook_name, label,
                              impl.plugin_name.startswith(BUILTIN_PREFIX), reserved or {})
        call = pm.subset_hook_caller(hook_name, [p for p in plugins if p is not impl.plugin])
        call_plugin(f"plugin {label!r}: {hook_name}", partial(call, register=register, **kwargs))
    return {name: item for name, (item, _, _) in found.items()}


def call_plugin(what: str, call: Callable[[], T], *, hint: str = "") -> T:
    """Call plugin code; what it raises becomes a :class:`PluginError` saying ``what`` raised
    (chained), with ``hint`` in parentheses. A :class:`~microkit.errors.MicrokitError` is
    the plugin's answer: it passes."""
    try:
        return call()
    except MicrokitError:
        raise
    except Exception as exc:
        raise PluginError(f"{what} raised {type(exc).__name__}: {exc}"
                          + (f" ({hint})" if hint else "")) from exc


def _registrar(
    found: dict[str, tuple[Any, str, bool]], kind: str, hook_name: str, label: str,
    builtin: bool, reserved: Mapping[str, str],
) -> Callable[[Any], None]:
    """The ``register`` callback one plugin gets."""

    def register(item: Any) -> None:
        name = getattr(item, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin {label!r}: {hook_name}: expected a {kind} with a"
                              f" non-empty .name, got {item!r:.80}")
        taken = found.get(name)
        if not builtin and name in reserved:
            raise PluginError(f"plugin {label!r}: {kind} name {name!r} is reserved:"
                              f" {reserved[name]}")
        if taken is not None:
            if builtin and not taken[2]:
                return  # the plugin's replaces the built-in
            if taken[2] != builtin:  # a built-in registered first: the plugin's wins
                found[name] = (item, label, builtin)
                return
            raise PluginError(f"{kind} {name!r} registered twice: by {taken[1]!r}"
                              f" ({taken[0]!r:.80}) and by {label!r} ({item!r:.80})")
        found[name] = (item, label, builtin)

    return register
