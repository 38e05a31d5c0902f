"""microkit's public test kit: conformance suites for backends written outside microkit.

:mod:`microkit.testing.storage` holds :class:`~microkit.testing.storage.StorageConformance`,
the suite every storage backend (memory, SQLite, PostgreSQL and third-party ones) passes.
It needs pytest, which is not a runtime dependency of microkit: import it from tests only.

:mod:`microkit.testing.gateways` holds
:class:`~microkit.testing.gateways.GatewayConformance` and
:class:`~microkit.testing.gateways.PayoutMethodConformance`, the suites a payment
gateway or payout-method plugin passes (charge flows, refunds, webhook signatures,
replay, idempotency, and a paid order inside a market). Also pytest-only.

.. versionadded:: 0.1
"""

from __future__ import annotations

__all__: list[str] = []
