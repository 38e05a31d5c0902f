"""Make a settling webhook overtake the answer it settles (the race tests of webhooks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


def webhook_first(monkeypatch: pytest.MonkeyPatch, cls: type, method: str, event: str,
                  handle: Callable[..., Any]) -> list[str]:
    """Patch the sandbox's ``cls.method`` to answer as before, but only after the webhook
    ``event`` about its reference reached ``handle`` (``market.payments.handle_webhook``
    or ``market.payouts.handle_webhook``). Returns the outcomes of those early webhooks."""
    call = getattr(cls, method)
    early: list[str] = []

    def racing(self: Any, request: Any) -> Any:
        result = call(self, request)
        hook = self.webhook(result.reference, event, event_id="early")
        early.append(handle("sandbox", *hook).outcome)
        return result

    monkeypatch.setattr(cls, method, racing)
    return early
