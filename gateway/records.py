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
    AUTHORIZATION_LAPSED = "authorization.recertification_lapsed"  # not recertified in time
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
    # --- cameras (issue 7; 4-8-7(1)(4), 4-8-5(8), 4-8-6(10)); pictures are personal data ---
    CAMERA_SNAPSHOT = "camera.snapshot"  # a still for a record (its seq), file + SHA-256
    CAMERA_CLIP = "camera.clip"  # a short clip for a record (its seq), file + SHA-256
    CAMERA_VIEWED = "camera.viewed"  # someone looked at a picture: who, which camera, which one
    CAMERA_MOTION_EMPTY = "camera.motion_in_empty_zone"  # motion where nobody is inside
    CAMERA_COVERAGE = "camera.coverage"  # which camera watched which minutes of an outsider
    CAMERA_EVIDENCE_PURGED = "camera.evidence_purged"  # files deleted with their purged records
    # --- the MQTT bus (issue 6) ---
    MQTT_CONNECTED = "mqtt.connected"  # the broker link is up (events waiting are sent now)
    MQTT_DISCONNECTED = "mqtt.disconnected"  # the broker link is lost (events wait in the outbox)
    MQTT_COMMAND_REFUSED = "mqtt.command_refused"  # a command over MQTT was refused: who, why
    # --- the log's own audit trail (issue 4; 4-8-6(3)(4)(5), 4-8-12(1)); never purged ---
    AUDIT_PURGE = "audit.purge"  # a retention purge: policy, approver, cutoffs, how many
    AUDIT_EXPORT = "audit.export"  # an export of records: who, filters, how many rows
    AUDIT_ANALYSIS = "audit.analysis"  # a periodic analysis report with its findings
    # --- visitors, contractors, media custody (issue 5; 4-8-7(1), 4-8-5, 4-8-9, 4-8-12(2)) ---
    VISIT_REGISTERED = "visit.registered"  # a host pre-registered a visit
    VISIT_APPROVED = "visit.approved"  # a zone's manager approved it for their zones
    VISIT_REJECTED = "visit.rejected"  # a zone's manager refused it
    VISIT_CANCELLED = "visit.cancelled"  # withdrawn before check-in
    VISIT_CHECKED_IN = "visit.checked_in"  # identified at the desk; visitor badge issued
    VISIT_CHECKED_OUT = "visit.checked_out"  # badge handed back and disabled
    VISIT_OVERSTAY = "visit.overstay"  # window over: still inside or badge not returned
    CONTRACTOR_UPDATED = "contractor.updated"  # company, contract end, confidentiality clause
    CONTRACTOR_INSPECTED = "contractor.inspected"  # an on-site inspection (4-8-9(3))
    CONTRACTOR_FINDING = "contractor.finding"  # inspection overdue, no clause, contract ended
    MEDIA_REGISTERED = "media.registered"  # an item entered the registry (and the ledger)
    MEDIA_UPDATED = "media.updated"  # owner, classification, encryption or home changed
    MEDIA_REQUESTED = "media.requested"  # a carry-in or carry-out request
    MEDIA_APPROVED = "media.approved"  # the zone's manager approved a request
    MEDIA_REJECTED = "media.rejected"  # the zone's manager refused a request
    MEDIA_REQUEST_CANCELLED = "media.request_cancelled"  # withdrawn before use
    MEDIA_INSPECTED = "media.inspected"  # the desk inspected an item at the door (4-8-7(1))
    MEDIA_CONFIRMED = "media.confirmed"  # a second person confirmed an inspection (4-8-5(7))
    MEDIA_MOVED = "media.moved"  # a movement in the ledger (4-8-5(9))
    MEDIA_UNAPPROVED = "media.unapproved"  # a movement without approval caught at the door
    MEDIA_UNRECONCILED_EXIT = "media.unreconciled_exit"  # left with a carried-in item
    MEDIA_DISPOSED = "media.disposed"  # disposal with method, witness, certificate (4-8-5(8))
    MEDIA_INVENTORY = "media.inventory"  # a vault inventory started or completed (4-8-12(2))
    MEDIA_INVENTORY_SCAN = "media.inventory_scan"  # one item scanned in an inventory
    MEDIA_FINDING = "media.finding"  # missing, unexpected, overdue; a missed inventory


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
