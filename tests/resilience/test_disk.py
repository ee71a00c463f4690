"""Disk drills: the database's file system fills up, or its files become unwritable, and recover.

* **Full**: the site's folder is a small tmpfs of its own (``mount -t tmpfs -o size=…``, we
  run as root); a filler file takes the rest of it, so SQLite gets a real ENOSPC. Deleting
  the filler is "space returns".
* **Read-only**: ``chattr +i`` on the database, its WAL and the folder (ext4): every write,
  even through descriptors already open, fails with EPERM, as on a file system remounted
  read-only after errors (a tmpfs cannot be remounted read-only while SQLite holds it open).
  ``chattr -i`` is the repair.

Either way: a grant cannot be recorded, so the door stays locked and the denial
(``RecordingFailed``) waits in memory with every other record; a CRITICAL line says what is
wrong; when the disk recovers the held records are written in order, a ``system`` record
``storage_recovered`` says how long the log was unavailable, nothing is lost or duplicated and
the log verifies (4-8-6(4)).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.audit.verify import verify_log
from gateway.records import NewRecord, RecordKind
from gateway.storage.errors import StorageError
from sekisho.simulated import SimulatedSite, start_simulated_site, stop_simulated_site

K = RecordKind
TAG = "EM4100:10:305419896"
TAG2 = "EM4100:10:305419897"
WAIT = 30.0
STORAGE_ALARM = "system.storage_unavailable"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MiB tmpfs of the test's own (skipped, saying why, where mounting is not allowed)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder: Path) -> Path:
    """Take every free byte of ``folder``'s file system with one file; returns it."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 1 << 12, 1):
            block = b"\0" * size
            while True:
                try:
                    os.write(fd, block)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return filler


async def _until_log_fails(h: SimulatedSite) -> int:
    """Append padded records until the log refuses one (the WAL must grow into the full disk)."""
    for i in range(5_000):
        try:
            await h.gateway.record(
                NewRecord(
                    K.SYSTEM, datetime.now(UTC), detail={"drill": "fill", "i": i, "pad": "x" * 4000}
                )
            )
        except StorageError:
            return i
    raise AssertionError("the log never failed on a full disk")


async def _outage_and_recovery(
    h: SimulatedSite, repair: object, caplog: pytest.LogCaptureFixture
) -> None:
    """The part both drills share, from a failing log to the checks after recovery."""
    writes: list[tuple[int, bool]] = []
    h.sim._modules["io1"].on_coil_write = lambda coil, level, _ns: writes.append((coil, level))
    mark = h.last_seq
    # A grant cannot be recorded: denied, door stays locked, the denial waits in memory.
    await h.sim.badge("vault-in", TAG)
    await h.wait_until(lambda: h.gateway.recorder.failing_since is not None, WAIT, "outage seen")
    assert not any(level for _, level in writes), writes
    assert any(
        r.levelno == logging.CRITICAL and "record log unavailable" in r.getMessage()
        for r in caplog.records
    )
    assert h.stack is not None
    alarms = h.stack.alarms
    # The console has the outage at once, although no record can be written (4-8-6(4)).
    await h.wait_until(
        lambda: any(a.type == STORAGE_ALARM and a.condition_active for a in alarms.active()),
        WAIT,
        "storage alarm raised",
    )
    # Door events meanwhile are held too, in order.
    await h.sim.door("vault-door", "rex")
    await h.wait_until(lambda: h.gateway.recorder.backlog >= 3, WAIT, "door records held")
    held = h.gateway.recorder.backlog
    assert h.last_seq == mark  # nothing was committed during the outage

    repair()  # type: ignore[operator]
    _, recovered = await h.wait_record(
        lambda r: r.kind is K.SYSTEM and r.detail.get("event") == "storage_recovered",
        within=WAIT,
        after=mark,
    )
    assert int(recovered.detail["held"]) >= held  # type: ignore[call-overload]
    assert h.gateway.recorder.backlog == 0 and h.gateway.recorder.failing_since is None
    await h.wait_until(
        lambda: not any(a.type == STORAGE_ALARM and a.condition_active for a in alarms.active()),
        WAIT,
        "storage alarm cleared by the recovery record",
    )
    raised = [r for s, r in h.written if s > mark and r.kind is K.ALARM_RAISED]
    assert [r.detail["type"] for r in raised if r.detail["type"] == STORAGE_ALARM] == [
        STORAGE_ALARM
    ]
    after = [(s, r) for s, r in h.written if s > mark]
    decision = [r for _, r in after if r.kind is K.ACCESS]
    assert [(r.outcome, r.reason) for r in decision] == [("denied", "RecordingFailed")]
    kinds = [r.kind for _, r in after]
    assert kinds.index(K.ACCESS) < kinds.index(K.DOOR_REX) < kinds.index(K.SYSTEM)
    # Held records keep the time they happened: in seq order, their times never go back.
    times = [r.ts for _, r in after]
    assert times == sorted(times)

    # Decisions work again, and the store is sound.
    _, granted = await h.badge("vault-in", TAG2)
    assert granted.outcome == "granted"
    with h.engine.connect() as conn:
        assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        seqs = [s for (s,) in conn.execute(text("SELECT seq FROM record ORDER BY seq"))]
    assert seqs == list(range(1, len(seqs) + 1))
    assert {s for s, _ in h.written} <= set(seqs)
    assert verify_log(h.engine, h.config.site.id).ok


async def _site(folder: Path) -> SimulatedSite:
    """The demo site in ``folder`` with two tag holders."""
    h = await start_simulated_site(folder)
    zones = (("server-room", "always"), ("media-vault", "always"))
    await h.add_person("Suzuki Ichiro", TAG, zones=zones)
    await h.add_person("Kato Jun", TAG2, zones=zones)
    return h


async def test_disk_full_then_space_returns(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ENOSPC on a full tmpfs: grants refused, records held, written in order after."""
    caplog.set_level(logging.WARNING)
    h = await _site(small_disk / "site")
    filler: Path | None = None
    try:
        filler = _fill(small_disk)
        await _until_log_fails(h)
        assert any("full" in r.getMessage() for r in caplog.records), "no clear log line"
        await _outage_and_recovery(h, filler.unlink, caplog)
    finally:
        if filler is not None:
            filler.unlink(missing_ok=True)
        await stop_simulated_site(h)


@pytest.fixture
def immutable() -> Iterator[list[Path]]:
    """Paths made immutable by a test; made mutable again afterwards whatever happened."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr (e2fsprogs) is not installed")
    paths: list[Path] = []
    yield paths
    _chattr_quietly("-i", paths)


def _chattr_quietly(flag: str, paths: list[Path]) -> None:
    """Set or clear a flag, ignoring failures (cleanup)."""
    for p in paths:
        subprocess.run(["chattr", flag, str(p)], check=False, capture_output=True)


def _chattr(flag: str, paths: list[Path]) -> None:
    """Set or clear a flag; skip the drill where chattr is refused."""
    done = subprocess.run(
        ["chattr", flag, *map(str, paths)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"chattr {flag} refused here: {done.stderr.strip()}")


async def test_database_files_become_read_only_then_writable(
    tmp_path: Path, immutable: list[Path], caplog: pytest.LogCaptureFixture
) -> None:
    """EPERM on every write (immutable files): the same outage and recovery."""
    caplog.set_level(logging.WARNING)
    h = await _site(tmp_path / "site")
    try:
        db = h.data_dir / "sekisho.db"
        files = [db, Path(f"{db}-wal"), h.data_dir]
        files = [p for p in files if p.exists()]
        immutable.extend(files)
        _chattr("+i", files)
        with contextlib.suppress(StorageError):
            await _until_log_fails(h)
        await _outage_and_recovery(h, lambda: _chattr("-i", files), caplog)
    finally:
        _chattr_quietly("-i", immutable)
        await stop_simulated_site(h)
    assert os.access(h.data_dir / "sekisho.db", os.W_OK)
