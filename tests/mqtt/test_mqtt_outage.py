"""Durable events: the broker stopped and restarted mid-stream loses no event.

Our own Mosquitto (users, ACL, persistence) on a free port; a persistent-session observer that
reconnects by itself; a producer writing a record every few milliseconds throughout. Record
events wait in the record log behind the delivery cursor (``mqtt_cursor``), never copied.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from gateway.mqtt.cursor import RecordCursor
from gateway.mqtt.outbox import Outbox
from gateway.records import NewRecord, RecordKind
from gateway.storage.models import RECORD_TABLE
from tests.mqtt.broker import Observer, wait_until
from tests.mqtt.conftest import BrokerFactory
from tests.mqtt.rig import (
    GATEWAY_USER,
    PASSWORDS,
    new_site_id,
    site_dict,
    start_rig,
    stop_rig,
    write_password,
)


async def test_broker_restart_mid_stream_loses_nothing(
    tmp_path: Path, own_broker: BrokerFactory
) -> None:
    """Events made while the broker is down wait in the record log and arrive after it returns:
    all of them, in order, each with its original timestamp; the cursor is at the end after."""
    sid = new_site_id()
    prefix = f"sekisho/{sid}"
    broker = own_broker(prefix, persistence=True)
    observer = Observer(
        broker.port,
        username="observer",
        password=PASSWORDS["observer"],
        client_id=f"obs-{sid}",
        persistent=True,
    ).start(f"{prefix}/event/#")
    mqtt = {
        "port": broker.port,
        "username": GATEWAY_USER,
        "password_file": write_password(tmp_path),
        "reconnect_max_s": 1,
        "discovery": {"enabled": False},
    }
    r = await start_rig(tmp_path, site_dict(sid, mqtt))
    outbox = Outbox(r.engine, sid)
    cursor = RecordCursor(r.engine, sid)
    produced: list[tuple[int, datetime]] = []
    running = True

    async def produce() -> None:
        """Write a record every 5 ms until told to stop."""
        n = 0
        while running:
            ts = datetime.now(UTC)
            seq = await r.gateway.record(NewRecord(RecordKind.SYSTEM, ts, detail={"n": n}))
            produced.append((seq, ts))
            n += 1
            await asyncio.sleep(0.005)

    try:
        await wait_until(lambda: r.service.status().connected, what="connected")
        producer = asyncio.create_task(produce())
        await wait_until(lambda: len(produced) >= 40, what="events before the outage")
        await asyncio.to_thread(broker.stop)
        await wait_until(lambda: not r.service.status().connected, what="link down")
        down_at = len(produced)
        await wait_until(lambda: len(produced) >= down_at + 60, what="events during the outage")
        # waiting while the broker is away: counted, and behind the stored cursor
        await wait_until(lambda: r.service.status().backlog >= 50, what="events waiting")
        assert not r.service.status().connected
        stored = cursor.load()  # a quick read on the loop: a test
        assert stored is not None and stored < produced[-1][0] - 50
        await asyncio.to_thread(broker.start)
        await wait_until(lambda: r.service.status().connected, what="link back")
        up_at = len(produced)
        await wait_until(lambda: len(produced) >= up_at + 40, what="events after the outage")
        running = False
        await producer
        await wait_until(lambda: r.service.status().backlog == 0, what="outbox drained")
    finally:
        running = False
        await stop_rig(r, dispose=False)

    # Every published record of the log, in seq order, is what the observer saw.
    with r.engine.connect() as conn:
        rows = conn.execute(
            select(RECORD_TABLE.c.seq, RECORD_TABLE.c.kind, RECORD_TABLE.c.ts)
            .where(RECORD_TABLE.c.site_id == sid)
            .order_by(RECORD_TABLE.c.seq)
        ).all()
    r.engine.dispose()
    expected = [
        row.seq for row in rows if row.kind in ("system", "mqtt.connected", "mqtt.disconnected")
    ]
    await wait_until(
        lambda: {_seq(m.payload) for m in observer.messages} >= set(expected),
        what="every event at the observer",
    )
    observer.stop()
    first_seen: dict[int, dict[str, object]] = {}
    order: list[int] = []
    for m in observer.messages:
        data = json.loads(m.payload)
        if data["seq"] not in first_seen:  # QoS 1: a repeat is possible, a gap is not
            first_seen[data["seq"]] = data
            order.append(data["seq"])
    assert order == expected  # none lost, in order
    ts_of = {row.seq: row.ts for row in rows}
    for seq, data in first_seen.items():
        assert datetime.fromisoformat(str(data["ts"])) == ts_of[seq]  # original time
    kinds = [row.kind for row in rows]
    assert "mqtt.disconnected" in kinds and kinds.count("mqtt.connected") >= 2
    assert outbox.count() == 0  # no record was copied to the outbox
    assert cursor.load() == rows[-1].seq  # stored at stop: every record delivered


def _seq(payload: bytes) -> int:
    """The record seq in an event payload."""
    return int(json.loads(payload)["seq"])
