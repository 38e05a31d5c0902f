"""The storage conformance suite: the behaviour every :class:`~microkit.storage.base.Storage` owes.

Use it from a pytest test module of your backend: subclass
:class:`StorageConformance` and override the ``storage_factory`` fixture::

    import pytest
    from microkit.testing.storage import StorageConformance

    from mybackend import MyStorage

    class TestMyStorage(StorageConformance):
        @pytest.fixture
        def storage_factory(self, tmp_path):
            url = f"mydb:///{tmp_path}/market"
            return lambda: MyStorage(url)

``storage_factory`` returns a callable that opens the store under test. Each
call opens **the same, initially empty** database again (a second
connection, as a second application process would); a backend without
persistence returns the same object every time. The suite closes what it
opened. Every test method is inherited, so ``pytest -k`` and ``--lf`` work
on them as on your own tests.

The suite drives the :class:`~microkit.storage.base.Tx` protocol directly:
records (add, get, compare-and-set save, find), rollback, the ledger
(increments, currencies, journal), timers, events and read snapshots, plus a
few races between threads that each open their own storage. Two tests open a
market on the store (through a ``microkit_open_storage`` plugin) to check that
it keeps the currency it was first opened with.

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ...storage.base import Storage

# The helpers (``as`` re-exports) were module-level names here before the suite became a
# package, and stay importable: tests/test_postgres_statements.py uses service.
from ._helpers import LYD as LYD
from ._helpers import T0 as T0
from ._helpers import USD as USD
from ._helpers import Boom as Boom
from ._helpers import StorageFactory
from ._helpers import attr_without_seq as attr_without_seq
from ._helpers import event as event
from ._helpers import run_threads as run_threads
from ._helpers import service as service
from ._helpers import txn as txn
from ._ledger import LedgerMixin
from ._races import SharedStoreMixin
from ._records import RecordsMixin

__all__ = ["StorageConformance", "StorageFactory"]


# pytest collects inherited tests in reverse MRO order: the mixins are listed last
# section first so that the tests run in the order they are written (records first).
class StorageConformance(SharedStoreMixin, LedgerMixin, RecordsMixin):
    """Inherit this in a ``Test…`` class and override :meth:`storage_factory`.

    .. versionadded:: 0.1
    """

    #: Threads in the race tests; a backend that serializes writers still passes.
    race_threads: int = 4

    # -- fixtures ----------------------------------------------------------------

    @pytest.fixture
    def storage_factory(self) -> StorageFactory:
        """Override: return a callable opening the (same, empty) store under test."""
        raise NotImplementedError("override the storage_factory fixture in your subclass")

    @pytest.fixture
    def open_storage(self, storage_factory: StorageFactory) -> Iterator[StorageFactory]:
        """``storage_factory``, with everything it opened closed after the test."""
        opened: list[Storage] = []

        def open_() -> Storage:
            s = storage_factory()
            opened.append(s)
            return s

        yield open_
        for s in reversed(opened):
            s.close()

    @pytest.fixture
    def storage(self, open_storage: StorageFactory) -> Storage:
        return open_storage()
