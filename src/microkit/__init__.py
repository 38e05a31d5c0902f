"""microkit: the engine of a micro-services marketplace.

Catalog, orders through a declarative transition table, an escrow
double-entry ledger, payments and plugins, over memory, SQLite or
PostgreSQL storage.
"""

from .actors import Actor
from .catalog.model import (
    Category,
    SearchHit,
    SearchPage,
    SellerProfile,
    Service,
    ServiceDraft,
    ServiceStats,
    ServiceView,
    Upgrade,
    UpgradeSpec,
)
from .clock import FrozenClock, SystemClock
from .config import MarketConfig
from .errors import (
    ConcurrentUpdate,
    Conflict,
    CurrencyMismatch,
    InsufficientFunds,
    InvalidAmount,
    InvalidConfig,
    InvalidTransition,
    LimitExceeded,
    MicrokitError,
    NotFound,
    PaymentError,
    PermissionDenied,
    PluginError,
    PriceOutOfRange,
    StorageError,
    UnknownCurrency,
    ValidationError,
    WebhookVerificationError,
)
from .escrow.ledger import Balance, VerifyReport
from .events import Event
from .hooks import hookimpl
from .levels import Level, LevelLadder, LevelReport, Privileges, Requirement, SellerLevel
from .market import Marketplace, TickSummary
from .money import Currency, Money
from .orders.model import Delivery, Order, OrderLine
from .payments.model import Payment
from .users import User

__version__ = "0.1.0"

__all__ = [
    "Actor",
    "Balance",
    "Category",
    "ConcurrentUpdate",
    "Conflict",
    "Currency",
    "CurrencyMismatch",
    "Delivery",
    "Event",
    "FrozenClock",
    "InsufficientFunds",
    "InvalidAmount",
    "InvalidConfig",
    "InvalidTransition",
    "Level",
    "LevelLadder",
    "LevelReport",
    "LimitExceeded",
    "MarketConfig",
    "Marketplace",
    "MicrokitError",
    "Money",
    "NotFound",
    "Order",
    "OrderLine",
    "Payment",
    "PaymentError",
    "PermissionDenied",
    "PluginError",
    "PriceOutOfRange",
    "Privileges",
    "Requirement",
    "SearchHit",
    "SearchPage",
    "SellerLevel",
    "SellerProfile",
    "Service",
    "ServiceDraft",
    "ServiceStats",
    "ServiceView",
    "StorageError",
    "SystemClock",
    "TickSummary",
    "UnknownCurrency",
    "Upgrade",
    "UpgradeSpec",
    "User",
    "ValidationError",
    "VerifyReport",
    "WebhookVerificationError",
    "hookimpl",
]
