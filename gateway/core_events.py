"""Events the core publishes on its bus for the API, dashboards and later integrations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway.alarms.model import AlarmView
from gateway.core_api import DoorStatus, ReaderStatus
from gateway.environment.model import SensorKind, SensorState
from gateway.records import NewRecord


@dataclass(frozen=True, slots=True)
class RecordWritten:
    """A record was durably committed with ``seq``."""

    seq: int
    record: NewRecord


@dataclass(frozen=True, slots=True)
class StorageChanged:
    """The record log became unavailable (``failing_since`` set) or is written again (None)."""

    failing_since: datetime | None
    error: str  # the first failure's message ("" on recovery)


@dataclass(frozen=True, slots=True)
class DoorChanged:
    """A door's live status changed."""

    status: DoorStatus


@dataclass(frozen=True, slots=True)
class ReaderChanged:
    """A reader's live status changed."""

    status: ReaderStatus


@dataclass(frozen=True, slots=True)
class AlarmChanged:
    """An alarm made a transition (raised, repeated, acknowledged, cleared, closed, escalated)."""

    alarm: AlarmView


@dataclass(frozen=True, slots=True)
class SensorChanged:
    """An environment sensor's state or value changed (4-8-7(5))."""

    sensor_id: str
    kind: SensorKind
    state: SensorState
    value: float | None  # scaled value (analog), ohms (supervised loop), None (contact)
    unit: str
    zone_id: str | None
    name: str


@dataclass(frozen=True, slots=True)
class NotificationSent:
    """Someone was told of an alarm or an incident (also written as a ``notification.sent``)."""

    role: str  # the role told: "manager" (of the zone) or "chief"
    zone_id: str | None
    recipients: tuple[str, ...]  # account usernames holding that role (for that zone)
    subject: str  # one line, e.g. "Incident opened: smoke in server-room"
    ref: str  # what it is about: "alarm:<id>" or "incident:<id>"
    ts: datetime


@dataclass(frozen=True, slots=True)
class OccupancyChanged:
    """Who is inside a zone changed (4-8-7(1)); ``occupants`` in order of entry."""

    zone_id: str
    occupants: tuple[dict[str, object], ...]
