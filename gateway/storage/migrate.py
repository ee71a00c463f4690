"""Schema migrations, driven from code: alembic without an alembic.ini."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, inspect
from sqlalchemy.exc import SQLAlchemyError

from gateway.storage.engine import describe
from gateway.storage.errors import SchemaError, StorageError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"


def head() -> str:
    """The newest revision the code knows."""
    try:
        revision = ScriptDirectory.from_config(_config()).get_current_head()
    except CommandError as exc:  # more than one head: a merge revision is missing
        raise SchemaError(f"migrations are broken: {exc}") from None
    if revision is None:
        raise SchemaError(f"no migrations found in {MIGRATIONS_DIR}")
    return revision


def current(engine: Engine) -> str | None:
    """The revision the database is at, or None for a database never migrated."""
    try:
        with engine.connect() as conn:
            heads = MigrationContext.configure(conn).get_current_heads()
    except SQLAlchemyError as exc:
        raise StorageError(
            f"cannot read the schema revision of {describe(engine)}: {exc}"
        ) from None
    return ",".join(sorted(heads)) if heads else None


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Bring the database up to ``revision`` (every head by default); a no-op when it is there.

    Refuses (with :class:`SchemaError`) a database that holds tables but was not created by
    these migrations, and one whose recorded revision the code does not know. On both SQLite
    and PostgreSQL the whole upgrade is one transaction: it lands completely or not at all.
    """
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                # pysqlite runs DDL outside transactions; an explicit BEGIN makes it atomic.
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            _refuse_foreign_schema(conn, engine)
            command.upgrade(_config(conn), revision)
            conn.commit()
    except CommandError as exc:
        raise SchemaError(f"cannot migrate {describe(engine)} to {revision!r}: {exc}") from None
    except SQLAlchemyError as exc:
        raise StorageError(f"migrating {describe(engine)} failed: {exc}") from None


def _refuse_foreign_schema(conn: Connection, engine: Engine) -> None:
    """Raise SchemaError when the database has tables but no alembic version table."""
    tables = set(inspect(conn).get_table_names())
    if tables and VERSION_TABLE not in tables:
        names = ", ".join(sorted(tables)[:8])
        raise SchemaError(
            f"{describe(engine)} already holds tables ({names}) but no {VERSION_TABLE}: "
            "it was not created by Sekisho's migrations; refusing to change it"
        )


def _config(connection: Connection | None = None) -> Config:
    """Alembic configuration for :data:`MIGRATIONS_DIR`, optionally bound to a connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config
