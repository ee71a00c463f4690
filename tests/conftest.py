"""Shared database fixtures: a fresh SQLite file or a fresh PostgreSQL database for each test.

``db_url`` runs a test twice, on SQLite and on PostgreSQL (marked ``postgres``); ``engine`` is
an engine on it, migrated to head. PostgreSQL must be up on 127.0.0.1:5432 (user postgres,
trust auth; ``scripts/test-services`` starts it): when it is not, the PostgreSQL variants fail
with a message that says so, they are never skipped.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine

from gateway.storage.engine import make_engine
from gateway.storage.migrate import upgrade

PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=10"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def _pg_admin() -> psycopg.Connection[tuple[object, ...]]:
    """An autocommit connection to the ``postgres`` database, or a clear test failure."""
    try:
        return psycopg.connect(PG_ADMIN_DSN, autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.fail(
            "PostgreSQL is not reachable at 127.0.0.1:5432 as user postgres "
            f"(start it with scripts/test-services): {exc}",
            pytrace=False,
        )


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a SQLite file in the test's own temporary directory (created on first use)."""
    return f"sqlite:///{tmp_path / 'sekisho.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of a new, empty PostgreSQL database, dropped (connections and all) afterwards."""
    name = f"sekisho_t_{secrets.token_hex(6)}"
    with _pg_admin() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield PG_URL.format(name=name)
    finally:
        with _pg_admin() as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh database of each supported kind: the test runs once per kind."""
    kind = request.param
    return str(request.getfixturevalue("sqlite_url" if kind == "sqlite" else "postgres_url"))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on ``db_url``, migrated to head; disposed after the test."""
    eng = make_engine(db_url)
    upgrade(eng)
    try:
        yield eng
    finally:
        eng.dispose()
