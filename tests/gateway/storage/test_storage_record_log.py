"""The record log on SQLite and PostgreSQL: seqs, batching, bad input, conflicts (4-8-7(1))."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, event, select, text
from sqlmodel import SQLModel

from gateway.records import RecordKind
from gateway.storage.engine import make_engine
from gateway.storage.errors import LogClosed, SeqConflict, StorageError, WriteFailed
from gateway.storage.migrate import upgrade
from gateway.storage.models import Record
from gateway.storage.queries import get_record
from gateway.storage.record_log import RecordLog
from tests.gateway.storage.storage_support import HoldWrites, MakeRecord, new_record

RECORD = SQLModel.metadata.tables[Record.__tablename__]
WAIT = 30.0  # generous: a loaded 2-core machine


@pytest.fixture
def open_log(engine: Engine) -> Iterator[Callable[..., RecordLog]]:
    """Factory of started logs on ``engine``; every log is closed after the test."""
    logs: list[RecordLog] = []

    def start(site_id: str = "site-a", **kwargs: int) -> RecordLog:
        """A started log for ``site_id``."""
        log = RecordLog(engine, site_id, **kwargs)
        log.start()
        logs.append(log)
        return log

    yield start
    for log in logs:
        log.close(timeout=WAIT)


def _stored_seqs(engine: Engine, site_id: str = "site-a") -> list[int]:
    """Every seq of ``site_id`` in the database, ascending."""
    with engine.connect() as conn:
        stmt = select(RECORD.c.seq).where(RECORD.c.site_id == site_id).order_by(RECORD.c.seq)
        return list(conn.execute(stmt).scalars())


def _wait_until_writer_blocked(engine: Engine) -> None:
    """On PostgreSQL, wait until some backend waits for a lock (the writer, on the held lock)."""
    if engine.dialect.name != "postgresql":
        return  # SQLite shows no waiters; the held lock alone keeps every commit back
    deadline = time.monotonic() + WAIT
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    with engine.connect() as conn:
        while conn.execute(query).scalar_one() == 0:
            conn.rollback()
            assert time.monotonic() < deadline, "the writer never reached the held lock"
            time.sleep(0.01)


async def test_append_returns_gap_free_seqs_and_stores_the_record(
    engine: Engine, open_log: Callable[..., RecordLog], make_record: MakeRecord
) -> None:
    """Seqs 1, 2, 3 in order; the stored row holds every field, ts as the same UTC instant."""
    log = open_log()
    assert log.last_seq == 0
    jst = timezone(timedelta(hours=9))
    ts = datetime(2026, 11, 26, 9, 30, 15, 123456, tzinfo=jst)
    first = make_record(ts=ts, detail={"purpose": "patching", "ticket": 42})
    seqs = [
        await log.append(first),
        await log.append(make_record()),
        await log.append(make_record()),
    ]
    assert seqs == [1, 2, 3]
    assert log.last_seq == 3
    with engine.connect() as conn:
        stored = get_record(conn, "site-a", 1)
    assert stored is not None
    assert stored.ts == ts
    assert stored.ts.utcoffset() == timedelta(0)
    assert (stored.kind, stored.door_id, stored.zone_id, stored.reader_id) == (
        "access.decision",
        "d1",
        "z-server",
        "r1",
    )
    assert (stored.person_id, stored.person_kind, stored.credential, stored.direction) == (
        "p1",
        "staff",
        "H10301:…456",
        "in",
    )
    assert (stored.outcome, stored.reason, stored.actor) == ("granted", "Granted", None)
    assert stored.detail == {"purpose": "patching", "ticket": 42}


async def test_a_new_log_continues_after_the_last_committed_seq(
    engine: Engine, make_record: MakeRecord
) -> None:
    """start() reads the site's highest seq; other sites keep their own numbering."""
    first = RecordLog(engine, "site-a")
    first.start()
    assert [await first.append(make_record()) for _ in range(2)] == [1, 2]
    first.close()
    again = RecordLog(engine, "site-a")
    other = RecordLog(engine, "site-b")
    again.start()
    other.start()
    try:
        assert again.last_seq == 2
        assert await again.append(make_record()) == 3
        assert await other.append(make_record()) == 1
    finally:
        again.close()
        other.close()
    assert _stored_seqs(engine) == [1, 2, 3]
    assert _stored_seqs(engine, "site-b") == [1]


@pytest.mark.parametrize(
    ("fields", "error", "words"),
    [
        ({"ts": datetime(2026, 1, 1, 9, 0)}, ValueError, "timezone-aware"),  # noqa: DTZ001  (the naive datetime under test)
        ({"kind": "door.exploded"}, ValueError, "door.exploded"),
        ({"door_id": "d" * 64}, ValueError, "door_id is 64 characters"),
        ({"actor": "ad\x00min"}, ValueError, "NUL"),
        ({"person_id": "p\ud800"}, ValueError, "not valid Unicode"),
        ({"outcome": 1}, TypeError, "outcome must be text"),
        ({"detail": {"at": datetime(2026, 1, 1, tzinfo=UTC)}}, ValueError, "JSON"),
        ({"detail": {"x": float("nan")}}, ValueError, "JSON"),
        ({"detail": {"x": "\udc80"}}, ValueError, "JSON"),
        ({"detail": ["not", "a", "dict"]}, TypeError, "detail must be a dict"),
    ],
)
async def test_malformed_records_are_refused_at_the_call(
    sqlite_url: str,
    make_record: MakeRecord,
    fields: dict[str, object],
    error: type[Exception],
    words: str,
) -> None:
    """Bad input is a typed error to its caller before anything is queued; no seq is used."""
    engine = make_engine(sqlite_url)
    upgrade(engine)
    log = RecordLog(engine, "site-a")
    log.start()
    try:
        with pytest.raises(error, match=words):
            await log.append(make_record(**fields))
        with pytest.raises(error, match=words):
            log.submit(make_record(**fields))
        assert await log.append(make_record()) == 1
    finally:
        log.close()
        engine.dispose()


async def test_append_outside_start_and_close_is_refused(
    engine: Engine, make_record: MakeRecord
) -> None:
    """Before start() and after close() the log refuses records with LogClosed."""
    log = RecordLog(engine, "site-a")
    with pytest.raises(LogClosed):
        await log.append(make_record())
    log.start()
    with pytest.raises(LogClosed):
        log.start()
    log.close()
    log.close()  # closing twice is harmless
    with pytest.raises(LogClosed):
        log.submit(make_record())
    assert _stored_seqs(engine) == []


async def test_concurrent_threads_and_tasks_get_gap_free_ordered_seqs(
    engine: Engine, open_log: Callable[..., RecordLog], make_record: MakeRecord
) -> None:
    """Four threads and eight tasks at once: seqs are 1..N, each caller's in its own order."""
    log = open_log()
    per_thread, per_task = 150, 40
    thread_seqs: list[list[int]] = []

    def submitter() -> None:
        """One thread: submit its records, then wait for every seq."""
        futures = [log.submit(make_record(door_id="d-thread")) for _ in range(per_thread)]
        thread_seqs.append([f.result(timeout=WAIT) for f in futures])

    async def appender() -> list[int]:
        """One task: append its records one after another."""
        return [await log.append(make_record(door_id="d-task")) for _ in range(per_task)]

    threads = [threading.Thread(target=submitter) for _ in range(4)]
    for thread in threads:
        thread.start()
    task_seqs = await asyncio.wait_for(asyncio.gather(*(appender() for _ in range(8))), WAIT)
    for thread in threads:
        thread.join(WAIT)
    everyone = [*thread_seqs, *task_seqs]
    assert len(everyone) == 12
    for seqs in everyone:
        assert seqs == sorted(seqs), "a caller's records were numbered out of arrival order"
    total = 4 * per_thread + 8 * per_task
    assert sorted(s for seqs in everyone for s in seqs) == list(range(1, total + 1))
    assert _stored_seqs(engine) == list(range(1, total + 1))
    assert log.last_seq == total


def test_group_commit_puts_queued_records_in_one_batch(
    engine: Engine,
    open_log: Callable[..., RecordLog],
    make_record: MakeRecord,
    hold_writes: HoldWrites,
) -> None:
    """Records queued behind a slow commit go out together: one INSERT, one commit per batch."""
    log = open_log()
    inserts: list[bool] = []

    def count(_c: object, _cur: object, statement: str, *_args: object) -> None:
        """Count the INSERTs sent to the database."""
        if statement.startswith("INSERT INTO record"):
            inserts.append(True)

    event.listen(engine, "before_cursor_execute", count)
    try:
        with hold_writes(engine):
            futures = [log.submit(make_record()) for _ in range(600)]
            _wait_until_writer_blocked(engine)
            assert not any(f.done() for f in futures), "answered before the commit"
        seqs = [f.result(timeout=WAIT) for f in futures]
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert seqs == list(range(1, 601))
    stats = log.stats
    assert stats.records == 600
    assert stats.largest_batch >= 100
    assert stats.batches < 600 // 50
    assert len(inserts) == stats.batches


def test_max_batch_bounds_each_commit(
    engine: Engine,
    open_log: Callable[..., RecordLog],
    make_record: MakeRecord,
    hold_writes: HoldWrites,
) -> None:
    """No commit carries more than max_batch records."""
    log = open_log(max_batch=8)
    with hold_writes(engine):
        futures = [log.submit(make_record()) for _ in range(100)]
    assert [f.result(timeout=WAIT) for f in futures] == list(range(1, 101))
    assert log.stats.largest_batch == 8
    assert log.stats.batches >= 100 // 8


def test_close_commits_everything_queued(engine: Engine, make_record: MakeRecord) -> None:
    """close() drains the queue: every record submitted before it is committed and answered."""
    log = RecordLog(engine, "site-a")
    log.start()
    futures = [log.submit(make_record()) for _ in range(300)]
    log.close(timeout=WAIT)
    assert all(f.done() for f in futures)
    assert [f.result() for f in futures] == list(range(1, 301))
    assert _stored_seqs(engine) == list(range(1, 301))


async def test_a_cancelled_append_is_still_written_without_a_gap(
    engine: Engine,
    open_log: Callable[..., RecordLog],
    make_record: MakeRecord,
    hold_writes: HoldWrites,
) -> None:
    """Cancelling the waiting caller does not unwrite its record; the next seq follows it."""
    log = open_log()
    with hold_writes(engine):
        task = asyncio.create_task(log.append(make_record(door_id="d-cancelled")))
        await asyncio.sleep(0)  # let the task queue its record
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert await log.append(make_record()) == 2
    with engine.connect() as conn:
        cancelled = get_record(conn, "site-a", 1)
    assert cancelled is not None
    assert cancelled.door_id == "d-cancelled"


async def test_a_second_writer_for_the_same_site_is_detected(
    engine: Engine, open_log: Callable[..., RecordLog], make_record: MakeRecord
) -> None:
    """Two logs for one site: the one that collides gets SeqConflict and stops; no row is lost."""
    first, second = open_log(), open_log()
    assert await first.append(make_record(actor="first")) == 1
    with pytest.raises(SeqConflict, match="another writer"):
        await second.append(make_record(actor="second"))
    with pytest.raises(SeqConflict):
        await second.append(make_record(actor="second"))
    assert await first.append(make_record(actor="first")) == 2
    assert _stored_seqs(engine) == [1, 2]
    with engine.connect() as conn:
        actors = conn.execute(select(RECORD.c.actor).order_by(RECORD.c.seq)).scalars().all()
    assert actors == ["first", "first"]


_POISON = {
    "sqlite": [
        "CREATE TRIGGER poison BEFORE INSERT ON record WHEN NEW.door_id = 'poison' "
        "BEGIN SELECT RAISE(ABORT, 'poisoned record'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.door_id = 'poison' THEN "
        "RAISE EXCEPTION 'poisoned record' USING ERRCODE = 'check_violation'; END IF; "
        "RETURN NEW; END $$",
        "CREATE TRIGGER poison BEFORE INSERT ON record FOR EACH ROW EXECUTE FUNCTION poison()",
    ],
}


def test_a_record_the_database_refuses_fails_alone_without_a_gap(
    engine: Engine,
    open_log: Callable[..., RecordLog],
    make_record: MakeRecord,
    hold_writes: HoldWrites,
) -> None:
    """A batch with one record the database rejects: that caller fails, its neighbours commit."""
    with engine.begin() as conn:
        for statement in _POISON[engine.dialect.name]:
            conn.exec_driver_sql(statement)
    log = open_log()
    with hold_writes(engine):
        futures: list[Future[int]] = [
            log.submit(make_record(door_id=door)) for door in ("d1", "d2", "poison", "d3")
        ]
    assert futures[0].result(timeout=WAIT) == 1
    assert futures[1].result(timeout=WAIT) == 2
    with pytest.raises(WriteFailed, match="poisoned record"):
        futures[2].result(timeout=WAIT)
    assert futures[3].result(timeout=WAIT) == 3
    assert log.submit(make_record()).result(timeout=WAIT) == 4
    assert _stored_seqs(engine) == [1, 2, 3, 4]
    assert log.stats.failed_batches >= 1


def test_start_on_an_unmigrated_database_fails_clearly(sqlite_url: str) -> None:
    """No record table: start() raises a StorageError that says to migrate."""
    engine = make_engine(sqlite_url)
    try:
        log = RecordLog(engine, "site-a")
        with pytest.raises(StorageError, match="migrated"):
            log.start()
        with pytest.raises(LogClosed):
            log.submit(new_record(kind=RecordKind.SYSTEM))
    finally:
        engine.dispose()


@pytest.mark.parametrize(("site_id", "max_batch"), [("", 512), ("s" * 64, 512), ("s", 0)])
def test_bad_constructor_arguments_are_refused(
    engine: Engine, site_id: str, max_batch: int
) -> None:
    """An empty or over-long site id, or a batch size below one, is a ValueError."""
    with pytest.raises(ValueError, match=r"site id|max_batch"):
        RecordLog(engine, site_id, max_batch=max_batch)
