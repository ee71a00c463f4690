"""Alarms, environment and incidents end to end on firmware-sim (4-8-7(4)(5), 4-8-11).

Real drivers on real wires: the simulated Modbus module carries the smoke, leak, UPS, PIR and
tamper contacts and the temperature, humidity and supervised-loop registers of the demo site;
the gateway's driver polls them over TCP; records go to a real SQLite file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from gateway.alarms.model import AlarmRefused, AlarmState, AlarmView
from gateway.alarms.stack import AlarmStack
from gateway.environment.model import SensorState
from gateway.incidents.model import IncidentRefused, IncidentState
from gateway.intents import INTENT
from gateway.records import NewRecord
from gateway.records import RecordKind as K
from gateway.storage.models import Account
from tests.integration.harness import Harness, start_harness, stop_harness


def stack_of(site: Harness) -> AlarmStack:
    """The alarm stack the simulated site runs."""
    assert site.stack is not None
    return site.stack


def add_accounts(site: Harness) -> None:
    """A chief and the server room's manager, so that notifications have recipients."""
    with Session(site.engine) as s:
        for username, role, zones in (
            ("boss", "chief", []),
            ("mina", "manager", ["server-room"]),
            ("vic", "manager", ["media-vault"]),
        ):
            s.add(
                Account(
                    site_id=site.config.site.id,
                    username=username,
                    role=role,
                    zones=zones,
                    password_hash="-",
                )
            )
        s.commit()


def is_alarm(kind: K, type_: str, **detail: object) -> Callable[[NewRecord], bool]:
    """A predicate for an ``alarm.*`` record of one alarm type."""
    return lambda r: (
        r.kind is kind
        and r.detail.get("type") == type_
        and all(r.detail.get(k) == v for k, v in detail.items())
    )


async def alarm_of(site: Harness, kind: K, type_: str, after: int) -> AlarmView:
    """Wait for an alarm record and return the alarm it is about."""
    _, rec = await site.wait_record(is_alarm(kind, type_), after=after, within=15)
    return stack_of(site).alarms.get(str(rec.detail["alarm_id"]))


@pytest.fixture
async def tuned(tmp_path: Path) -> AsyncIterator[Harness]:
    """The demo site with a fast water-leak escalation and short legal reporting periods."""

    def patch(raw: dict[str, Any]) -> None:
        """Short escalation and legal periods."""
        raw["alarms"] = {"types": {"env.water_leak": {"escalation_s": 1.0}}}
        raw["incidents"] = {
            "legal_steps": [
                {"id": "preliminary_report", "ja": "速報", "en": "Preliminary", "due_after_s": 1},
                {"id": "final_report", "ja": "確報", "en": "Final", "due_after_s": 2},
            ]
        }

    h = await start_harness(tmp_path / "site", site_patch=patch)
    try:
        add_accounts(h)
        yield h
    finally:
        await stop_harness(h)


async def test_smoke_alarm_acknowledged_incident_contained_and_closed_with_cause(
    site: Harness,
) -> None:
    add_accounts(site)
    stack = stack_of(site)
    start = site.last_seq
    await site.sim.sensor("sr-smoke", "on")
    alarm = await alarm_of(site, K.ALARM_RAISED, "env.smoke", start)
    assert (alarm.source, alarm.zone_id, alarm.priority, alarm.state) == (
        "sensor:sr-smoke",
        "server-room",
        1,
        AlarmState.RAISED,
    )
    assert "119" in alarm.instructions["ja"]
    assert stack.environment.sensor("sr-smoke").state is SensorState.ALARM
    acked = await stack.alarms.acknowledge(alarm.alarm_id, "operator", "checking the room")
    assert acked.state is AlarmState.ACKNOWLEDGED
    incident = await stack.incidents.open(None, "operator", alarm_id=alarm.alarm_id)
    assert (incident.zone_id, incident.alarm_id) == ("server-room", alarm.alarm_id)
    told = [(s.detail["role"], s.detail["recipients"]) for s in incident.steps[1:]]
    assert told == [("manager", ["mina"]), ("chief", ["boss"])]
    incident = await stack.incidents.contain(
        incident.incident_id, "operator", "lockdown", "seal the room"
    )
    lockdown = incident.steps[-1].detail["lockdown"]
    has_lockdown = hasattr(site.gateway, "lockdown")
    assert lockdown == ("done" if has_lockdown else "not available in this version")
    with pytest.raises(AlarmRefused, match="still active"):
        await stack.alarms.close(alarm.alarm_id, "operator", None)
    await site.sim.sensor("sr-smoke", "off")
    await alarm_of(site, K.ALARM_CLEARED, "env.smoke", start)
    closed = await stack.alarms.close(alarm.alarm_id, "operator", "smoke from a failed PSU")
    assert closed.state is AlarmState.CLOSED
    incident = await stack.incidents.note(incident.incident_id, "mina", "PSU in rack A burnt")
    with pytest.raises(IncidentRefused, match="root cause is required"):
        await stack.incidents.close(incident.incident_id, "mina", " ", "replace PSUs")
    incident = await stack.incidents.close(
        incident.incident_id, "mina", "PSU failure in rack A", "PSUs older than 5 years replaced"
    )
    assert incident.state is IncidentState.CLOSED
    await site.wait_record(lambda r: r.kind is K.INCIDENT_CLOSED, after=start)
    order = [
        r.kind
        for s, r in site.written
        if s > start
        and r.kind
        in (
            K.SENSOR_STATE,
            K.ALARM_RAISED,
            K.ALARM_ACKNOWLEDGED,
            K.INCIDENT_OPENED,
            K.INCIDENT_CONTAINMENT,
            K.ALARM_CLEARED,
            K.ALARM_CLOSED,
            K.INCIDENT_CLOSED,
        )
    ]
    assert order == [
        K.SENSOR_STATE,  # smoke
        K.ALARM_RAISED,
        K.ALARM_ACKNOWLEDGED,
        K.INCIDENT_OPENED,
        K.INCIDENT_CONTAINMENT,
        K.SENSOR_STATE,  # normal again
        K.ALARM_CLEARED,
        K.ALARM_CLOSED,
        K.INCIDENT_CLOSED,
    ]


async def test_supervised_loop_cut_and_short_are_alarms_and_a_leak_escalates(
    tuned: Harness,
) -> None:
    site, stack = tuned, stack_of(tuned)
    start = site.last_seq
    await site.sim.sensor("vault-smoke", "open")  # the wire is cut
    fault = await alarm_of(site, K.ALARM_RAISED, "env.wiring_fault", start)
    assert (fault.source, fault.zone_id, fault.priority) == ("sensor:vault-smoke", "media-vault", 2)
    assert stack.environment.sensor("vault-smoke").state is SensorState.OPEN
    await site.sim.sensor("vault-smoke", "normal")
    await alarm_of(site, K.ALARM_CLEARED, "env.wiring_fault", start)
    await site.sim.sensor("vault-smoke", "short")  # bridged wires: a wiring fault again
    again = await alarm_of(site, K.ALARM_REPEATED, "env.wiring_fault", start)
    assert (again.alarm_id, again.count, again.state) == (fault.alarm_id, 2, AlarmState.RAISED)
    await site.sim.sensor("vault-smoke", "alarm")  # the loop reads again, and it is smoke
    smoke = await alarm_of(site, K.ALARM_RAISED, "env.smoke", start)
    assert smoke.source == "sensor:vault-smoke"
    await site.wait_until(
        lambda: stack.alarms.get(fault.alarm_id).state is AlarmState.CLEARED, what="loop intact"
    )
    states = [
        r.detail["state"]
        for s, r in site.written
        if s > start and r.kind is K.SENSOR_STATE and r.detail["sensor"] == "vault-smoke"
    ]
    assert states == ["open", "normal", "short", "alarm"]
    # a leak nobody acknowledges escalates to the chief
    await site.sim.sensor("sr-water", "on")
    leak = await alarm_of(site, K.ALARM_ESCALATED, "env.water_leak", start)
    assert leak.escalated and leak.state is AlarmState.RAISED
    _, told = await site.wait_record(
        lambda r: r.kind is K.NOTIFICATION and r.detail["ref"] == f"alarm:{leak.alarm_id}",
        after=start,
    )
    assert (told.detail["role"], told.detail["recipients"]) == ("chief", ["boss"])


async def test_temperature_crossing_its_limit_with_hysteresis_does_not_flap(
    site: Harness,
) -> None:
    stack = stack_of(site)
    start = site.last_seq

    async def set_temperature(value: float) -> None:
        """Set the sim sensor and wait until the gateway read it."""
        await site.sim.sensor("sr-temp", value)
        await site.wait_until(
            lambda: abs((stack.environment.sensor("sr-temp").value or 0) - value) < 1e-6,
            what=f"{value} °C read",
        )

    for value in (29.9, 30.5, 29.5, 30.2, 29.1, 30.0, 29.2):  # limit 30, hysteresis 1
        await set_temperature(value)
    assert stack.environment.sensor("sr-temp").state is SensorState.HIGH
    await set_temperature(28.9)  # below 30 - 1: back to normal
    await site.wait_record(is_alarm(K.ALARM_CLEARED, "env.temperature_high"), after=start)
    states = [
        (r.detail["state"], r.detail["value"])
        for s, r in site.written
        if s > start and r.kind is K.SENSOR_STATE and r.detail["sensor"] == "sr-temp"
    ]
    assert [(st, round(float(str(v)), 1)) for st, v in states] == [("high", 30.5), ("normal", 28.9)]
    alarms = [a for a in stack.alarms.active() if a.type == "env.temperature_high"]
    assert len(alarms) == 1 and alarms[0].count == 1 and alarms[0].state is AlarmState.CLEARED


async def test_door_forced_counted_cleared_on_close_closed_after_ack_and_held_open(
    site: Harness,
) -> None:
    stack = stack_of(site)
    start = site.last_seq
    await site.sim.door("sr-door", "force")
    forced = await alarm_of(site, K.ALARM_RAISED, "door.forced", start)
    assert (forced.source, forced.door_id, forced.zone_id) == (
        "door:sr-door",
        "sr-door",
        "server-room",
    )
    await alarm_of(site, K.ALARM_CLEARED, "door.forced", start)  # the door swung shut
    with pytest.raises(AlarmRefused, match="acknowledged before"):
        await stack.alarms.close(forced.alarm_id, "operator", None)
    mark = site.last_seq
    await site.sim.door("sr-door", "force")
    again = await alarm_of(site, K.ALARM_REPEATED, "door.forced", mark)
    assert (again.alarm_id, again.count, again.state) == (forced.alarm_id, 2, AlarmState.RAISED)
    await alarm_of(site, K.ALARM_CLEARED, "door.forced", mark)
    await stack.alarms.acknowledge(forced.alarm_id, "operator", "intruder gone; police told")
    closed = await stack.alarms.close(forced.alarm_id, "operator", None)
    assert (closed.state, closed.count) == (AlarmState.CLOSED, 2)
    mark = site.last_seq
    await site.sim.door("sr-door", "force")
    third = await alarm_of(site, K.ALARM_RAISED, "door.forced", mark)
    assert third.alarm_id != forced.alarm_id and third.count == 1  # closed: a new alarm
    await alarm_of(site, K.ALARM_CLEARED, "door.forced", mark)
    # held open: a low-priority pre-alarm, then the held alarm that supersedes it
    mark = site.last_seq
    await site.gateway.momentary_unlock("sr-door", "operator", None)
    await site.sim.door("sr-door", "hold")
    pre = await alarm_of(site, K.ALARM_RAISED, "door.held_prealarm", mark)
    held = await alarm_of(site, K.ALARM_RAISED, "door.held", mark)
    assert pre.priority > held.priority
    await site.wait_until(
        lambda: stack.alarms.get(pre.alarm_id).state is AlarmState.CLEARED, what="pre-alarm over"
    )
    await site.sim.door("sr-door", "close")
    await alarm_of(site, K.ALARM_CLEARED, "door.held", mark)


async def test_an_overdue_legal_step_raises_an_alarm_until_it_is_done(tuned: Harness) -> None:
    site, stack = tuned, stack_of(tuned)
    start = site.last_seq
    incident = await stack.incidents.open(
        "Backup tape missing from the vault", "operator", zone_id="media-vault", personal_data=True
    )
    assert [d.step for d in incident.deadlines] == ["preliminary_report", "final_report"]
    told = [(s.detail["role"], s.detail["recipients"]) for s in incident.steps[1:3]]
    assert told == [("manager", ["vic"]), ("chief", ["boss"])]
    _, overdue = await site.wait_record(lambda r: r.kind is K.INCIDENT_STEP_OVERDUE, after=start)
    assert isinstance(overdue.detail[INTENT], int)  # staged with the step (gateway.intents)
    assert {k: v for k, v in overdue.detail.items() if k != INTENT} == {
        "incident": incident.incident_id,
        "step": "preliminary_report",
    }
    alarm = await alarm_of(site, K.ALARM_RAISED, "incident.step_overdue", start)
    assert alarm.source == f"incident:{incident.incident_id}/preliminary_report"
    await stack.incidents.complete_step(
        incident.incident_id, "preliminary_report", "boss", "reported to the PPC"
    )
    await site.wait_until(
        lambda: stack.alarms.get(alarm.alarm_id).state is AlarmState.CLEARED, what="step done"
    )
    await stack.incidents.complete_step(incident.incident_id, "final_report", "boss", None)
    done = await stack.incidents.close(
        incident.incident_id, "boss", "tape mislabelled", "barcode check at every carry-out"
    )
    assert done.state is IncidentState.CLOSED
    assert all(d.done_at is not None for d in done.deadlines)
