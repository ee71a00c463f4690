"""The record log survives SIGKILL, and fails loudly then recovers when storage fails (4-8-6(4))."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, make_url, select
from sqlmodel import SQLModel

from gateway.storage.engine import make_engine
from gateway.storage.errors import WriteFailed
from gateway.storage.migrate import upgrade
from gateway.storage.models import Record
from gateway.storage.record_log import RecordLog
from tests.conftest import PG_ADMIN_DSN
from tests.gateway.storage.storage_support import MakeRecord

HERE = Path(__file__).parent
RECORD = SQLModel.metadata.tables[Record.__tablename__]
WAIT = 60.0  # generous: a loaded 2-core machine


def _stored_seqs(engine: Engine) -> list[int]:
    """Every seq of site-a in the database, ascending."""
    with engine.connect() as conn:
        stmt = select(RECORD.c.seq).where(RECORD.c.site_id == "site-a").order_by(RECORD.c.seq)
        return list(conn.execute(stmt).scalars())


def _run_helper(script: str, url: str) -> subprocess.Popen[str]:
    """Start one of the helper scripts beside this file on ``url``."""
    return subprocess.Popen(
        [sys.executable, str(HERE / script), url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_an_append_that_returned_survives_sigkill(db_url: str) -> None:
    """Kill the appending process mid-stream: every seq it was given is in the database."""
    engine = make_engine(db_url)
    upgrade(engine)
    proc = _run_helper("proc_append_until_killed.py", db_url)
    watchdog = threading.Timer(WAIT, proc.kill)  # a helper that hangs must not hang the suite
    watchdog.start()
    try:
        assert proc.stdout is not None
        printed: list[int] = []
        for line in proc.stdout:
            printed.append(int(line))
            if len(printed) >= 200:
                os.kill(proc.pid, signal.SIGKILL)  # right after an append returned
                break
        rest, errors = proc.communicate(timeout=WAIT)
        printed += [int(line) for line in rest.split()]
        assert proc.returncode == -signal.SIGKILL, errors
        assert printed == list(range(1, len(printed) + 1))
        stored = _stored_seqs(engine)
        assert stored[: len(printed)] == printed, "a returned append was lost"
        assert stored == list(range(1, len(stored) + 1))
        # A restarted log carries on after everything that was committed.
        log = RecordLog(engine, "site-a")
        log.start()
        log.close()
        assert log.last_seq == len(stored)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=WAIT)
        engine.dispose()


def test_a_full_disk_fails_the_callers_leaves_no_gap_and_recovers(sqlite_url: str) -> None:
    """Under a zero file-size limit appends raise WriteFailed; seqs go on unbroken after."""
    engine = make_engine(sqlite_url)
    upgrade(engine)
    proc = _run_helper("proc_append_past_file_limit.py", sqlite_url)
    try:
        out, errors = proc.communicate(timeout=WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=WAIT)
    assert proc.returncode == 0, errors
    seen = json.loads(out)
    assert seen["before"] == [1, 2, 3]
    assert len(seen["failures"]) == 2
    for failure in seen["failures"]:
        assert failure.startswith("WriteFailed: "), failure
        assert "disk I/O error" in failure, failure
        assert "sqlalche.me" not in failure, failure
    assert seen["seq_during"] == 3
    assert seen["after"] == [4, 5]
    assert _stored_seqs(engine) == [1, 2, 3, 4, 5]
    engine.dispose()


@pytest.mark.postgres
async def test_a_lost_database_connection_fails_the_callers_and_recovers(
    postgres_url: str, make_record: MakeRecord
) -> None:
    """The server kills the writer's session: that append fails, the next one reconnects."""
    engine = make_engine(postgres_url)
    upgrade(engine)
    log = RecordLog(engine, "site-a")
    log.start()
    try:
        assert await log.append(make_record()) == 1
        _terminate_sessions(make_url(postgres_url).database or "")
        with pytest.raises(WriteFailed, match="record not stored in postgresql"):
            await log.append(make_record())
        assert log.last_seq == 1
        assert await log.append(make_record()) == 2
        assert await log.append(make_record()) == 3
        assert _stored_seqs(engine) == [1, 2, 3]
        assert log.stats.failed_batches == 1
    finally:
        log.close()
        engine.dispose()


def _terminate_sessions(database: str) -> None:
    """Kill every session on ``database`` (as an administrator would), waiting until they end."""
    query = (
        "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
        "WHERE datname = %s AND pid <> pg_backend_pid()"
    )
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        killed = admin.execute(query, (database,)).fetchall()
    assert killed, "no session to terminate"
