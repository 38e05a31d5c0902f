"""The plugin: registers the LibyaPay gateway with every LYD market that loads it."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import microkit as mk

from .gateway import FakeLibyaPayAPI, LibyaPayAPI, LibyaPayGateway

__all__ = ["FakeLibyaPayAPI", "LibyaPayAPI", "LibyaPayGateway", "microkit_payment_gateways"]


@mk.hookimpl
def microkit_payment_gateways(config: Any, clock: Any, register: Callable[[Any], None]) -> None:
    """Register LibyaPay if the market charges dinars (the hook's contract)."""
    if config.currency.code != "LYD":
        return
    secrets = [s for s in os.environ.get("LIBYAPAY_WEBHOOK_SECRETS", "").split(",") if s]
    register(LibyaPayGateway(api=FakeLibyaPayAPI(), secrets=secrets or ["whsec_libyapay_dev"],
                             clock=lambda: int(clock.now().timestamp())))
