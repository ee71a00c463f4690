"""What goes into the log: record kinds and the record the core hands to the writer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class RecordKind(StrEnum):
    """Every kind of record Sekisho writes (4-8-7(1) 入退の記録, 4-8-6(3))."""

    ACCESS = "access.decision"  # a badge at a reader: granted or denied, with reason
    ACCESS_TAKEN = "door.access_taken"  # the door opened after a grant
    ACCESS_NOT_TAKEN = "door.access_not_taken"  # granted, but the door was not opened in time
    DOOR_OPENED = "door.opened"  # opened by REX or while unlocked
    DOOR_CLOSED = "door.closed"  # the door closed again
    DOOR_FORCED = "door.forced"  # opened while locked: forced-open alarm
    DOOR_HELD_PREALARM = "door.held_prealarm"  # open too long: warning before the alarm
    DOOR_HELD = "door.held"  # open too long: held-open alarm
    DOOR_REX = "door.rex"  # request-to-exit pressed
    DOOR_FAULT = "door.fault"  # the door's I/O module is unreachable; lock left fail-secure
    DOOR_FAULT_CLEARED = "door.fault_cleared"  # the module answers again
    DOOR_UNLOCK = "door.momentary_unlock"  # an operator released the door from the desk
    READER_ONLINE = "reader.online"
    READER_OFFLINE = "reader.offline"
    READER_TAMPER = "reader.tamper"
    READER_TAMPER_CLEARED = "reader.tamper_cleared"
    MODULE_ONLINE = "module.online"
    MODULE_OFFLINE = "module.offline"
    OPERATOR = "operator.action"  # a change made through the API: who, what, which object
    LOGIN = "operator.login"  # an account logged in
    LOGIN_FAILED = "operator.login_failed"  # a failed login (username only, never the password)
    SYSTEM = "system"  # gateway started or stopped, storage recovered, and the like
    # --- entry rules (issue 3; 4-8-7(1)(2)(3)) ---
    ZONE_EXIT_ATTRIBUTED = "zone.exit_attributed"  # a REX exit taken as the last person in
    ZONE_EXIT_UNATTRIBUTED = "zone.exit_unattributed"  # a REX exit nobody can be named for
    ZONE_PASSBACK_FORGIVEN = "zone.passback_forgiven"  # an operator reset a person's passback
    ZONE_LOCKDOWN = "zone.lockdown"  # the zone's doors locked down from the desk (who, why)
    ZONE_LOCKDOWN_RELEASED = "zone.lockdown_released"  # lockdown ended (who, why)
    DOOR_MODE = "door.mode_changed"  # a door's mode changed (desk, lockdown, schedule)
    # --- alarms, environment, incidents (issue 6; 4-8-7(4)(5), 4-8-11) ---
    ALARM_RAISED = "alarm.raised"  # a new alarm on the console
    ALARM_REPEATED = "alarm.repeated"  # the same alarm again: counted on it, not duplicated
    ALARM_ACKNOWLEDGED = "alarm.acknowledged"  # an operator took it on (actor, note)
    ALARM_CLEARED = "alarm.cleared"  # its condition is gone
    ALARM_CLOSED = "alarm.closed"  # acknowledged and cleared, closed (actor, note)
    ALARM_ESCALATED = "alarm.escalated"  # not acknowledged in time: the chief is notified
    NOTIFICATION = "notification.sent"  # someone (a role, in a zone) was notified of something
    SENSOR_STATE = "sensor.state"  # an environment/supervised sensor changed state
    INCIDENT_OPENED = "incident.opened"  # 4-8-11(1): from an alarm or by an operator
    INCIDENT_CONTAINMENT = "incident.containment"  # 4-8-11(2): a containment action
    INCIDENT_NOTE = "incident.note"  # 4-8-11(3): an investigation note
    INCIDENT_PERSONAL_DATA = "incident.personal_data"  # personal data involved: legal steps due
    INCIDENT_STEP_DONE = "incident.step_done"  # 4-8-11(6)(7): a legal reporting step done
    INCIDENT_STEP_OVERDUE = "incident.step_overdue"  # a legal reporting step is past its due
    INCIDENT_CLOSED = "incident.closed"  # 4-8-11(5): closed with root cause and measures
    # --- written by other issues; the alarm catalogue raises alarms on exactly these ---
    AUDIT_BULK_EXPORT_ALERT = "audit.bulk_export_alert"  # issue 4, 4-8-6(5)
    ACCESS_ANTI_PASSBACK = "access.anti_passback"  # issue 3: anti-passback violation
    ACCESS_TAILGATING = "access.tailgating"  # issue 3: more passed than were granted
    ACCESS_DURESS = "access.duress"  # issue 3: duress PIN entered (silent alarm)
    ESCORT_ASTRAY = "escort.astray"  # issue 3: an outsider in a zone its escort has left
    ESCORT_ASTRAY_CLEARED = "escort.astray_cleared"  # issue 3: escort back, or outsider out
    ZONE_LONE_OCCUPANT = "zone.lone_occupant"  # issue 3: one person alone too long
    ZONE_LONE_OCCUPANT_CLEARED = "zone.lone_occupant_cleared"  # issue 3: no longer alone
    MEDIA_OVERDUE = "media.overdue"  # issue 5: a media item outside its home past its date
    MEDIA_RETURNED = "media.returned"  # issue 5: the item is back home
    CAMERA_FAULT = "camera.fault"  # issue 7: a camera stopped delivering frames
    CAMERA_FAULT_CLEARED = "camera.fault_cleared"  # issue 7: frames again
    # --- the MQTT bus (issue 6) ---
    MQTT_CONNECTED = "mqtt.connected"  # the broker link is up (events waiting are sent now)
    MQTT_DISCONNECTED = "mqtt.disconnected"  # the broker link is lost (events wait in the outbox)
    MQTT_COMMAND_REFUSED = "mqtt.command_refused"  # a command over MQTT was refused: who, why
    # --- the log's own audit trail (issue 4; 4-8-6(3)(4)(5), 4-8-12(1)); never purged ---
    AUDIT_PURGE = "audit.purge"  # a retention purge: policy, approver, cutoffs, how many
    AUDIT_EXPORT = "audit.export"  # an export of records: who, filters, how many rows
    AUDIT_ANALYSIS = "audit.analysis"  # a periodic analysis report with its findings


# Record kinds a later issue will write; the periodic analysis already counts them (0 until
# they appear). Whoever adds one to RecordKind keeps its value.
RECERTIFICATION_LAPSED = "authorization.recertification_lapsed"  # issue 3: not recertified
NEVER_PURGED = frozenset(
    {
        RecordKind.AUDIT_PURGE.value,
        RecordKind.AUDIT_EXPORT.value,
        RecordKind.AUDIT_BULK_EXPORT_ALERT.value,
        RecordKind.AUDIT_ANALYSIS.value,
    }
)


@dataclass(frozen=True, slots=True)
class NewRecord:
    """A record before the writer gives it its sequence number."""

    kind: RecordKind
    ts: datetime  # timezone-aware UTC
    door_id: str | None = None
    zone_id: str | None = None
    reader_id: str | None = None
    person_id: str | None = None
    person_kind: str | None = None
    credential: str | None = None  # masked
    direction: str | None = None
    outcome: str | None = None
    reason: str | None = None
    actor: str | None = None
    detail: dict[str, object] = field(default_factory=dict)
