"""Helpers of the audit tests: a signed log filled with records, and raw access for tampering."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from gateway.audit.checkpoint import CheckpointPolicy
from gateway.audit.note import Signer
from gateway.records import NewRecord, RecordKind
from gateway.storage.record_log import RecordLog

SITE = "hq"
ORIGIN = "sekisho/hq"
T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)  # a Monday, 09:00 in Tokyo


def record(i: int, **fields: object) -> NewRecord:
    """The i-th test record: access decisions by three people at two doors, some denied."""
    values: dict[str, object] = {
        "kind": RecordKind.ACCESS,
        "ts": T0 + timedelta(minutes=i),
        "door_id": f"d{i % 2}",
        "zone_id": "srv",
        "reader_id": f"r{i % 2}",
        "person_id": f"p{i % 3}",
        "person_kind": "staff",
        "credential": f"H10301:…{i % 1000:03d}",
        "direction": "in",
        "outcome": "denied" if i % 5 == 0 else "granted",
        "reason": "Unauthorized" if i % 5 == 0 else "Granted",
        "detail": {"purpose": "maintenance", "n": i, "ratio": i / 8},
    }
    values.update(fields)
    return NewRecord(**values)  # type: ignore[arg-type]  # the tests pass each field's own type


def policy(signer: Signer, every: int = 100, every_s: float = 3600.0) -> CheckpointPolicy:
    """Checkpoints every ``every`` records."""
    return CheckpointPolicy(signer, ORIGIN, every_records=every, every_s=every_s)


async def append_all(log: RecordLog, records: Sequence[NewRecord]) -> list[int]:
    """Append in order, a few at a time in flight (so batches vary in size)."""
    seqs: list[int] = []
    for start in range(0, len(records), 37):
        seqs += await asyncio.gather(*(log.append(r) for r in records[start : start + 37]))
    return seqs


def filled(engine: Engine, signer: Signer, count: int, every: int = 100) -> RecordLog:
    """A closed log of ``count`` records with checkpoints every ``every``; returns the log."""
    log = RecordLog(engine, SITE, checkpoints=policy(signer, every))
    log.start()
    try:
        asyncio.run(append_all(log, [record(i) for i in range(count)]))
    finally:
        log.close(timeout=30)
    return log


def raw(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection with the storage guard removed: an attacker with the file."""
    conn = sqlite3.connect(path)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        conn.execute(f'DROP TRIGGER "{name}"')
    return conn
