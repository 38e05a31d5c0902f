"""The storage conformance suite (microkit.testing.storage) on every built-in backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import _pg
from microkit.storage.memory import MemoryStorage
from microkit.storage.sqlite import SQLiteStorage
from microkit.testing.storage import StorageConformance, StorageFactory


class TestMemoryStorage(StorageConformance):
    @pytest.fixture
    def storage_factory(self) -> StorageFactory:
        store = MemoryStorage()
        return lambda: store  # no persistence: every opening is the same store


class TestSQLiteStorage(StorageConformance):
    @pytest.fixture
    def storage_factory(self, tmp_path: Path) -> StorageFactory:
        url = f"sqlite:///{tmp_path}/conformance.db"
        return lambda: SQLiteStorage(url)


class TestPostgresStorage(StorageConformance):
    @pytest.fixture
    def storage_factory(self) -> Iterator[StorageFactory]:
        base = _pg.require_postgres()
        from microkit.storage.postgres import PostgresStorage

        with _pg.fresh_schema_url(base) as url:
            yield lambda: PostgresStorage(url)


def test_postgres_url_hides_the_password() -> None:
    pytest.importorskip("psycopg")
    from microkit.storage.postgres import redact

    assert redact("postgresql://app:s3cret@db.example:5433/m?sslmode=require") == (
        "postgresql://app@db.example:5433/m?sslmode=require")
    assert redact("postgres://app@db/m") == "postgres://app@db/m"
    # libpq also takes the password as a query parameter
    assert redact("postgresql://app@db/m?password=s3cret&sslmode=require") == (
        "postgresql://app@db/m?sslmode=require")
    assert redact("postgresql://app:a@db/m?sslmode=require&password=b%26c") == (
        "postgresql://app@db/m?sslmode=require")
