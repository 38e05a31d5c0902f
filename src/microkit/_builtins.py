"""microkit's own plugin: built-in storage backends and gateways, through the public hooks."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .hooks import hookimpl

if TYPE_CHECKING:
    from .clock import Clock
    from .config import MarketConfig
    from .payments.gateway import Gateway
    from .storage.base import Storage


@hookimpl(trylast=True)
def microkit_open_storage(url: str) -> Storage | None:
    if url == "memory://" or url.startswith("memory://"):
        from .storage.memory import MemoryStorage

        return MemoryStorage(url)
    if url.startswith("sqlite:"):
        from .storage.sqlite import SQLiteStorage

        return SQLiteStorage(url)
    return None


@hookimpl(trylast=True)
def microkit_payment_gateways(
    config: MarketConfig, clock: Clock, register: Callable[[Gateway], None]
) -> None:
    from .payments.builtin import BalanceGateway, SandboxGateway

    register(BalanceGateway())
    register(SandboxGateway(clock=lambda: int(clock.now().timestamp())))
