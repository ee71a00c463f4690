"""Support for the storage tests: records to append, and a way to stall the writer's commits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime

from sqlalchemy import Engine

from gateway.records import NewRecord, RecordKind

MakeRecord = Callable[..., NewRecord]
HoldWrites = Callable[[Engine], AbstractContextManager[None]]


def new_record(**fields: object) -> NewRecord:
    """A granted access decision at door d1, with any field overridden."""
    values: dict[str, object] = {
        "kind": RecordKind.ACCESS,
        "ts": datetime.now(UTC),
        "door_id": "d1",
        "zone_id": "z-server",
        "reader_id": "r1",
        "person_id": "p1",
        "person_kind": "staff",
        "credential": "H10301:…456",
        "direction": "in",
        "outcome": "granted",
        "reason": "Granted",
        "detail": {"purpose": "maintenance"},
    }
    values.update(fields)
    return NewRecord(**values)  # type: ignore[arg-type]  # the tests pass each field's own type


@contextmanager
def writes_held(engine: Engine) -> Iterator[None]:
    """Hold the database's write lock on ``record`` from another connection until exit.

    SQLite: a BEGIN IMMEDIATE transaction (the writer waits in busy_timeout, 5 s, so keep the
    hold short); PostgreSQL: a SHARE ROW EXCLUSIVE lock on ``record``, which blocks INSERT.
    """
    conn = engine.connect()
    try:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("LOCK TABLE record IN SHARE ROW EXCLUSIVE MODE")
        yield
    finally:
        conn.rollback()
        conn.close()
