"""Migrations: the schema they build is the models' schema, and ``record`` is append-only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, insert, inspect, select, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel

from gateway.storage.engine import make_engine
from gateway.storage.errors import SchemaError
from gateway.storage.migrate import MIGRATIONS_DIR, current, head, upgrade
from gateway.storage.models import Record

RECORD = SQLModel.metadata.tables[Record.__tablename__]


def _insert_record(engine: Engine, seq: int) -> None:
    """Put one record row straight into the table, as any client could."""
    with engine.begin() as conn:
        conn.execute(
            insert(RECORD),
            {"site_id": "s1", "seq": seq, "ts": datetime.now(UTC), "kind": "system", "detail": {}},
        )


def test_revisions_form_one_line_ending_at_the_newest_file() -> None:
    """The code knows one line of revisions (no branches), ending at the highest-numbered file."""
    files = sorted(MIGRATIONS_DIR.joinpath("versions").glob("r[0-9][0-9][0-9][0-9]_*.py"))
    assert head() == files[-1].name[1:5]


def test_upgrade_builds_exactly_the_models_schema(db_url: str) -> None:
    """After upgrade, alembic finds no difference between the database and SQLModel.metadata."""
    engine = make_engine(db_url)
    try:
        assert current(engine) is None
        upgrade(engine)
        assert current(engine) == head()
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
        assert diffs == []
        tables = set(inspect(engine).get_table_names())
        assert set(SQLModel.metadata.tables) <= tables
    finally:
        engine.dispose()


def test_upgrade_twice_is_a_no_op(engine: Engine) -> None:
    """A second upgrade of a current database changes nothing and keeps the data."""
    _insert_record(engine, 1)
    upgrade(engine)
    assert current(engine) == head()
    with engine.connect() as conn:
        assert conn.execute(select(RECORD.c.seq)).scalars().all() == [1]


def test_upgrade_refuses_a_database_made_by_something_else(db_url: str) -> None:
    """Tables without an alembic version: SchemaError, and the database is left untouched."""
    engine = make_engine(db_url)
    try:
        SQLModel.metadata.create_all(engine)
        with pytest.raises(SchemaError, match="not created by Sekisho's migrations"):
            upgrade(engine)
        assert "alembic_version" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_upgrade_refuses_an_unknown_revision(engine: Engine) -> None:
    """A database stamped with a revision this code does not know is refused clearly."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00dcafe'"))
    with pytest.raises(SchemaError, match="f00dcafe"):
        upgrade(engine)


@pytest.mark.parametrize("statement", ["UPDATE record SET kind = 'forged'", "DELETE FROM record"])
def test_records_cannot_be_changed_or_deleted_at_the_database(
    engine: Engine, statement: str
) -> None:
    """4-8-6(4): the storage itself aborts UPDATE and DELETE of records, whoever sends them."""
    _insert_record(engine, 1)
    with pytest.raises(DBAPIError, match="record is append-only"), engine.begin() as conn:
        conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.execute(select(RECORD.c.seq, RECORD.c.kind)).all() == [(1, "system")]


@pytest.mark.postgres
def test_records_cannot_be_truncated_on_postgres(postgres_url: str) -> None:
    """On PostgreSQL TRUNCATE, which skips row triggers, is refused too."""
    engine = make_engine(postgres_url)
    try:
        upgrade(engine)
        _insert_record(engine, 1)
        with pytest.raises(DBAPIError, match="record is append-only"), engine.begin() as conn:
            conn.execute(text("TRUNCATE record"))
        with engine.connect() as conn:
            assert conn.execute(select(RECORD.c.seq)).scalars().all() == [1]
    finally:
        engine.dispose()
