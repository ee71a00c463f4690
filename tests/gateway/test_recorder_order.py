"""The recorder keeps the log in the order things happened across a storage outage (4-8-6(4)).

A real ``RecordLog`` (SQLite and PostgreSQL); ``tests.failing_disk`` in front of it refuses
writes while it is down, as a broken disk would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from gateway.bus import Bus
from gateway.core_events import RecordWritten, StorageChanged
from gateway.recorder import Recorder
from gateway.records import NewRecord, RecordKind
from gateway.storage.errors import WriteFailed
from gateway.storage.record_log import RecordLog
from tests.failing_disk import MESSAGE, FailingDisk

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.fixture
async def rig(engine: Engine) -> AsyncIterator[tuple[FailingDisk, Recorder, Bus]]:
    """A recorder over a flaky disk over a real log."""
    disk = FailingDisk(RecordLog(engine, "s1"))
    disk.log.start()
    bus = Bus()
    yield disk, Recorder(disk, bus), bus
    disk.log.close()


def _rec(n: int) -> NewRecord:
    """The ``n``-th record, ``n`` seconds after T0."""
    return NewRecord(RecordKind.SYSTEM, T0 + timedelta(seconds=n), detail={"n": n})


async def _until(check: Callable[[], bool], within: float = 10.0) -> None:
    """Wait until ``check()`` is true."""
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while not check():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.02)


async def test_nothing_overtakes_the_held_records(rig: tuple[FailingDisk, Recorder, Bus]) -> None:
    """Records made after the disk returns wait behind those held during the outage."""
    disk, recorder, bus = rig
    written: list[NewRecord] = []
    storage: list[StorageChanged] = []
    bus.subscribe(RecordWritten, lambda e: written.append(e.record))
    bus.subscribe(StorageChanged, storage.append)

    disk.down = True
    recorder.submit(_rec(1))
    await _until(lambda: recorder.failing_since is not None)
    assert [s.failing_since is not None for s in storage] == [True]
    assert MESSAGE in storage[0].error
    recorder.submit(_rec(2))
    await _until(lambda: recorder.backlog == 2)

    disk.down = False  # the disk is back before the retry loop has noticed
    recorder.submit(_rec(3))  # queued behind the held ones, not written ahead of them
    assert recorder.backlog == 3
    seq4 = await recorder.append(_rec(4))  # an awaited write drains the held ones first
    # ... and the record of the outage closes them, before anything new.
    assert [r.detail.get("n", r.detail.get("event")) for r in written] == [
        1, 2, 3, "storage_recovered", 4
    ]  # fmt: skip
    assert seq4 == 5
    assert recorder.backlog == 0
    assert recorder.failing_since is None
    assert [s.failing_since is None for s in storage] == [False, True]


async def test_an_awaited_write_during_the_outage_raises(
    rig: tuple[FailingDisk, Recorder, Bus],
) -> None:
    """While held records cannot be written, an awaited write fails too (a grant is refused)."""
    disk, recorder, _ = rig
    disk.down = True
    recorder.submit(_rec(1))
    await _until(lambda: recorder.backlog == 1)
    with pytest.raises(WriteFailed, match="disk I/O error"):
        await recorder.append(_rec(2))
    assert recorder.backlog == 1  # the caller decides what a failed awaited write means
