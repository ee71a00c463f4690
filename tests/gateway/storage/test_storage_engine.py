"""Engines: SQLite pragmas on every connection, PostgreSQL URLs, refused stores, describe()."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from gateway.storage.engine import SQLITE_BUSY_TIMEOUT_MS, describe, make_engine
from gateway.storage.errors import DatabaseRefused, StorageError


def _pragmas(conn: Connection) -> tuple[object, ...]:
    """journal_mode, synchronous, foreign_keys and busy_timeout as one connection sees them."""
    names = ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
    return tuple(conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in names)


@pytest.mark.parametrize("form", ["path", "url"])
def test_sqlite_engine_sets_pragmas_on_every_connection(tmp_path: Path, form: str) -> None:
    """WAL, synchronous=FULL (2), foreign keys and the busy timeout hold on each connection."""
    db = tmp_path / "store.db"
    engine = make_engine(sqlite_path=db) if form == "path" else make_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as first, engine.connect() as second:
            expected = ("wal", 2, 1, SQLITE_BUSY_TIMEOUT_MS)
            assert _pragmas(first) == expected
            assert _pragmas(second) == expected
        assert db.is_file()
    finally:
        engine.dispose()


def test_sqlite_enforces_foreign_keys(tmp_path: Path) -> None:
    """A row pointing at a missing parent is refused by SQLite itself (foreign_keys=ON)."""
    engine = make_engine(sqlite_path=tmp_path / "fk.db")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
            conn.exec_driver_sql("CREATE TABLE child (pid INTEGER REFERENCES parent(id))")
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text("INSERT INTO child (pid) VALUES (42)"))
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
        ("sqlite:///file::memory:?cache=shared", "in-memory"),
        ("mysql+pymysql://root@127.0.0.1/sekisho", "'mysql' is not supported"),
        ("postgresql+psycopg2://postgres@127.0.0.1/x", "'psycopg2' is not supported"),
        ("postgresql+asyncpg://postgres@127.0.0.1/x", "'asyncpg' is not supported"),
        ("not a url at all", "not a database URL"),
        ("sqlite:////no/such/directory/store.db", "does not exist"),
    ],
)
def test_refused_stores_raise_a_typed_error(url: str, words: str) -> None:
    """Other dialects, other drivers, in-memory SQLite and missing directories are refused."""
    with pytest.raises(DatabaseRefused, match=words) as caught:
        make_engine(url)
    assert isinstance(caught.value, StorageError)


def test_in_memory_path_and_argument_misuse_are_refused(tmp_path: Path) -> None:
    """A ':memory:' path, neither argument or both arguments: each is a DatabaseRefused."""
    with pytest.raises(DatabaseRefused, match="in-memory"):
        make_engine(sqlite_path=Path(":memory:"))
    with pytest.raises(DatabaseRefused, match="exactly one"):
        make_engine()
    with pytest.raises(DatabaseRefused, match="exactly one"):
        make_engine("sqlite:///x.db", sqlite_path=tmp_path / "x.db")
    with pytest.raises(DatabaseRefused, match="not a file"):
        make_engine(sqlite_path=tmp_path)


def test_plain_postgresql_url_uses_psycopg_and_describe_hides_the_password() -> None:
    """postgresql:// means psycopg 3; describe() never shows the password (none is sent here)."""
    engine = make_engine("postgresql://sekisho:s3cret-pw@127.0.0.1:5432/site?password=also-s3cret")
    try:
        assert engine.dialect.driver == "psycopg"
        shown = describe(engine)
        assert "s3cret" not in shown
        assert "127.0.0.1:5432/site" in shown
        assert shown.startswith("postgresql+psycopg://sekisho:")
    finally:
        engine.dispose()


def test_describe_sqlite_names_the_file(tmp_path: Path) -> None:
    """describe() of a SQLite engine names the resolved file."""
    engine = make_engine(sqlite_path=tmp_path / "a.db")
    try:
        assert describe(engine) == f"sqlite+pysqlite:///{(tmp_path / 'a.db').resolve()}"
    finally:
        engine.dispose()
