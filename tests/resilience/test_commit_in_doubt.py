"""A commit whose answer is lost: the record must be in the log exactly once (4-8-6(4)).

On PostgreSQL the writer's INSERT can reach the server and commit while the connection dies
before the answer comes back. The writer cannot tell from the error whether it took effect; a
blind retry would write the record twice. A real PostgreSQL server sits behind a TCP relay
(``resilience.tcp_cut``) that lets the INSERT through and loses its reply, or cuts the link.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url

from gateway.audit.verify import verify_log
from gateway.bus import Bus
from gateway.core_events import RecordWritten
from gateway.recorder import Recorder
from gateway.records import NewRecord, RecordKind
from gateway.storage.engine import make_engine
from gateway.storage.errors import StorageError
from gateway.storage.migrate import upgrade
from gateway.storage.models import RECORD_TABLE
from gateway.storage.record_log import RecordLog
from resilience.tcp_cut import TcpCut

pytestmark = pytest.mark.postgres
SITE = "site-a"
INSERT = b"INSERT INTO record"


@pytest.fixture
def relay(postgres_url: str) -> Iterator[tuple[TcpCut, Engine, Engine]]:
    """(relay, engine through the relay, direct engine) on a fresh migrated database."""
    direct = make_engine(postgres_url)
    upgrade(direct)
    url = make_url(postgres_url)
    with TcpCut((url.host or "127.0.0.1", url.port or 5432)) as cut:
        through = make_engine(url.set(port=cut.port).render_as_string(hide_password=False))
        try:
            yield cut, through, direct
        finally:
            through.dispose()
            direct.dispose()


def _rec(n: int) -> NewRecord:
    """A door record numbered ``n`` in its detail."""
    return NewRecord(RecordKind.DOOR_OPENED, datetime.now(UTC), door_id="d1", detail={"n": n})


def _count(engine: Engine, n: int) -> int:
    """How many stored records carry number ``n``."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(RECORD_TABLE.c.detail).where(RECORD_TABLE.c.site_id == SITE)
        ).scalars()
        return sum(1 for d in rows if d.get("n") == n)


def _size(engine: Engine) -> int:
    """Records stored for the site."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(RECORD_TABLE).where(RECORD_TABLE.c.site_id == SITE)
            ).scalar_one()
        )


async def _until(cond, within: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    """Poll ``cond`` until it holds."""
    deadline = time.monotonic() + within
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_lost_reply_to_an_awaited_append_resolves_to_the_landed_record(relay) -> None:  # type: ignore[no-untyped-def]
    """The writer looks at once: the caller gets the seq of the record that landed."""
    cut, through, direct = relay
    log = RecordLog(through, SITE)
    log.start()
    try:
        assert await log.append(_rec(1)) == 1
        cut.lose_reply_after(INSERT)
        seq = await log.append(_rec(2))  # the INSERT committed; its answer was lost
        assert cut.lost_replies == 1
        assert seq == 2
        assert await log.append(_rec(3)) == 3
    finally:
        log.close()
    assert [_count(direct, n) for n in (1, 2, 3)] == [1, 1, 1]
    assert verify_log(direct, SITE).ok


async def test_retried_record_whose_commit_was_in_doubt_is_not_written_twice(relay) -> None:  # type: ignore[no-untyped-def]
    """The server stays unreachable after the lost reply: the record waits, then lands once."""
    cut, through, direct = relay
    log = RecordLog(through, SITE)
    log.start()
    bus = Bus()
    written: list[int] = []
    bus.subscribe(RecordWritten, lambda e: written.append(e.seq))
    recorder = Recorder(log, bus)
    try:
        await recorder.append(_rec(1))
        cut.lose_reply_after(INSERT)
        # Cut the link the moment the reply is lost, so the writer cannot look at once.
        orig = cut.lost_replies

        def watch() -> None:
            """Cut the link as soon as the relay lost a reply."""
            while cut.lost_replies == orig:
                time.sleep(0.001)
            cut.cut()

        watcher = asyncio.get_running_loop().run_in_executor(None, watch)
        recorder.submit(_rec(2))
        await watcher
        await _until(lambda: recorder.backlog == 1 or _count(direct, 2) == 1)
        await asyncio.sleep(1.5)  # at least one retry while the link is down
        cut.restore()
        # The held record, then the record of the outage (``storage_recovered``).
        await _until(lambda: recorder.backlog == 0 and len(written) == 3)
        await recorder.append(_rec(3))
    finally:
        await recorder.close()
        log.close()
    assert [_count(direct, n) for n in (1, 2, 3)] == [1, 1, 1], "a record was written twice"
    assert written == [1, 2, 3, 4]
    assert _size(direct) == 4
    assert verify_log(direct, SITE).ok


async def test_a_batch_that_did_not_land_fails_and_is_written_once_on_retry(relay) -> None:  # type: ignore[no-untyped-def]
    """Cut before the INSERT reached the server: a definite failure, then one record."""
    cut, through, direct = relay
    log = RecordLog(through, SITE)
    log.start()
    try:
        await log.append(_rec(1))
        cut.cut()
        with pytest.raises(StorageError):
            await log.append(_rec(2))
        cut.restore()
        assert await log.append(_rec(2)) == 2
    finally:
        log.close()
    assert [_count(direct, n) for n in (1, 2)] == [1, 1]
    assert verify_log(direct, SITE).ok
