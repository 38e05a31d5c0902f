"""microkit's own plugin: built-in storage backends and gateways, through the public hooks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .hooks import hookimpl

if TYPE_CHECKING:
    from .clock import Clock
    from .config import MarketConfig
    from .messaging._contact_filter import ContactMatch
    from .payments.gateway import Gateway
    from .payments.payout_method import PayoutMethod
    from .storage.base import Storage


@hookimpl(trylast=True)
def microkit_open_storage(url: str) -> Storage | None:
    if url == "memory://" or url.startswith("memory://"):
        from .storage.memory import MemoryStorage

        return MemoryStorage(url)
    if url.startswith("sqlite:"):
        from .storage.sqlite import SQLiteStorage

        return SQLiteStorage(url)
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from .storage.postgres import PostgresStorage
        except ImportError as exc:
            from .errors import ValidationError

            raise ValidationError(
                f"url: {url.partition(':')[0]}:// needs psycopg 3, the extra"
                " microkit[postgres] (pip install 'microkit[postgres]')",
                field="url",
                value=url.partition(":")[0],  # not the URL: it may hold a password
            ) from exc
        return PostgresStorage(url)
    return None


@hookimpl(trylast=True)
def microkit_payment_gateways(
    config: MarketConfig, clock: Clock, register: Callable[[Gateway], None]
) -> None:
    from .payments.builtin import BalanceGateway, SandboxGateway
    from .payments.manual import ManualGateway

    register(BalanceGateway())
    register(SandboxGateway(clock=lambda: int(clock.now().timestamp())))
    register(ManualGateway())


@hookimpl(trylast=True)
def microkit_payout_methods(
    config: MarketConfig, clock: Clock, register: Callable[[PayoutMethod], None]
) -> None:
    from .payments.builtin import SandboxPayout
    from .payments.manual import ManualBankPayout

    register(ManualBankPayout())
    register(SandboxPayout(clock=lambda: int(clock.now().timestamp())))


@hookimpl(trylast=True)
def microkit_check_message(
    text: str, sender: str, conversation_id: str, config: MarketConfig
) -> Sequence[ContactMatch] | None:
    from .messaging._contact_filter import find_contacts

    return find_contacts(text)
