"""Alarm vocabulary: states, the view everyone reads, the full stored alarm, and typed errors.

Clauses 4-8-7(4) (intrusion alarms) and 4-8-7(5) (fire, water, power, wiring). Transitions:

    RAISED ──ack──▶ ACKNOWLEDGED ──condition gone──▶ CLEARED (acknowledged) ──close──▶ CLOSED
      │                                                 ▲
      └──condition gone──▶ CLEARED (unacknowledged) ──ack┘

A repeat of the same alarm (same type and source) while it is not CLOSED is counted on it
(``count``, ``last_at``) and makes its condition active again; a repeat after the condition had
cleared needs a fresh acknowledgement (the earlier one was for an earlier occurrence). Closing
needs both: acknowledged AND condition cleared. Once CLOSED, the next occurrence is a new alarm.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class AlarmState(StrEnum):
    """Where an alarm stands on the console."""

    RAISED = "raised"  # condition active, nobody has acknowledged it yet
    ACKNOWLEDGED = "acknowledged"  # condition still active, an operator has taken it on
    CLEARED = "cleared"  # condition gone; waits for acknowledgement (if none yet) and closing
    CLOSED = "closed"  # acknowledged and cleared, closed by an operator: history only


class Transition(StrEnum):
    """What happened to an alarm; each one is written to the log as ``alarm.<value>``."""

    RAISED = "raised"
    REPEATED = "repeated"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"
    CLOSED = "closed"
    ESCALATED = "escalated"


@dataclass(frozen=True, slots=True)
class AlarmView:
    """One alarm as the console, the API, MQTT and the dashboard see it."""

    alarm_id: str
    site_id: str
    type: str  # a catalogue type, e.g. "door.forced", "env.smoke"
    priority: int  # 1 is the most urgent
    state: AlarmState
    source: str  # e.g. "door:sr-door", "reader:sr-in", "sensor:sr-smoke"
    zone_id: str | None
    door_id: str | None
    raised_at: datetime  # first occurrence (UTC)
    last_at: datetime  # latest occurrence (UTC)
    count: int  # occurrences counted on this alarm (repeats are not duplicated)
    condition_active: bool
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    note: str | None  # the latest operator note (acknowledgement or closing)
    escalated: bool
    instructions: dict[str, str]  # {"ja": ..., "en": ...}


@dataclass(frozen=True, slots=True)
class Alarm:
    """Everything kept about one alarm (the row of the ``alarm`` table)."""

    alarm_id: str
    site_id: str
    type: str
    priority: int
    source: str
    zone_id: str | None
    door_id: str | None
    raised_at: datetime
    last_at: datetime
    count: int = 1
    condition_active: bool = True
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    closed_by: str | None = None
    closed_at: datetime | None = None
    note: str | None = None
    escalated: bool = False
    escalate_at: datetime | None = None  # when it escalates unless acknowledged first

    @property
    def acknowledged(self) -> bool:
        """True once someone acknowledged the current occurrence."""
        return self.acknowledged_by is not None

    @property
    def closed(self) -> bool:
        """True once closed (terminal)."""
        return self.closed_at is not None

    @property
    def state(self) -> AlarmState:
        """The console state, derived from the facts (so it can never disagree with them)."""
        if self.closed:
            return AlarmState.CLOSED
        if not self.condition_active:
            return AlarmState.CLEARED
        return AlarmState.ACKNOWLEDGED if self.acknowledged else AlarmState.RAISED

    def view(self, instructions: dict[str, str]) -> AlarmView:
        """The public view, with the operator instructions of its type."""
        return AlarmView(
            alarm_id=self.alarm_id,
            site_id=self.site_id,
            type=self.type,
            priority=self.priority,
            state=self.state,
            source=self.source,
            zone_id=self.zone_id,
            door_id=self.door_id,
            raised_at=self.raised_at,
            last_at=self.last_at,
            count=self.count,
            condition_active=self.condition_active,
            acknowledged_by=self.acknowledged_by,
            acknowledged_at=self.acknowledged_at,
            note=self.note,
            escalated=self.escalated,
            instructions=dict(instructions),
        )


class AlarmError(Exception):
    """Root of the errors the alarm service raises."""


class UnknownAlarm(AlarmError, KeyError):
    """No alarm with this id (a KeyError too, for callers that treat it as a lookup)."""

    def __str__(self) -> str:
        """The message, without KeyError's quoting."""
        return str(self.args[0]) if self.args else "unknown alarm"


class AlarmRefused(AlarmError):
    """The alarm cannot make this transition now (e.g. closing before acknowledgement)."""
