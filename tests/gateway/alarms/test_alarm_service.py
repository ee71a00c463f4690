"""The alarm console on a real record log and store (SQLite file and PostgreSQL).

4-8-7(4)(5): records raise and clear alarms through the catalogue; repeats are counted; every
transition is a record; the console survives a restart; unacknowledged alarms escalate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from gateway.alarms.model import AlarmRefused, AlarmState, UnknownAlarm
from gateway.core_api import DoorStatus, ReaderStatus
from gateway.core_events import DoorChanged, ReaderChanged, SensorChanged
from gateway.domain import AuthMode, DoorMode, DoorState
from gateway.environment.model import SensorKind, SensorState
from gateway.records import RecordKind as K
from gateway.storage.models import AlarmRow
from tests.gateway.alarms.alarm_support import Core, add_account, site_config, start_core, stop_core


@pytest.fixture
async def core(engine: Engine) -> AsyncIterator[Core]:
    """Services on a fresh migrated database."""
    c = await start_core(engine)
    try:
        yield c
    finally:
        await stop_core(c)


def the_one(core: Core, type_: str) -> str:
    """The id of the only open alarm of a type."""
    ids = [a.alarm_id for a in core.alarms.active() if a.type == type_]
    assert len(ids) == 1, core.alarms.active()
    return ids[0]


async def test_door_forced_raised_counted_cleared_acknowledged_closed(core: Core) -> None:
    await core.record(K.DOOR_FORCED, door_id="d1")
    alarm = core.alarms.get(the_one(core, "door.forced"))
    assert (alarm.state, alarm.source, alarm.zone_id, alarm.door_id, alarm.count) == (
        AlarmState.RAISED,
        "door:d1",
        "srv",  # from the door's zone in the site file
        "d1",
        1,
    )
    assert alarm.priority == 2 and alarm.instructions["ja"] and alarm.instructions["en"]
    await core.record(K.DOOR_FORCED, door_id="d1")
    again = core.alarms.get(alarm.alarm_id)
    assert again.count == 2 and again.last_at >= alarm.last_at
    assert len(core.alarms.active()) == 1  # counted, not duplicated
    with pytest.raises(AlarmRefused, match="acknowledged before"):
        await core.alarms.close(alarm.alarm_id, "op", None)
    await core.record(K.DOOR_CLOSED, door_id="d1", detail={"after": "forced"})
    assert core.alarms.get(alarm.alarm_id).state is AlarmState.CLEARED
    acked = await core.alarms.acknowledge(alarm.alarm_id, "op", "checked the camera")
    assert (acked.acknowledged_by, acked.note, acked.state) == (
        "op",
        "checked the camera",
        AlarmState.CLEARED,
    )
    closed = await core.alarms.close(alarm.alarm_id, "op", "false alarm: cleaner")
    assert closed.state is AlarmState.CLOSED and core.alarms.active() == []
    await core.wait(lambda: len(core.kinds("alarm.")) == 5, "five alarm records")
    assert core.kinds("alarm.") == [
        "alarm.raised",
        "alarm.repeated",
        "alarm.cleared",
        "alarm.acknowledged",
        "alarm.closed",
    ]
    ack = core.stored(K.ALARM_ACKNOWLEDGED)[0]
    assert ack.actor == "op" and ack.detail["note"] == "checked the camera"
    assert ack.detail["alarm_id"] == alarm.alarm_id and ack.door_id == "d1"
    assert [c.alarm.state for c in core.changes] == [
        AlarmState.RAISED,
        AlarmState.RAISED,
        AlarmState.CLEARED,
        AlarmState.CLEARED,
        AlarmState.CLOSED,
    ]
    with Session(core.engine) as s:  # close() returned after its row was written
        row = s.get(AlarmRow, alarm.alarm_id)
        assert row is not None and row.closed_by == "op" and row.count == 2
    # the next occurrence after closing is a new alarm
    await core.record(K.DOOR_FORCED, door_id="d1")
    assert the_one(core, "door.forced") != alarm.alarm_id
    assert core.alarms.get(alarm.alarm_id).state is AlarmState.CLOSED  # still findable


async def test_unknown_and_closed_alarms_are_typed_errors(core: Core) -> None:
    with pytest.raises(UnknownAlarm):
        core.alarms.get("0" * 32)
    with pytest.raises(KeyError):  # an UnknownAlarm is a KeyError too
        await core.alarms.acknowledge("nope", "op", None)
    await core.record(K.AUDIT_BULK_EXPORT_ALERT, actor="alice", detail={"rows": 50000})
    alarm_id = the_one(core, "audit.bulk_export")
    assert core.alarms.get(alarm_id).source == "account:alice"
    await core.wait(lambda: bool(core.notes), "the chief told at once (4-8-6(5))")
    assert (core.notes[0].role, core.notes[0].ref) == ("chief", f"alarm:{alarm_id}")
    acked = await core.alarms.acknowledge(alarm_id, "chief", None)
    assert acked.state is AlarmState.CLEARED  # an event alarm: acknowledged means handled
    with pytest.raises(AlarmRefused, match="already acknowledged"):
        await core.alarms.acknowledge(alarm_id, "op", None)
    await core.alarms.close(alarm_id, "chief", None)
    with pytest.raises(AlarmRefused, match="closed"):
        await core.alarms.acknowledge(alarm_id, "op", None)


async def test_sensor_records_raise_and_clear_environment_alarms(core: Core) -> None:
    def sensor(name: str, kind: str, state: str) -> dict[str, object]:
        """The detail of a sensor.state record."""
        return {"sensor": name, "sensor_kind": kind, "state": state, "module": "io1"}

    await core.record(K.SENSOR_STATE, zone_id="srv", detail=sensor("temp1", "temperature", "high"))
    high = the_one(core, "env.temperature_high")
    await core.record(K.SENSOR_STATE, zone_id="srv", detail=sensor("temp1", "temperature", "low"))
    assert core.alarms.get(high).state is AlarmState.CLEARED  # high is over ...
    low = the_one(core, "env.temperature_low")  # ... and low is a new condition
    assert core.alarms.get(low).source == "sensor:temp1"
    await core.record(K.SENSOR_STATE, detail=sensor("smoke1", "smoke", "open"))
    wiring = the_one(core, "env.wiring_fault")
    assert core.alarms.get(wiring).priority == 2
    assert core.alarms.get(wiring).zone_id == "srv"  # from the sensor in the site file
    await core.record(K.SENSOR_STATE, detail=sensor("smoke1", "smoke", "short"))
    assert core.alarms.get(wiring).count == 2  # open then short: the same wiring fault
    await core.record(K.SENSOR_STATE, detail=sensor("smoke1", "smoke", "alarm"))
    assert core.alarms.get(wiring).state is AlarmState.CLEARED  # the loop reads again ...
    assert core.alarms.get(the_one(core, "env.smoke")).state is AlarmState.RAISED  # ... smoke


async def test_open_alarms_survive_a_restart_and_live_status_clears_what_is_over(
    engine: Engine,
) -> None:
    first = await start_core(engine)
    try:
        await first.record(K.DOOR_FORCED, door_id="d1")
        await first.record(K.READER_TAMPER, reader_id="r1", door_id="d1")
        await first.record(K.MODULE_OFFLINE, detail={"module": "io1"})
        await first.alarms.acknowledge(the_one(first, "reader.tamper"), "op", "on my way")
        before = {a.alarm_id: a for a in first.alarms.active()}
    finally:
        await stop_core(first)
    second = await start_core(engine)
    try:
        after = {a.alarm_id: a for a in second.alarms.active()}
        assert after == before  # state, counts, acknowledgements: all back
        now = datetime.now(UTC)
        # the door is shut and answering again; the reader is untampered
        door = DoorStatus(
            door_id="d1",
            name="Door",
            zone_id="srv",
            state=DoorState.LOCKED,
            mode=DoorMode.ACCESS,
            auth=AuthMode.CARD,
            contact_open=False,
            strike_released=False,
            since=now,
        )
        second.bus.publish(DoorChanged(door))
        second.bus.publish(ReaderChanged(ReaderStatus("r1", "d1", True, False, False)))
        states = {a.type: a.state for a in second.alarms.active()}
        assert states == {
            "door.forced": AlarmState.CLEARED,
            "reader.tamper": AlarmState.CLEARED,
            "module.offline": AlarmState.RAISED,  # no live status says otherwise
        }
        await second.wait(lambda: len(second.kinds("alarm.cleared")) == 2, "cleared records")
        assert {r.detail["trigger"] for _, r in second.written if r.kind is K.ALARM_CLEARED} == {
            "live status"
        }
        # a live status that says nothing new changes nothing further
        second.bus.publish(
            SensorChanged("smoke1", SensorKind.SMOKE, SensorState.NORMAL, None, "", "srv", "x")
        )
        assert len(second.alarms.active()) == 3
    finally:
        await stop_core(second)


async def test_unacknowledged_alarm_escalates_once_and_tells_the_chief(engine: Engine) -> None:
    add_account(engine, "boss", "chief")
    add_account(engine, "op1", "operator")
    site = site_config(alarms={"types": {"door.forced": {"escalation_s": 0.3}}})
    core = await start_core(engine, site)
    try:
        await core.record(K.DOOR_FORCED, door_id="d1")
        await core.record(K.READER_TAMPER, reader_id="r1")
        alarm_id = the_one(core, "door.forced")
        await core.alarms.acknowledge(the_one(core, "reader.tamper"), "op1", None)
        await core.wait(lambda: core.alarms.get(alarm_id).escalated, "escalation")
        await core.wait(lambda: bool(core.kinds("notification.sent")), "notification record")
        assert len(core.notes) == 1
        note = core.notes[0]
        assert (note.role, note.recipients, note.ref) == ("chief", ("boss",), f"alarm:{alarm_id}")
        escalated = core.stored(K.ALARM_ESCALATED)
        assert [r.detail["alarm_id"] for r in escalated] == [alarm_id]
        assert escalated[0].detail["notify"] == "chief"
        sent = core.stored(K.NOTIFICATION)[0]
        assert sent.detail["recipients"] == ["boss"] and sent.zone_id == "srv"
    finally:
        await stop_core(core)


async def test_an_escalation_due_while_down_fires_after_a_restart(engine: Engine) -> None:
    site = site_config(alarms={"types": {"door.forced": {"escalation_s": 0.5}}})
    first = await start_core(engine, site)
    try:
        await first.record(K.DOOR_FORCED, door_id="d1")
        alarm_id = the_one(first, "door.forced")
    finally:
        await stop_core(first)  # stops within the 0.5 s: not escalated yet
    assert not first.alarms.get(alarm_id).escalated
    second = await start_core(engine, site)
    try:
        await second.wait(lambda: second.alarms.get(alarm_id).escalated, "escalation after restart")
    finally:
        await stop_core(second)


async def test_site_overrides_priority_instructions_and_no_escalation(engine: Engine) -> None:
    site = site_config(
        alarms={
            "types": {
                "door.forced": {
                    "priority": 1,
                    "escalation_s": 0,
                    "instructions": {"ja": "警備室へ連絡", "en": "Call the guard room"},
                }
            }
        }
    )
    core = await start_core(engine, site)
    try:
        await core.record(K.DOOR_FORCED, door_id="d1")
        alarm = core.alarms.get(the_one(core, "door.forced"))
        assert alarm.priority == 1
        assert alarm.instructions == {"ja": "警備室へ連絡", "en": "Call the guard room"}

        def row() -> AlarmRow | None:
            """The stored row, if written yet."""
            with Session(engine) as s:
                return s.get(AlarmRow, alarm.alarm_id)

        await core.wait(lambda: row() is not None, "the alarm row")  # written behind
        stored = row()
        assert stored is not None and stored.escalate_at is None  # 0: never escalates
    finally:
        await stop_core(core)


async def test_losing_the_mqtt_broker_is_an_alarm_cleared_when_it_returns(core: Core) -> None:
    await core.record(K.MQTT_DISCONNECTED, detail={"error": "connection refused"})
    alarm = core.alarms.get(the_one(core, "integration.mqtt_offline"))
    assert (alarm.state, alarm.source, alarm.condition_active) == (AlarmState.RAISED, "site", True)
    await core.record(K.MQTT_CONNECTED)
    assert not core.alarms.get(alarm.alarm_id).condition_active
