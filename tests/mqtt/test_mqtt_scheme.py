"""The topic scheme and Home Assistant discovery, against the machine's Mosquitto (127.0.0.1:1883).

Each test uses its own site id, topic prefix and discovery prefix, and deletes the retained
messages it left behind.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.domain import CredentialFormat, mask_card_number
from gateway.records import NewRecord, RecordKind
from tests.mqtt.broker import SYSTEM_BROKER, Observer, clear_retained, wait_until
from tests.mqtt.rig import Rig, new_site_id, site_dict, start_rig, stop_rig

HOST, PORT = SYSTEM_BROKER


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[tuple[Rig, Observer]]:
    """A gateway publishing under test/<id>/sekisho with discovery under test/<id>/ha."""
    sid = new_site_id()
    prefix, ha = f"test/{sid}/sekisho", f"test/{sid}/ha"
    observer = Observer(PORT).start(f"{prefix}/#", f"{ha}/#")
    r = await start_rig(
        tmp_path, site_dict(sid, {"port": PORT, "prefix": prefix, "discovery": {"prefix": ha}})
    )
    try:
        yield r, observer
    finally:
        await stop_rig(r)
        observer.stop()
        clear_retained(PORT, f"test/{sid}/#")


def _json(payload: bytes) -> dict[str, object]:
    """A JSON object payload."""
    data = json.loads(payload)
    assert isinstance(data, dict)
    return data


async def test_status_is_online_then_offline_at_stop(tmp_path: Path) -> None:
    """Gateway status: retained ``online`` once connected, ``offline`` after a clean stop."""
    sid = new_site_id()
    prefix = f"test/{sid}/sekisho"
    mqtt = {"port": PORT, "prefix": prefix, "discovery": {"prefix": f"test/{sid}/ha"}}
    r = await start_rig(tmp_path, site_dict(sid, mqtt))
    try:
        await wait_until(lambda: r.service.status().connected, what="connected")
        late = Observer(PORT).start(f"{prefix}/status")  # joins later: sees the retained one
        await wait_until(lambda: bool(late.on(f"{prefix}/status")), what="retained status")
        first = late.on(f"{prefix}/status")[0]
        assert (first.payload, first.retain) == (b"online", True)
    finally:
        await stop_rig(r)
    await wait_until(lambda: late.on(f"{prefix}/status")[-1].payload == b"offline", what="offline")
    late.stop()
    clear_retained(PORT, f"test/{sid}/#")


async def test_door_zone_and_reader_state_are_retained_json(
    rig: tuple[Rig, Observer],
) -> None:
    """Door, zone and reader state: one retained JSON topic each, under the prefix."""
    r, obs = rig
    p = r.service.topics.prefix
    await wait_until(lambda: bool(obs.on(f"{p}/door/vault-door/state")), what="door state")
    await wait_until(lambda: bool(obs.on(f"{p}/zone/media-vault/state")), what="zone state")
    await wait_until(lambda: bool(obs.on(f"{p}/reader/sr-in/state")), what="reader state")
    door = _json(obs.on(f"{p}/door/sr-door/state")[-1].payload)
    assert door["door_id"] == "sr-door" and door["zone_id"] == "server-room"
    assert door["state"] == "fault"  # no I/O module in this rig: fail-secure fault
    zone = _json(obs.on(f"{p}/zone/media-vault/state")[-1].payload)
    assert zone == {
        "zone_id": "media-vault",
        "name": "Media vault",
        "kind": "media_vault",
        "doors": ["vault-door"],
        "doors_open": 0,
        "doors_in_alarm": 0,
        "doors_in_fault": 1,
        "locked_down": False,
    }
    reader = _json(obs.on(f"{p}/reader/sr-in/state")[-1].payload)
    assert reader["online"] is False and reader["tamper"] is False
    # a subscriber that comes later gets every state at once (retained)
    late = Observer(PORT).start(f"{p}/door/+/state")
    await wait_until(lambda: len(late.messages) >= 2, what="retained door states")
    assert all(m.retain for m in late.messages)
    late.stop()


async def test_records_are_events_with_their_time_and_no_credential(
    rig: tuple[Rig, Observer],
) -> None:
    """A record goes out on event/<kind>, QoS 1, not retained, with its own ts; the
    credential, PINs and whole card numbers never appear."""
    r, obs = rig
    p = r.service.topics.prefix
    when = datetime.now(UTC) - timedelta(seconds=42)
    card_key = "H10301:12:34567"
    rec = NewRecord(
        RecordKind.ACCESS,
        when,
        door_id="sr-door",
        zone_id="server-room",
        reader_id="sr-in",
        person_id="p1",
        credential=mask_card_number(CredentialFormat.H10301, 34567),
        outcome="denied",
        reason="InvalidPIN",
        detail={"pin": "2468", "card_key": card_key, "note": f"saw {card_key}", "ok": 1},
    )
    seq = await r.gateway.record(rec)
    topic = f"{p}/event/access.decision"
    await wait_until(lambda: bool(obs.on(topic)), what="access event")
    msg = obs.on(topic)[-1]
    assert msg.retain is False
    data = _json(msg.payload)
    assert data["seq"] == seq and data["kind"] == "access.decision"
    assert datetime.fromisoformat(str(data["ts"])) == when  # the time it happened
    assert "credential" not in data
    assert data["detail"] == {"note": "saw [redacted]", "ok": 1}
    raw = msg.payload.decode()
    assert "2468" not in raw and "34567" not in raw and "…567" not in raw
    # operator records stay inside
    await r.gateway.record(NewRecord(RecordKind.LOGIN, when, actor="alice"))
    await r.gateway.record(NewRecord(RecordKind.SYSTEM, when, detail={"event": "marker"}))
    await wait_until(lambda: bool(obs.on(f"{p}/event/system")), what="marker")
    await wait_until(
        lambda: any(b"marker" in m.payload for m in obs.on(f"{p}/event/system")), what="marker"
    )
    assert not obs.on(f"{p}/event/operator.login")


async def test_discovery_announces_locks_sensors_and_availability(
    rig: tuple[Rig, Observer],
) -> None:
    """Home Assistant discovery: each door a lock and a door binary_sensor, each reader a
    tamper binary_sensor, all tied to the gateway's status topic; retained."""
    r, obs = rig
    ha = r.service.topics.discovery_prefix
    sid = r.config.site.id
    lock_topic = f"{ha}/lock/sekisho_{sid}_door_sr-door_lock/config"
    await wait_until(lambda: bool(obs.on(lock_topic)), what="lock discovery")
    configs = {m.topic: _json(m.payload) for m in obs.under(ha) if m.topic.endswith("/config")}
    lock = configs[lock_topic]
    p = r.service.topics.prefix
    assert lock["state_topic"] == f"{p}/door/sr-door/state"
    assert lock["command_topic"] == f"{p}/cmd/homeassistant/door/sr-door"
    assert lock["availability_topic"] == f"{p}/status"
    assert (lock["payload_available"], lock["payload_not_available"]) == ("online", "offline")
    assert (lock["payload_lock"], lock["payload_unlock"]) == ("LOCK", "UNLOCK")
    assert lock["unique_id"] == f"sekisho_{sid}_door_sr-door_lock"
    assert "now()" in str(lock["command_template"])  # commands carry their time
    device = lock["device"]
    assert isinstance(device, dict) and device["identifiers"] == [f"sekisho_{sid}"]
    contact = configs[f"{ha}/binary_sensor/sekisho_{sid}_door_sr-door_contact/config"]
    assert contact["device_class"] == "door"
    tamper = configs[f"{ha}/binary_sensor/sekisho_{sid}_reader_sr-in_tamper/config"]
    assert tamper["device_class"] == "tamper"
    assert all(c["availability_topic"] == f"{p}/status" for c in configs.values())
    # retained: Home Assistant starting later gets them all at once
    late = Observer(PORT).start(f"{ha}/#")
    await wait_until(lambda: len(late.messages) >= len(configs), what="retained configs")
    assert {m.topic for m in late.messages if m.retain} >= set(configs)
    late.stop()


async def test_discovery_is_sent_again_when_home_assistant_comes_online(
    rig: tuple[Rig, Observer],
) -> None:
    """``online`` on Home Assistant's status topic makes the gateway announce again."""
    r, obs = rig
    ha = r.service.topics.discovery_prefix
    lock_topic = f"{ha}/lock/sekisho_{r.config.site.id}_door_vault-door_lock/config"
    await wait_until(lambda: bool(obs.on(lock_topic)), what="first announcement")
    before = len(obs.on(lock_topic))
    obs.publish(f"{ha}/status", b"offline")
    obs.publish(f"{ha}/status", b"online")
    await wait_until(lambda: len(obs.on(lock_topic)) > before, what="re-announcement")
