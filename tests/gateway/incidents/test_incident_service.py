"""Incidents (4-8-11) on a real record log, store and alarm console (SQLite and PostgreSQL).

(1) opened by an operator or from an alarm, the zone's manager told at once, then the chief;
(2) containment recorded; (3) notes, every step time-stamped and in the log; (5) closing needs
root cause and measures; (6)(7) legal steps tracked, overdue is an alarm.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Engine

from gateway.alarms.model import AlarmState
from gateway.incidents.model import IncidentRefused, IncidentState, StepKind, UnknownIncident
from gateway.records import RecordKind as K
from tests.gateway.alarms.alarm_support import Core, add_account, site_config, start_core, stop_core

SHORT_STEPS = {
    "legal_steps": [
        {"id": "preliminary_report", "ja": "速報", "en": "Preliminary", "due_after_s": 0.4},
        {"id": "final_report", "ja": "確報", "en": "Final", "due_after_s": 600},
    ]
}


@pytest.fixture
async def core(engine: Engine) -> AsyncIterator[Core]:
    """Services on a fresh migrated database with a chief and two managers."""
    add_account(engine, "boss", "chief")
    add_account(engine, "mina", "manager", ["srv"])
    add_account(engine, "vic", "manager", ["vault"])
    c = await start_core(engine, site_config(incidents=SHORT_STEPS))
    try:
        yield c
    finally:
        await stop_core(c)


async def test_opened_by_an_operator_tells_the_zone_manager_then_the_chief(core: Core) -> None:
    view = await core.incidents.open(
        "Stranger in the server room", "op", zone_id="srv", description="seen on camera"
    )
    assert (view.state, view.zone_id, view.opened_by, view.personal_data) == (
        IncidentState.OPEN,
        "srv",
        "op",
        False,
    )
    assert [s.kind for s in view.steps] == [StepKind.OPENED, StepKind.NOTIFIED, StepKind.NOTIFIED]
    told = [(s.detail["role"], s.detail["recipients"]) for s in view.steps[1:]]
    assert told == [("manager", ["mina"]), ("chief", ["boss"])]  # only srv's manager
    assert [(n.role, n.ref) for n in core.notes] == [
        ("manager", f"incident:{view.incident_id}"),
        ("chief", f"incident:{view.incident_id}"),
    ]
    await core.wait(lambda: len(core.stored(K.NOTIFICATION)) == 2, "notification records")
    opened = core.stored(K.INCIDENT_OPENED)
    assert len(opened) == 1 and opened[0].actor == "op" and opened[0].zone_id == "srv"
    assert opened[0].detail["incident"] == view.incident_id
    assert opened[0].seq < core.stored(K.NOTIFICATION)[0].seq  # reported, then told


async def test_from_an_alarm_containment_notes_and_closing_with_cause(core: Core) -> None:
    await core.record(K.DOOR_FORCED, door_id="d1")
    alarm = core.alarms.active()[0]
    view = await core.incidents.open(None, "op", alarm_id=alarm.alarm_id)
    assert (view.alarm_id, view.zone_id, view.title) == (
        alarm.alarm_id,
        "srv",
        "door.forced at door:d1",
    )
    view = await core.incidents.contain(view.incident_id, "op", "lockdown", "locking srv")
    assert view.steps[-1].detail == {
        "action": "lockdown",
        "zone": "srv",
        "lockdown": "not available in this version",  # no core lockdown wired in this rig
    }
    view = await core.incidents.contain(view.incident_id, "op", "disable-card", None)
    view = await core.incidents.note(view.incident_id, "mina", "cleaner propped it")
    for cause, measures in (("", "x"), ("x", "  ")):
        with pytest.raises(IncidentRefused, match="required"):
            await core.incidents.close(view.incident_id, "mina", cause, measures)
    closed = await core.incidents.close(
        view.incident_id, "mina", "door propped by cleaner", "door closer fixed; briefing"
    )
    assert closed.state is IncidentState.CLOSED and closed.root_cause == "door propped by cleaner"
    assert [s.kind for s in closed.steps][-4:] == [
        StepKind.CONTAINMENT,
        StepKind.CONTAINMENT,
        StepKind.NOTE,
        StepKind.CLOSED,
    ]
    times = [s.at for s in closed.steps]
    assert times == sorted(times)
    with pytest.raises(IncidentRefused, match="closed"):
        await core.incidents.note(view.incident_id, "op", "too late")
    await core.wait(lambda: bool(core.stored(K.INCIDENT_CLOSED)), "closed record")
    assert len(core.stored(K.INCIDENT_CONTAINMENT)) == 2
    assert core.stored(K.INCIDENT_NOTE)[0].actor == "mina"


async def test_refusals_are_typed(core: Core) -> None:
    with pytest.raises(UnknownIncident):
        await core.incidents.note("nope", "op", "x")
    with pytest.raises(IncidentRefused, match="no alarm"):
        await core.incidents.open(None, "op", alarm_id="0" * 32)
    with pytest.raises(IncidentRefused, match="no zone"):
        await core.incidents.open("x", "op", zone_id="attic")
    with pytest.raises(IncidentRefused, match="title"):
        await core.incidents.open("   ", "op")
    view = await core.incidents.open("x", "op")
    with pytest.raises(IncidentRefused, match="no legal step"):
        await core.incidents.complete_step(view.incident_id, "final_report", "op", None)
    with pytest.raises(IncidentRefused, match="containment action"):
        await core.incidents.contain(view.incident_id, "op", " ", None)


async def test_personal_data_deadlines_overdue_is_an_alarm_until_done(core: Core) -> None:
    view = await core.incidents.open("Lost backup tape", "op", zone_id="vault", personal_data=True)
    assert [d.step for d in view.deadlines] == ["preliminary_report", "final_report"]
    with pytest.raises(IncidentRefused, match="already marked"):
        await core.incidents.mark_personal_data(view.incident_id, "op", None)
    await core.wait(lambda: bool(core.alarms.active()), "the overdue alarm")
    alarm = core.alarms.active()[0]
    assert (alarm.type, alarm.source, alarm.priority) == (
        "incident.step_overdue",
        f"incident:{view.incident_id}/preliminary_report",
        2,
    )
    view = await core.incidents.view(view.incident_id)
    assert view.deadlines[0].overdue and not view.deadlines[1].overdue
    assert StepKind.LEGAL_STEP_OVERDUE in [s.kind for s in view.steps]
    with pytest.raises(IncidentRefused, match="legal steps not done: preliminary_report"):
        await core.incidents.close(view.incident_id, "boss", "tape misplaced", "two-person rule")
    view = await core.incidents.complete_step(
        view.incident_id, "preliminary_report", "boss", "PPC ref 123"
    )
    assert view.deadlines[0].done_by == "boss"
    await core.wait(
        lambda: core.alarms.get(alarm.alarm_id).state is AlarmState.CLEARED, "alarm cleared"
    )
    with pytest.raises(IncidentRefused, match="done already"):
        await core.incidents.complete_step(view.incident_id, "preliminary_report", "boss", None)
    await core.incidents.complete_step(view.incident_id, "final_report", "boss", None)
    closed = await core.incidents.close(view.incident_id, "boss", "misplaced", "inventory")
    assert closed.state is IncidentState.CLOSED
    overdue = core.stored(K.INCIDENT_STEP_OVERDUE)
    assert [r.detail["step"] for r in overdue] == ["preliminary_report"]  # once, not again


async def test_a_deadline_pending_at_shutdown_is_re_armed_after_a_restart(engine: Engine) -> None:
    first = await start_core(engine, site_config(incidents=SHORT_STEPS))
    try:
        view = await first.incidents.open("x", "op", personal_data=True)
    finally:
        await stop_core(first)  # well within the 0.4 s
    await asyncio.sleep(0)
    second = await start_core(engine, site_config(incidents=SHORT_STEPS))
    try:
        await second.wait(
            lambda: any(a.type == "incident.step_overdue" for a in second.alarms.active()),
            "overdue after the restart",
        )
        again = await second.incidents.view(view.incident_id)
        assert again.deadlines[0].overdue
    finally:
        await stop_core(second)
