"""``market.cart`` (MicroLibya): collect services, then buy them all with one payment.

Checkout places one order per cart line and quantity, then charges them
together through ``market.payments.pay_orders``: one charge, each order's
escrow funded by its own ledger transaction. A line whose service went
inactive, or whose price changed since it was added, is reported and left in
the cart, never bought silently.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import attrs

from .._checks import actor_checked
from .._core import Core, Unit, new_id
from ..actors import Actor
from ..catalog.pricing import chosen_upgrades, quote
from ..errors import (
    LimitExceeded,
    MicrokitError,
    NotFound,
    PaymentError,
    PermissionDenied,
    ValidationError,
)
from ..money import Money
from ..storage.base import Tx
from ..storage.records import CARTS, CHECKOUTS, ORDERS, SERVICES
from .cart_model import Cart, CartItem, CartLine, CartView, Checkout, CheckoutRecord
from .facade import apply_transition

if TYPE_CHECKING:
    from ..market import Marketplace

__all__ = ["CartFacade"]


#: How a checkout's payment key is made from the buyer's checkout key.
PAYMENT_KEY_PREFIX = "checkout:"


def settle_checkout(u: Unit, record_id: str, order_ids: tuple[str, ...]) -> None:
    """The checkout's charge is known (its answer, a retry, or a webhook capturing it):
    what it bought leaves the cart, once.

    An order that expired or was cancelled before the charge was known bought nothing
    (its share of a late capture went to the balance): its unit stays in the cart. If
    none was bought, the key is spent. ``order_ids``: the payment's, which must be the
    checkout's (a record id is ``buyer:key``, and ids may hold colons).
    """
    current = u.tx.get(CHECKOUTS, record_id)
    if current is None or current.state != "placed" or current.order_ids != order_ids:
        return
    orders = [u.need(ORDERS, oid, "order") for oid in current.order_ids]
    kept = [o.state not in ("expired", "cancelled") for o in orders]
    u.tx.save(CHECKOUTS, attrs.evolve(current, state="charged" if any(kept) else "failed",
                                      version=current.version + 1), current.version)
    bought: dict[str, int] = {}
    if current.quantities:  # orders were placed line by line, quantities[i] of line i
        start = 0
        for item_id, size in zip(current.item_ids, current.quantities, strict=True):
            bought[item_id] = sum(kept[start:start + size])
            start += size
    elif all(kept):  # a record from before quantities were kept: whole lines, or none
        bought = dict.fromkeys(current.item_ids, sys.maxsize)
    cart = u.tx.get(CARTS, current.buyer_id)
    if cart is None:
        return
    left = []
    for item in cart.items:
        n = bought.get(item.id, 0)
        if n:
            if item.quantity <= n:
                continue
            item = attrs.evolve(item, quantity=item.quantity - n)
        left.append(item)
    if tuple(left) != cart.items:
        CartFacade._save(u, current.buyer_id, cart, tuple(left))


def _upgrades(upgrades: Sequence[str] | Mapping[str, int]) -> dict[str, int]:
    return dict(sorted(chosen_upgrades(upgrades).items()))


@actor_checked
class CartFacade:
    """A buyer's cart. Reached as ``market.cart``.

    .. versionadded:: 0.1
    """

    def __init__(self, core: Core) -> None:
        self._core = core

    def _buyer(self, by: Actor, action: str) -> str:
        if by.kind != "user":
            raise PermissionDenied(f"{by} has no cart: buyers are users", actor=str(by),
                                   action=action)
        return by.id

    def add(
        self,
        service_id: str,
        *,
        by: Actor,
        upgrades: Sequence[str] | Mapping[str, int] = (),
        quantity: int = 1,
    ) -> CartItem:
        """Put an approved service (with upgrades) in the cart, at today's price.

        Adding the same service with the same upgrades again adds to its quantity.

        Raises:
            PermissionDenied: not a user, or the seller's own service.
            NotFound: unknown or unapproved service.
            ValidationError: an unknown upgrade, a quantity outside 1..cart_max_quantity.
            LimitExceeded: the cart holds ``cart_max_items`` lines already.
        """
        buyer = self._buyer(by, "cart.add")
        config = self._core.config
        chosen = _upgrades(upgrades)
        cap = config.cart_max_quantity
        if type(quantity) is not int or not 1 <= quantity <= cap:
            raise ValidationError(f"quantity: expected 1..{cap}, got {quantity!r}",
                                  field="quantity", value=quantity)

        def command(u: Unit) -> CartItem:
            service = u.tx.get(SERVICES, service_id)
            if service is None or service.state != "approved":
                raise NotFound("service", service_id)
            if service.seller_id == buyer:
                raise PermissionDenied(f"{by} may not buy their own service {service_id}",
                                       actor=str(by), action="cart.add")
            total = quote(service, chosen, config).total
            cart = u.tx.get(CARTS, buyer)
            items = list(cart.items) if cart else []
            same = next((i for i in items if i.service_id == service_id
                         and dict(i.upgrades) == chosen), None)
            if same is not None:
                if same.quantity + quantity > cap:
                    raise ValidationError(
                        f"quantity: expected at most {cap} in all, got"
                        f" {same.quantity} + {quantity}", field="quantity", value=quantity,
                    )
                item = attrs.evolve(same, quantity=same.quantity + quantity, unit_total=total,
                                    added_at=u.now)
                items[items.index(same)] = item
            else:
                if len(items) >= config.cart_max_items:
                    raise LimitExceeded(
                        f"cart_max_items: the cart holds {len(items)} lines already",
                        limit="cart_max_items", value=config.cart_max_items,
                    )
                item = CartItem(new_id("ci"), buyer, service_id, chosen, quantity, total, u.now)
                items.append(item)
            self._save(u, buyer, cart, tuple(items))
            u.emit("cart.added", f"cart:{buyer}", str(by), {
                "item_id": item.id, "service_id": service_id, "quantity": item.quantity,
            })
            return item

        return self._core.run(command)

    @staticmethod
    def _save(u: Unit, buyer: str, cart: Cart | None, items: tuple[CartItem, ...]) -> None:
        if cart is None:
            u.tx.add(CARTS, Cart(buyer, items))
        else:
            u.tx.save(CARTS, attrs.evolve(cart, items=items, version=cart.version + 1),
                      cart.version)

    def remove(self, item_id: str, *, by: Actor) -> None:
        """Take a line out of the cart. Raises NotFound (not in this buyer's cart)."""
        buyer = self._buyer(by, "cart.remove")

        def command(u: Unit) -> None:
            cart = u.tx.get(CARTS, buyer)
            if cart is None or not any(i.id == item_id for i in cart.items):
                raise NotFound("cart item", item_id)
            self._save(u, buyer, cart, tuple(i for i in cart.items if i.id != item_id))
            u.emit("cart.removed", f"cart:{buyer}", str(by), {"item_id": item_id})

        self._core.run(command)

    def confirm(self, item_id: str, *, by: Actor) -> CartItem:
        """Accept a line's current price after it changed. Raises NotFound, ValidationError."""
        buyer = self._buyer(by, "cart.confirm")

        def command(u: Unit) -> CartItem:
            cart = u.tx.get(CARTS, buyer)
            item = next((i for i in cart.items if i.id == item_id), None) if cart else None
            if cart is None or item is None:
                raise NotFound("cart item", item_id)
            line = self._line(u.tx, item)
            if line.current_unit_total is None:
                raise ValidationError(
                    f"cart item {item_id}: its service is no longer available",
                    field="item_id", value=item_id,
                )
            new = attrs.evolve(item, unit_total=line.current_unit_total)
            self._save(u, buyer, cart, tuple(new if i.id == item_id else i for i in cart.items))
            return new

        return self._core.run(command)

    def _line(self, tx: Tx, item: CartItem) -> CartLine:
        service = tx.get(SERVICES, item.service_id)
        if service is None or service.state != "approved":
            title = service.title if service is not None else item.service_id
            return CartLine(item, title, "unavailable", None)
        try:
            total = quote(service, item.upgrades, self._core.config).total
        except ValidationError:  # an upgrade it had is gone
            return CartLine(item, service.title, "unavailable", None)
        if total != item.unit_total:
            return CartLine(item, service.title, "price_changed", total)
        return CartLine(item, service.title, "ok", total)

    def _view(self, tx: Tx, buyer: str) -> CartView:
        cart = tx.get(CARTS, buyer)
        lines = tuple(self._line(tx, i) for i in (cart.items if cart else ()))
        total = Money.zero(self._core.config.currency)
        for line in lines:
            if line.status == "ok" and line.amount is not None:
                total += line.amount
        return CartView(lines, total)

    def view(self, *, by: Actor) -> CartView:
        """The cart now: each line's status and current price, and the total of the
        buyable lines."""
        buyer = self._buyer(by, "cart.view")
        return self._core.query(lambda tx: self._view(tx, buyer))

    def checkout(self, *, by: Actor, gateway: str, idempotency_key: str) -> Checkout:
        """Buy every ``"ok"`` line with one payment; report the others and leave them.

        One order per line and quantity is placed, then all are charged at once
        (``market.payments.pay_orders``), each order's escrow funded separately.
        The bought lines leave the cart once the charge succeeded or is pending.
        The same key again returns the same orders and charges nothing twice. If
        the charge fails, the orders are cancelled (no money moved) and the cart
        is as it was. If the gateway's answer is lost (``PaymentError`` with
        ``outcome_unknown``), the orders stay unpaid and the lines in the cart:
        check out again with the same key to learn whether the charge went
        through. The processor's webhook settles it too: what was bought leaves the
        cart then. Unpaid orders expire after ``payment_timeout``; a unit whose order
        expired or was cancelled before the charge was known stays in the cart (if
        none was bought, the key is spent).

        Raises:
            ValidationError: nothing in the cart can be bought; a bad key.
            PaymentError, InsufficientFunds: the charge failed (nothing bought).
            NotFound: unknown gateway.
            InvalidTransition: a retry of this key after its orders expired or were
                cancelled (nothing charged).
            Conflict: the key is one this buyer used for another payment.
        """
        buyer = self._buyer(by, "cart.checkout")
        core = self._core
        if not isinstance(idempotency_key, str) or not 0 < len(idempotency_key) <= 180:
            raise ValidationError(
                f"idempotency_key: expected 1..180 characters, got {idempotency_key!r:.80}",
                field="idempotency_key", value=idempotency_key,
            )
        market = self._market()
        market.payments.gateway(gateway)  # NotFound before anything is placed
        record_id = f"{buyer}:{idempotency_key}"

        def place(u: Unit) -> tuple[CheckoutRecord, tuple[CartLine, ...]]:
            view = self._view(u.tx, buyer)
            known = u.tx.get(CHECKOUTS, record_id)
            if known is not None:
                return known, view.problems
            ok = [line for line in view.lines if line.status == "ok"]
            if not ok:
                raise ValidationError(
                    "cart: nothing to buy" + (
                        f"; {len(view.problems)} line(s) unavailable or repriced"
                        if view.problems else ""),
                    field="cart", value=[line.item.id for line in view.problems],
                )
            order_ids = [
                market.orders.place_in(u, line.item.service_id, by, line.item.upgrades).id
                for line in ok for _ in range(line.item.quantity)
            ]
            record = CheckoutRecord(record_id, buyer, tuple(order_ids),
                                    tuple(line.item.id for line in ok), u.now,
                                    quantities=tuple(line.item.quantity for line in ok))
            u.tx.add(CHECKOUTS, record)
            u.emit("cart.checked_out", f"cart:{buyer}", str(by), {
                "order_ids": order_ids, "skipped": [line.item.id for line in view.problems],
            })
            return record, view.problems

        record, problems = core.run(place)
        if record.state == "failed":
            raise PaymentError(
                f"checkout {idempotency_key!r} failed before; use a new idempotency key",
                gateway=gateway,
            )
        try:
            payment = market.payments.pay_orders(
                record.order_ids, by=by, gateway=gateway,
                idempotency_key=PAYMENT_KEY_PREFIX + idempotency_key,
            )
        except MicrokitError as error:
            # A lost answer may hide a capture: keep the orders for a retry with this key
            # (it learns the outcome); anything else charged nothing, so undo.
            if not (isinstance(error, PaymentError) and error.outcome_unknown):
                core.run(lambda u: self._undo(u, record, by))
            raise
        orders = core.run(lambda u: self._charged(u, record))
        skipped = tuple(p for p in problems if p.item.id not in record.item_ids)
        return Checkout(orders, payment, skipped)

    def _charged(self, u: Unit, record: CheckoutRecord) -> tuple[Order, ...]:
        settle_checkout(u, record.id, record.order_ids)
        return tuple(u.need(ORDERS, oid, "order") for oid in record.order_ids)

    def _undo(self, u: Unit, record: CheckoutRecord, by: Actor) -> None:
        """The charge failed: cancel the unpaid orders; the cart still holds the lines."""
        current = u.tx.get(CHECKOUTS, record.id)
        if current is None or current.state != "placed":
            return
        for oid in record.order_ids:
            order = u.need(ORDERS, oid, "order")
            if order.state == "pending_payment":
                apply_transition(self._core, u, order, "cancel", by,
                                 {"reason": "checkout payment failed"})
        u.tx.save(CHECKOUTS, attrs.evolve(current, state="failed",
                                          version=current.version + 1), current.version)

    def _market(self) -> Marketplace:
        market = self._core.market
        assert market is not None, "the cart runs inside a Marketplace"
        return market


if TYPE_CHECKING:
    from .model import Order
