"""PostgreSQL helpers for the test-suite (plain functions, no pytest fixtures).

The server comes from the environment variable ``MICROKIT_TEST_PG``, a libpq URL
such as ``postgresql://microkit@127.0.0.1:55432/microkit_test``.  CI starts a
throwaway cluster with ``.ci/postgres.sh start`` and exports it; locally::

    export MICROKIT_TEST_PG="$(bash .ci/postgres.sh start)"

Isolation strategy: ``fresh_schema_url`` gives each test its own **schema** in the
shared database (the URL carries ``options=-csearch_path=<schema>``), which is
created and dropped in ~15 ms per test (two short connections; the SQL itself takes
<1 ms).  A database per test (``CREATE DATABASE ... TEMPLATE template0`` + ``DROP
DATABASE ... WITH (FORCE)``) measured ~90-110 ms on the CI cluster, so it is kept only
as ``fresh_database_url`` for tests that need whole-database isolation
(extensions, ``public`` schema, ``DROP SCHEMA`` in the code under test, ...).

Code under test must use unqualified table names (or ``current_schema()``) for the
schema isolation to hold.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pytest

import microkit as mk
from microkit import Actor, Money
from microkit.clock import Clock

ENV_VAR = "MICROKIT_TEST_PG"


def postgres_url() -> str | None:
    """The test server's URL, or None when no server is configured."""
    return os.environ.get(ENV_VAR)


def require_postgres() -> str:
    """Return the test server's URL; skip the test if unset (fail under CI)."""
    url = postgres_url()
    if url:
        return url
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"CI must run PostgreSQL tests: {ENV_VAR} unset")
    pytest.skip(
        f"PostgreSQL tests skipped: set {ENV_VAR}=postgresql://... "
        "(CI starts one with .ci/postgres.sh)"
    )


def _unique_name() -> str:
    return f"mk_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"


def _with_params(url: str, *, dbname: str | None = None, **params: str) -> str:
    """Return ``url`` with its path replaced by ``dbname`` and query ``params`` set.

    An ``options`` parameter is appended to any existing ``options`` value.
    """
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for key, value in params.items():
        if key == "options" and query.get("options"):
            value = f"{query['options']} {value}"
        query[key] = value
    path = f"/{dbname}" if dbname is not None else parts.path
    return urlunsplit(parts._replace(path=path, query=urlencode(query, quote_via=quote)))


@contextmanager
def fresh_schema_url(base_url: str) -> Iterator[str]:
    """Create a uniquely named schema in ``base_url``'s database for one test.

    Yields ``base_url`` with ``options=-csearch_path=<schema>`` (so every connection
    made from it creates and finds its tables in that schema) and
    ``application_name=<schema>``.  Afterwards the schema is dropped with CASCADE;
    connections still open from the yielded URL are terminated first so the drop
    cannot block.
    """
    import psycopg
    from psycopg import sql

    name = _unique_name()
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield _with_params(base_url, options=f"-csearch_path={name}", application_name=name)
    finally:
        with psycopg.connect(base_url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            conn.execute("SET lock_timeout = '30s'")
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@contextmanager
def fresh_database_url(base_url: str) -> Iterator[str]:
    """Create a uniquely named database (from template0) for one test.

    Slower than :func:`fresh_schema_url` (~100 ms vs ~15 ms) but fully isolated.  Yields
    ``base_url`` pointing at the new database; afterwards it is dropped WITH (FORCE),
    which disconnects any connections left open.
    """
    import psycopg
    from psycopg import sql

    name = _unique_name()
    ident = sql.Identifier(name)
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(ident))
    try:
        yield _with_params(base_url, dbname=name)
    finally:
        with psycopg.connect(base_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))


def market_with_service(url: str, clock: Clock) -> tuple[mk.Marketplace, mk.Service]:
    """A Khamsat market at ``url`` where the buyer amal may order seller omar's approved
    service (design, 25 USD)."""
    staff = Actor.staff("admin")
    market = mk.Marketplace.open(url, config=mk.MarketConfig.khamsat(), clock=clock,
                                 load_entry_points=False)
    market.catalog.add_category("design", names={"ar": "تصميم"}, by=staff)
    for user in ("amal", "omar"):
        market.users.register(user, display_name=user)
    svc = market.catalog.create_service(
        by=Actor.user("omar"), category="design", title="تصميم شعار", description="شعار بسيط",
        price=Money.of("25", "USD"), delivery_days=3)
    market.catalog.approve(svc.id, by=staff)
    return market, svc
