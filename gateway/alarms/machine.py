"""The alarm state machine, pure: (alarm, input, time) → (alarm, transition) or AlarmRefused.

It never reads a clock and never does I/O; ``gateway.alarms.service`` carries out the records,
the table writes and the bus events. See ``gateway.alarms.model`` for the transition diagram.
Invariants kept by every function here (checked by a hypothesis test): an alarm is closed only
after it was acknowledged and its condition cleared; ``count`` never decreases; nothing
changes a closed alarm.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from gateway.alarms.catalogue import AlarmSpec
from gateway.alarms.model import Alarm, AlarmRefused, Transition

NOTE_MAX = 500  # characters kept of an operator's note


def _escalate_at(spec_escalation_s: float | None, at: datetime) -> datetime | None:
    """When an alarm that became unacknowledged at ``at`` escalates (None: never)."""
    if spec_escalation_s is None or spec_escalation_s <= 0:
        return None
    return at + timedelta(seconds=spec_escalation_s)


def open_alarm(
    alarm_id: str,
    site_id: str,
    spec: AlarmSpec,
    *,
    priority: int,
    escalation_s: float | None,
    source: str,
    zone_id: str | None,
    door_id: str | None,
    at: datetime,
) -> tuple[Alarm, Transition]:
    """A new alarm, raised now."""
    alarm = Alarm(
        alarm_id=alarm_id,
        site_id=site_id,
        type=spec.type,
        priority=priority,
        source=source,
        zone_id=zone_id,
        door_id=door_id,
        raised_at=at,
        last_at=at,
        escalate_at=_escalate_at(escalation_s, at),
    )
    return alarm, Transition.RAISED


def repeat(alarm: Alarm, *, escalation_s: float | None, at: datetime) -> tuple[Alarm, Transition]:
    """The same alarm occurred again: count it; a repeat after clearing needs a fresh ack."""
    _refuse_closed(alarm, "repeat")
    last = max(alarm.last_at, at)
    if alarm.condition_active:
        return replace(alarm, count=alarm.count + 1, last_at=last), Transition.REPEATED
    # The condition had gone: this is a new occurrence, acknowledged by nobody yet.
    escalate_at = None if alarm.escalated else _escalate_at(escalation_s, at)
    return (
        replace(
            alarm,
            count=alarm.count + 1,
            last_at=last,
            condition_active=True,
            acknowledged_by=None,
            acknowledged_at=None,
            escalate_at=escalate_at,
        ),
        Transition.REPEATED,
    )


def clear(alarm: Alarm) -> tuple[Alarm, Transition] | None:
    """The condition is gone; None when there is nothing to change."""
    if alarm.closed or not alarm.condition_active:
        return None
    return replace(alarm, condition_active=False), Transition.CLEARED


def acknowledge(
    alarm: Alarm, actor: str, note: str | None, *, at: datetime, momentary: bool
) -> tuple[Alarm, Transition]:
    """An operator takes the alarm on; an event (momentary) alarm's condition ends with it."""
    _refuse_closed(alarm, "acknowledge")
    if alarm.acknowledged:
        raise AlarmRefused(
            f"alarm {alarm.alarm_id} is already acknowledged by {alarm.acknowledged_by}"
        )
    if not actor:
        raise AlarmRefused("an acknowledgement names who made it")
    return (
        replace(
            alarm,
            acknowledged_by=actor,
            acknowledged_at=at,
            note=_note(note) or alarm.note,
            escalate_at=None,
            condition_active=False if momentary else alarm.condition_active,
        ),
        Transition.ACKNOWLEDGED,
    )


def close(alarm: Alarm, actor: str, note: str | None, *, at: datetime) -> tuple[Alarm, Transition]:
    """Close an acknowledged alarm whose condition has cleared."""
    _refuse_closed(alarm, "close")
    if not alarm.acknowledged:
        raise AlarmRefused(f"alarm {alarm.alarm_id} must be acknowledged before it is closed")
    if alarm.condition_active:
        raise AlarmRefused(
            f"alarm {alarm.alarm_id}: its condition is still active; it closes once cleared"
        )
    if not actor:
        raise AlarmRefused("closing names who closed it")
    return (
        replace(
            alarm, closed_by=actor, closed_at=at, note=_note(note) or alarm.note, escalate_at=None
        ),
        Transition.CLOSED,
    )


def escalate(alarm: Alarm, *, at: datetime) -> tuple[Alarm, Transition] | None:
    """Escalate if still unacknowledged and due; None when there is nothing to do."""
    if (
        alarm.closed
        or alarm.acknowledged
        or alarm.escalated
        or alarm.escalate_at is None
        or at < alarm.escalate_at
    ):
        return None
    return replace(alarm, escalated=True, escalate_at=None), Transition.ESCALATED


def _refuse_closed(alarm: Alarm, what: str) -> None:
    """Nothing changes a closed alarm."""
    if alarm.closed:
        raise AlarmRefused(f"alarm {alarm.alarm_id} is closed; cannot {what} it")


def _note(note: str | None) -> str | None:
    """A note trimmed to NOTE_MAX characters; blank is no note."""
    if note is None or not note.strip():
        return None
    return note.strip()[:NOTE_MAX]
