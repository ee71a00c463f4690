"""Record events from the record log behind a cursor: kill -9, lost announcements, the cap.

Records are never copied for MQTT: the cursor (``mqtt_cursor``) says how far the broker has
them and the rest are sent from memory or read back from the log. Against our own Mosquitto
(users, ACL) and SQLite/PostgreSQL; a persistent-session observer checks what arrived.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select

from gateway.mqtt import payloads
from gateway.mqtt.cursor import RecordCursor, published_kinds
from gateway.mqtt.outbox import Outbox, OutboxEvent
from gateway.records import NewRecord, RecordKind
from gateway.storage.models import RECORD_TABLE
from gateway.storage.record_log import RecordLog
from tests.mqtt.broker import Observer, wait_until
from tests.mqtt.conftest import BrokerFactory
from tests.mqtt.rig import (
    GATEWAY_USER,
    PASSWORDS,
    Rig,
    new_site_id,
    site_dict,
    start_rig,
    stop_rig,
    write_password,
)

ROOT = Path(__file__).resolve().parents[2]


def _mqtt(port: int, base: Path, **extra: Any) -> dict[str, Any]:
    """The site file's mqtt: section for our broker."""
    return {
        "port": port,
        "username": GATEWAY_USER,
        "password_file": write_password(base),
        "reconnect_max_s": 1,
        "discovery": {"enabled": False},
        **extra,
    }


def _observer(port: int, prefix: str, name: str) -> Observer:
    """A persistent-session observer of every event."""
    return Observer(
        port,
        username="observer",
        password=PASSWORDS["observer"],
        client_id=f"obs-{name}",
        persistent=True,
    ).start(f"{prefix}/event/#")


def _published_seqs(engine: Engine, site_id: str) -> list[int]:
    """Seqs of the site's records that go out as events, in order."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(RECORD_TABLE.c.seq, RECORD_TABLE.c.kind)
            .where(RECORD_TABLE.c.site_id == site_id)
            .order_by(RECORD_TABLE.c.seq)
        ).all()
    return [r.seq for r in rows if payloads.publishes(r.kind)]


def _first_seen(observer: Observer, prefix: str) -> list[int]:
    """Seqs in the order they first arrived (QoS 1: repeats possible, dropped here)."""
    seen: set[int] = set()
    order: list[int] = []
    for m in observer.under(f"{prefix}/event/"):
        seq = int(json.loads(m.payload)["seq"])
        if seq not in seen:
            seen.add(seq)
            order.append(seq)
    return order


async def _write(rig: Rig, n: int, **detail: object) -> list[int]:
    """``n`` system records, one after the other; their seqs."""
    return [
        await rig.gateway.record(
            NewRecord(RecordKind.SYSTEM, datetime.now(UTC), detail={"i": i, **detail})
        )
        for i in range(n)
    ]


# --- kill -9 ------------------------------------------------------------------------------------


async def test_kill_9_mid_stream_loses_nothing_and_keeps_the_order(
    tmp_path: Path, own_broker: BrokerFactory
) -> None:
    """A gateway killed with SIGKILL while writing and publishing: after a restart on the
    same database every published record reaches the subscriber, first arrivals in seq order
    (the ones after the stored cursor are sent again: at least once)."""
    sid = new_site_id()
    prefix = f"sekisho/{sid}"
    broker = own_broker(prefix, persistence=True)
    observer = _observer(broker.port, prefix, sid)
    raw = site_dict(sid, _mqtt(broker.port, tmp_path))
    child = await asyncio.create_subprocess_exec(  # the rig in its own process, killed below
        sys.executable,
        "-m",
        "tests.mqtt.crash_child",
        str(tmp_path),
        json.dumps(raw),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    committed: list[int] = []

    async def read() -> None:
        """Note every seq the child was told was committed."""
        assert child.stdout is not None
        async for line in child.stdout:
            committed.append(int(line))

    reader = asyncio.create_task(read())
    try:
        await wait_until(lambda: len(committed) >= 300, within=60, what="records written")
        await wait_until(lambda: len(observer.messages) >= 100, what="events delivered")
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()
        await reader
    last_acknowledged = committed[-1]
    r = await start_rig(tmp_path, raw)
    try:
        await _write(r, 20, after="restart")
        await wait_until(lambda: r.service.status().backlog == 0, what="backlog delivered")
        expected = _published_seqs(r.engine, sid)
        await wait_until(
            lambda: set(_first_seen(observer, prefix)) >= set(expected),
            what="every published record at the subscriber",
        )
        assert _first_seen(observer, prefix) == expected  # none lost, in order
        assert last_acknowledged in expected  # the writer had been told it was committed
    finally:
        await stop_rig(r)
        observer.stop()


# --- announcements that never come, or come late ---------------------------------------------


async def test_a_record_whose_writer_was_cancelled_is_read_from_the_log(
    tmp_path: Path, own_broker: BrokerFactory
) -> None:
    """A writer cancelled while its record was committed never announces it on the bus; the
    records after it wait a moment, then that stretch is read from the log: all delivered,
    in seq order."""
    sid = new_site_id()
    prefix = f"sekisho/{sid}"
    broker = own_broker(prefix)
    observer = _observer(broker.port, prefix, sid)
    r = await start_rig(tmp_path, site_dict(sid, _mqtt(broker.port, tmp_path)))
    try:
        await wait_until(lambda: r.service.status().connected, what="connected")
        await _write(r, 5)
        lost = asyncio.create_task(
            r.gateway.record(NewRecord(RecordKind.SYSTEM, datetime.now(UTC), detail={"x": 1}))
        )
        await asyncio.sleep(0)  # queued in the log's writer...
        lost.cancel()  # ...and nobody left to announce it
        await _write(r, 5)
        await wait_until(lambda: r.service.status().backlog == 0, what="delivered")
        expected = _published_seqs(r.engine, sid)
        await wait_until(
            lambda: set(_first_seen(observer, prefix)) >= set(expected), what="all at observer"
        )
        assert _first_seen(observer, prefix) == expected
        assert len(r.records(lambda rec: rec.detail.get("x") == 1)) == 0  # never announced
    finally:
        await stop_rig(r)
        observer.stop()


async def test_a_record_not_published_announced_late_holds_nothing_back(
    tmp_path: Path, own_broker: BrokerFactory
) -> None:
    """An operator record committed just before an event but announced after it (an awaited
    write and a fire-and-forget one in the same commit) does not make the event wait for the
    log fallback: the event arrives in milliseconds, not after the gap timeout."""
    sid = new_site_id()
    prefix = f"sekisho/{sid}"
    broker = own_broker(prefix)
    observer = _observer(broker.port, prefix, sid)
    r = await start_rig(tmp_path, site_dict(sid, _mqtt(broker.port, tmp_path)))
    took: list[float] = []
    try:
        await wait_until(lambda: r.service.status().connected, what="connected")
        for i in range(7):
            hidden = NewRecord(RecordKind.OPERATOR, datetime.now(UTC), actor="admin")
            task = asyncio.create_task(r.gateway.record(hidden))
            await asyncio.sleep(0)  # its append is queued first...
            start = time.monotonic()
            r.gateway.recorder.submit(  # ...this one after it, answered first
                NewRecord(RecordKind.SYSTEM, datetime.now(UTC), detail={"late": i})
            )
            await task
            await wait_until(
                lambda i=i: any(
                    json.loads(m.payload)["detail"].get("late") == i
                    for m in observer.under(f"{prefix}/event/")
                ),
                what=f"event {i}",
            )
            took.append(time.monotonic() - start)
        took.sort()
        assert took[len(took) // 2] < 0.3, took  # the gap timeout is 0.5 s
        assert _first_seen(observer, prefix) == _published_seqs(r.engine, sid)
    finally:
        await stop_rig(r)
        observer.stop()


# --- bounded backlog ----------------------------------------------------------------------------


async def test_beyond_the_cap_the_oldest_records_are_skipped_once_noted(
    tmp_path: Path, own_broker: BrokerFactory
) -> None:
    """Broker away and more than ``outbox_max_rows`` records waiting: the oldest are skipped
    (counted as dropped, one ``mqtt outbox full`` record for the episode); when the broker
    returns the newest arrive, in order, and nothing before the skipped point."""
    sid = new_site_id()
    prefix = f"sekisho/{sid}"
    broker = own_broker(prefix, persistence=True)
    observer = _observer(broker.port, prefix, sid)
    await asyncio.to_thread(broker.stop)
    r = await start_rig(tmp_path, site_dict(sid, _mqtt(broker.port, tmp_path, outbox_max_rows=100)))
    try:
        await _write(r, 260)
        await wait_until(lambda: r.service.status().dropped > 0, what="the cap reached")
        await wait_until(lambda: r.service.status().backlog <= 100, what="back under the cap")
        full = r.records(lambda rec: rec.detail.get("event") == "mqtt outbox full")
        assert len(full) == 1  # one per episode
        assert int(str(full[0].detail["skipped_through_seq"])) > 0
        cursor = RecordCursor(r.engine, sid)  # stored at every skip

        def dropped_are_the_skipped() -> bool:
            """Every published record up to the stored cursor is counted as dropped."""
            through = cursor.load() or 0
            published = _published_seqs(r.engine, sid)
            return r.service.status().dropped == len([s for s in published if s <= through])

        await wait_until(dropped_are_the_skipped, what="skips counted")
        skipped_through = cursor.load()
        assert skipped_through is not None
        await asyncio.to_thread(broker.start)
        await wait_until(lambda: r.service.status().connected, what="connected")
        await wait_until(lambda: r.service.status().backlog == 0, what="delivered")
        expected = [s for s in _published_seqs(r.engine, sid) if s > skipped_through]
        assert len(expected) >= 90
        await wait_until(
            lambda: set(_first_seen(observer, prefix)) >= set(expected), what="the newest"
        )
        assert _first_seen(observer, prefix) == expected
    finally:
        await stop_rig(r)
        observer.stop()


# --- upgrade and the SQL filter -------------------------------------------------------------


async def test_events_an_older_version_left_in_the_outbox_go_first(
    tmp_path: Path, own_broker: BrokerFactory
) -> None:
    """Rows of ``mqtt_outbox`` (record events copied there by a version before the cursor)
    are delivered, before the records written after the upgrade."""
    sid = new_site_id()
    prefix = f"sekisho/{sid}"
    broker = own_broker(prefix)
    observer = _observer(broker.port, prefix, sid)
    raw = site_dict(sid, _mqtt(broker.port, tmp_path))
    from gateway.storage.engine import make_engine  # noqa: PLC0415
    from gateway.storage.migrate import upgrade  # noqa: PLC0415

    engine = make_engine(sqlite_path=tmp_path / "sekisho.db")
    upgrade(engine)
    t0 = datetime.now(UTC) - timedelta(minutes=5)
    Outbox(engine, sid).add(
        [
            OutboxEvent(f"{prefix}/event/system", json.dumps({"seq": -i}).encode(), t0)
            for i in (3, 2, 1)
        ]
    )
    r = await start_rig(tmp_path, raw, engine=engine)
    try:
        new = await _write(r, 3)
        await wait_until(lambda: r.service.status().backlog == 0, what="delivered")
        await wait_until(lambda: len(_first_seen(observer, prefix)) >= 6, what="six events")
        order = _first_seen(observer, prefix)
        assert order[:3] == [-3, -2, -1]
        assert set(new) <= set(order[3:])
    finally:
        await stop_rig(r)
        observer.stop()


def test_the_sql_filter_is_the_publishing_rule(engine: Engine) -> None:
    """``published_kinds()`` in SQL picks exactly the kinds ``payloads.publishes`` sends, on
    SQLite and PostgreSQL (a kind with LIKE's wildcards included)."""
    kinds = [k.value for k in RecordKind] + ["system_x", "access_decision", "door%x"]
    with engine.begin() as conn:
        conn.execute(
            insert(RECORD_TABLE),
            [
                {"site_id": "s1", "seq": i + 1, "ts": datetime.now(UTC), "kind": k, "detail": {}}
                for i, k in enumerate(kinds)
            ],
        )
        got = set(
            conn.execute(
                select(RECORD_TABLE.c.kind).where(RECORD_TABLE.c.site_id == "s1", published_kinds())
            ).scalars()
        )
    assert got == {k for k in kinds if payloads.publishes(k)}
    cursor = RecordCursor(engine, "s1")
    assert cursor.count_published(0, len(kinds)) == len(got)


def test_the_cursor_starts_at_the_head_and_only_moves_forward(engine: Engine) -> None:
    """A first start begins at the log's head (older records are not sent); save never moves
    it back; a cursor beyond the log's head (a log that is not the one it counted) is moved
    back to the head at start."""
    log = RecordLog(engine, "s2")
    log.start()
    try:
        for _ in range(3):
            log.submit(NewRecord(RecordKind.SYSTEM, datetime.now(UTC))).result(10)
    finally:
        log.close()
    cursor = RecordCursor(engine, "s2")
    assert cursor.load() is None
    assert cursor.open() == (3, 3)
    cursor.save(2)
    assert cursor.load() == 3
    cursor.save(5)
    assert cursor.load() == 5
    assert [r.seq for r in cursor.read(0, 3, 10)] == [1, 2, 3]
    assert cursor.nth_published(0, 3, 2) == 2
    assert cursor.open() == (3, 3)  # beyond the log's head (not this log's cursor): moved back
    assert cursor.load() == 3


def test_an_event_read_back_from_the_log_is_the_same_bytes(engine: Engine) -> None:
    """A record sent from memory and the same record read back from the log after an outage
    make the same event, byte for byte (subscribers see one event, whichever way it came)."""
    recs = [
        NewRecord(
            RecordKind.ACCESS,
            datetime(2026, 11, 27, 0, 1, 2, 345678, tzinfo=UTC),
            door_id="sr-door",
            zone_id="server-room",
            reader_id="sr-in",
            person_id="p" * 32,
            person_kind="staff",
            credential="H10301:…456",
            direction="in",
            outcome="granted",
            detail={"rules": ["apb", "purpose"], "pin": "1234", "note": "card H10301:12:3456"},
        ),
        NewRecord(RecordKind.SYSTEM, datetime.now(UTC), detail={"f": 1.5, "t": (1, 2), "n": None}),
    ]
    log = RecordLog(engine, "s3")
    log.start()
    try:
        seqs = [log.submit(rec).result(10) for rec in recs]
    finally:
        log.close()
    stored = RecordCursor(engine, "s3").read(0, seqs[-1], 10)
    for seq, rec, back in zip(seqs, recs, stored, strict=True):
        assert payloads.record_event("s3", seq, rec) == payloads.record_event("s3", seq, back)
