"""Cart records: what a buyer put in the cart, how it looks now, what a checkout made."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

import attrs

from ..money import Money

if TYPE_CHECKING:
    from ..payments.model import Payment
    from .model import Order

__all__ = [
    "Cart",
    "CartItem",
    "CartLine",
    "CartLineStatus",
    "CartView",
    "Checkout",
    "CheckoutRecord",
]

#: ``"ok"``: buyable as added; ``"unavailable"``: the service is gone or not approved;
#: ``"price_changed"``: its price (or its upgrades') changed since it was added.
CartLineStatus = Literal["ok", "unavailable", "price_changed"]


@attrs.frozen
class CartItem:
    """A service in a buyer's cart, with the price it had when added.

    .. versionadded:: 0.1
    """

    id: str
    buyer_id: str
    service_id: str
    #: Upgrade id -> quantity.
    upgrades: Mapping[str, int]
    #: How many separate orders of it the checkout places.
    quantity: int
    #: One order's total when the item was added (what the buyer saw).
    unit_total: Money
    added_at: dt.datetime
    version: int = 1


@attrs.frozen
class Cart:
    """A buyer's cart as stored: one record per buyer (small, capped by ``cart_max_items``)."""

    #: The buyer's user id.
    id: str
    items: tuple[CartItem, ...] = ()
    version: int = 1


@attrs.frozen
class CartLine:
    """A cart item as it stands now.

    .. versionadded:: 0.1
    """

    item: CartItem
    title: str
    status: CartLineStatus
    #: One order's total now; None when the service is unavailable.
    current_unit_total: Money | None

    @property
    def amount(self) -> Money | None:
        """What the line costs now (all its orders), or None when unavailable."""
        if self.current_unit_total is None:
            return None
        return self.current_unit_total * self.item.quantity


@attrs.frozen
class CartView:
    """The cart: its lines, the total of what can be bought, and the lines that can't.

    .. versionadded:: 0.1
    """

    lines: tuple[CartLine, ...]
    #: The sum of the ``"ok"`` lines: what a checkout would charge.
    total: Money

    @property
    def problems(self) -> tuple[CartLine, ...]:
        """Lines a checkout would skip: unavailable, or with a changed price."""
        return tuple(line for line in self.lines if line.status != "ok")


@attrs.frozen
class Checkout:
    """What a checkout did: the orders placed, the one payment, the lines it left in the cart.

    .. versionadded:: 0.1
    """

    orders: tuple[Order, ...]
    payment: Payment
    #: Lines not bought (unavailable or repriced); still in the cart.
    skipped: tuple[CartLine, ...]


@attrs.frozen
class CheckoutRecord:
    """Which orders a checkout key created, so a retried checkout places nothing twice."""

    #: ``"{buyer_id}:{idempotency_key}"``.
    id: str
    buyer_id: str
    order_ids: tuple[str, ...]
    #: Cart item ids the orders came from (removed from the cart once charged).
    item_ids: tuple[str, ...]
    created_at: dt.datetime
    #: ``"placed"``, then ``"charged"`` (succeeded or pending at the gateway) or ``"failed"``.
    state: str = "placed"
    version: int = 1
    #: How many of each of ``item_ids`` the orders bought (empty in records from before it
    #: was kept: then the whole line counts as bought). A line whose quantity grew after
    #: the checkout keeps the rest.
    quantities: tuple[int, ...] = ()
