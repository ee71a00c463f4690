"""Evidence files go with their records when retention purges them (4-8-6(3)).

Real record log (SQLite and PostgreSQL), a real chief-approved retention purge (issue 4's),
then the camera sweep: only files whose records were blanked are deleted.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from api.accounts import create_account
from gateway.audit.config import RetentionConfig
from gateway.audit.retention import purge_blocking
from gateway.cameras.crypto import EvidenceCipher
from gateway.cameras.retention import purge_cutoffs, purge_evidence
from gateway.cameras.store import EvidenceStore
from gateway.records import NewRecord, RecordKind
from gateway.storage.record_log import RecordLog

SITE = "hq"
T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
JPEG = b"\xff\xd8jpeg\xff\xd9"


@pytest.fixture
def log(engine: Engine) -> Iterator[RecordLog]:
    """A started record log."""
    started = RecordLog(engine, SITE)
    started.start()
    yield started
    started.close(timeout=30)


def _evidence(log: RecordLog, store: EvidenceStore, kind: RecordKind, day: int) -> str:
    """A picture for a record of ``kind`` on day ``day``: file first, then its record."""
    ts = T0 + timedelta(days=day)
    item = store.save(kind.value, "sr-cam", ts, "jpg", JPEG)
    rec = NewRecord(
        kind, ts, person_id="p1", detail={"camera": "sr-cam", "snapshot": item.as_detail()}
    )
    log.submit(rec).result(30)
    return item.file


def test_only_files_of_purged_records_are_deleted(
    engine: Engine, log: RecordLog, tmp_path: Path
) -> None:
    store = EvidenceStore(tmp_path / "evidence", EvidenceCipher(bytes(32)), SITE)
    old_snap = _evidence(log, store, RecordKind.CAMERA_SNAPSHOT, 0)
    new_snap = _evidence(log, store, RecordKind.CAMERA_SNAPSHOT, 40)
    old_tail = _evidence(log, store, RecordKind.ACCESS_TAILGATING, 0)
    orphan = store.save("camera.snapshot", "sr-cam", T0 + timedelta(days=1), "jpg", JPEG).file
    assert purge_evidence(engine, SITE, store).files == 0  # no purge yet: nothing goes

    with Session(engine) as session:
        create_account(session, SITE, "chief", "correct horse battery staple", "chief")
        session.commit()
    # pictures kept 30 days, tailgating records the default (3 years)
    policy = RetentionConfig(kinds={"camera.snapshot": 30}, approved_by="chief")
    now = T0 + timedelta(days=45)
    result = purge_blocking(
        engine, SITE, policy, approver=None, now=now, append=lambda r: log.submit(r).result(30)
    )
    assert result.purged == 1  # the day-0 snapshot record
    cutoffs, purge_seq = purge_cutoffs(engine, SITE)
    assert purge_seq == result.purge_seq
    assert cutoffs["camera.snapshot"] == now - timedelta(days=30)

    swept = purge_evidence(engine, SITE, store)
    assert swept.per_kind == {"camera.snapshot": 2}  # the purged one, and the orphan
    assert not (store.root / old_snap).exists()
    assert not (store.root / orphan).exists()
    assert store.load(new_snap, hashlib.sha256(JPEG).hexdigest()) == JPEG
    assert (store.root / old_tail).exists()
    assert purge_evidence(engine, SITE, store).files == 0  # idempotent


def test_a_file_whose_record_is_not_purged_yet_stays(
    engine: Engine, log: RecordLog, tmp_path: Path
) -> None:
    """A purge record whose blanking has not reached a record yet does not take its file."""
    store = EvidenceStore(tmp_path / "evidence", EvidenceCipher(bytes(32)), SITE)
    snap = _evidence(log, store, RecordKind.CAMERA_SNAPSHOT, 0)
    # an audit.purge record alone (as if the blanking were still to run)
    purge = NewRecord(
        RecordKind.AUDIT_PURGE,
        T0 + timedelta(days=45),
        actor="chief",
        detail={"cutoffs": {"camera.snapshot": (T0 + timedelta(days=15)).isoformat()}},
    )
    asyncio.run(log.append(purge))
    assert purge_evidence(engine, SITE, store).files == 0
    assert (store.root / snap).exists()
