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
