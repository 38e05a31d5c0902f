"""Applying a verified webhook event exactly once, inside one unit of work.

The processed-webhook record (key ``{source}:{event id}``) is written in the
same unit as the change the event causes, so a duplicate delivery -- even
one racing the first -- finds it and does nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from .._core import Core, Unit
from ..actors import Actor
from ..errors import PaymentError, WebhookVerificationError
from ..storage.records import PAYMENTS, REFUNDS, WEBHOOKS
from . import _settle, refunds
from .gateway import WEBHOOK_TYPES, RefundResult, WebhookEvent
from .model import Payment, ProcessedWebhook, WebhookResult

__all__ = ["apply", "dedupe", "parse"]


def parse(source: str, call: Callable[[], object]) -> WebhookEvent:
    """Run a plugin's ``parse_webhook`` and check what it returned."""
    try:
        event = call()
    except (WebhookVerificationError, PaymentError):
        raise
    except Exception as exc:
        raise PaymentError(f"{source}: parse_webhook raised {type(exc).__name__}: {exc}",
                           gateway=source) from exc
    if (
        not isinstance(event, WebhookEvent)
        or event.type not in WEBHOOK_TYPES
        or not isinstance(event.id, str) or not 0 < len(event.id) <= 200
        or not isinstance(event.reference, str) or not 0 < len(event.reference) <= 200
    ):
        raise PaymentError(f"{source}: parse_webhook returned no usable event: {event!r:.120}",
                           gateway=source)
    return event


def dedupe(u: Unit, source: str, event: WebhookEvent) -> WebhookResult | None:
    """The earlier result if this event id was processed before, else None."""
    seen = u.tx.get(WEBHOOKS, f"{source}:{event.id}")
    if seen is None:
        return None
    return WebhookResult(event.id, event.type, "duplicate", None)


def remember(u: Unit, source: str, event: WebhookEvent, outcome: str,
             subject: str | None) -> WebhookResult:
    u.tx.add(WEBHOOKS, ProcessedWebhook(f"{source}:{event.id}", source, event.id, event.type,
                                        f"{source}:{event.reference}", outcome, u.now))
    u.emit(f"webhook.{outcome}", f"webhook:{source}", f"gateway:{source}", {
        "event_id": event.id, "type": event.type, "reference": event.reference,
        "subject": subject,
    })
    return WebhookResult(event.id, event.type, outcome, subject)


def apply(core: Core, u: Unit, gateway: str, event: WebhookEvent) -> WebhookResult:
    """Apply one gateway event (``charge.*`` or ``refund.*``) once."""
    done = dedupe(u, gateway, event)
    if done is not None:
        return done
    if event.type.startswith("charge."):
        payment = _find_payment(u, gateway, event)
        if payment is None:
            _settle.await_link(u, _settle.charge_link(gateway, event.reference))
            return remember(u, gateway, event, "unmatched", None)
        subject = f"payment:{payment.id}"
        payment = _settle.learn_reference(u, payment, event.reference)
        if event.type == "charge.succeeded":
            if payment.state == "succeeded":
                return remember(u, gateway, event, "ignored", subject)
            if event.amount is not None and event.amount != payment.charged:
                raise PaymentError(
                    f"{gateway}: webhook {event.id} reports {event.amount} captured for"
                    f" payment {payment.id}, microkit charged {payment.charged}",
                    gateway=gateway,
                )
            _settle.capture(core, u, payment, Actor.system())
            return remember(u, gateway, event, "applied", subject)
        if payment.state not in _settle.OPEN:
            return remember(u, gateway, event, "ignored", subject)
        _settle.fail(u, payment, "declined (webhook)", f"gateway:{gateway}")
        return remember(u, gateway, event, "applied", subject)
    if event.type.startswith("refund."):
        key = refunds.refund_link(gateway, event.reference)
        target = _settle.linked(u, key)
        refund = None if target is None else u.tx.get(REFUNDS, target)
        if refund is None:  # its answer is not recorded yet: applied when it is
            _settle.await_link(u, key)
            return remember(u, gateway, event, "unmatched", None)
        subject = f"refund:{refund.id}"
        if refund.state not in refunds.OPEN_STATES:
            return remember(u, gateway, event, "ignored", subject)
        result = (RefundResult("succeeded", event.reference) if event.type == "refund.succeeded"
                  else RefundResult("failed", event.reference, failure="refused (webhook)"))
        refunds.record(u, refund.id, result, f"gateway:{gateway}")
        return remember(u, gateway, event, "applied", subject)
    return remember(u, gateway, event, "ignored", None)  # payout.* sent to a gateway


def _find_payment(u: Unit, gateway: str, event: WebhookEvent) -> Payment | None:
    if event.payment_id:
        payment = u.tx.get(PAYMENTS, event.payment_id)
        if payment is not None and payment.gateway == gateway:
            return payment
    target = _settle.linked(u, _settle.charge_link(gateway, event.reference))
    return None if target is None else u.tx.get(PAYMENTS, target)
