"""Engines for the two stores Sekisho runs on: an embedded SQLite file (WAL) or PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from gateway.storage.errors import DatabaseRefused

SQLITE_BUSY_TIMEOUT_MS = 5_000  # how long a connection waits for another one's write lock

# Every SQLite connection: WAL so readers never block the writer, an fsync at every commit so
# that a returned append survives power loss (4-8-6(4)), and foreign keys actually enforced.
_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
)


def make_engine(url: str | None = None, *, sqlite_path: Path | None = None) -> Engine:
    """An engine for a ``postgresql+psycopg://`` or file ``sqlite:///`` URL, or a SQLite path.

    Exactly one of ``url`` and ``sqlite_path``. In-memory SQLite and other dialects or drivers
    are refused with :class:`DatabaseRefused`: a store that loses records on restart, or one
    nobody tested, has no place under an access-control log.
    """
    if (url is None) == (sqlite_path is None):
        raise DatabaseRefused("give exactly one of a database URL or a SQLite file path")
    if sqlite_path is not None:
        return _sqlite_engine(sqlite_path)
    assert url is not None
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseRefused(f"not a database URL: {_hide(url)!r} ({exc})") from None
    backend = parsed.get_backend_name()
    driver = parsed.get_driver_name()
    if backend == "sqlite":
        if driver != "pysqlite":
            raise DatabaseRefused(f"SQLite driver {driver!r} is not supported; use sqlite:///PATH")
        if not parsed.database or parsed.database == ":memory:" or _in_memory_uri(parsed):
            raise DatabaseRefused(
                "in-memory SQLite loses every record on restart; give a file: sqlite:///PATH"
            )
        if parsed.query:
            raise DatabaseRefused("sqlite URLs take no options here; give sqlite:///PATH")
        return _sqlite_engine(Path(parsed.database))
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        elif driver != "psycopg":
            raise DatabaseRefused(
                f"PostgreSQL driver {driver!r} is not supported; use postgresql+psycopg://"
            )
        return _postgres_engine(parsed)
    raise DatabaseRefused(
        f"database {backend!r} is not supported; use postgresql+psycopg:// or a SQLite file"
    )


def describe(engine: Engine) -> str:
    """The engine's URL for logs and status pages, without the password."""
    url = engine.url
    if url.query:
        url = url.set(query={k: v for k, v in url.query.items() if "password" not in k.lower()})
    return url.render_as_string(hide_password=True)


def _sqlite_engine(path: Path) -> Engine:
    """A SQLite engine on ``path`` with the pragmas set on every new connection."""
    text = str(path)
    if not text or text == ":memory:" or text.startswith("file:"):
        raise DatabaseRefused(
            "in-memory SQLite loses every record on restart; give a file path for the store"
        )
    path = path.expanduser().resolve()
    if not path.parent.is_dir():
        raise DatabaseRefused(f"directory of the SQLite store does not exist: {path.parent}")
    if path.exists() and not path.is_file():
        raise DatabaseRefused(f"SQLite store path is not a file: {path}")
    engine = create_engine(URL.create("sqlite+pysqlite", database=str(path)))
    event.listen(engine, "connect", _set_sqlite_pragmas)
    return engine


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Apply :data:`_SQLITE_PRAGMAS` to a fresh DB-API connection (outside any transaction)."""
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _postgres_engine(url: URL) -> Engine:
    """A PostgreSQL engine over psycopg 3; pre-ping drops connections a server restart killed."""
    return create_engine(url, pool_pre_ping=True)


def _in_memory_uri(url: URL) -> bool:
    """True for SQLite URI forms that open an in-memory database."""
    database = url.database or ""
    return database.startswith("file:") or url.query.get("mode") == "memory"


def _hide(url: str) -> str:
    """A URL string with any password replaced, for error messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"
