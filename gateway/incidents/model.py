"""Incident vocabulary (4-8-11): the view, its time-stamped steps and legal deadlines, errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class IncidentState(StrEnum):
    """Whether an incident is still being handled."""

    OPEN = "open"  # reported; being contained and investigated
    CLOSED = "closed"  # root cause and recurrence-prevention measures recorded (4-8-11(5))


class StepKind(StrEnum):
    """What a step of an incident's timeline is."""

    OPENED = "opened"  # 4-8-11(1): reported, from an alarm or by an operator
    NOTIFIED = "notified"  # 4-8-11(1)(3): the zone's manager, then the chief, was told
    CONTAINMENT = "containment"  # 4-8-11(2): a containment action (e.g. zone lockdown)
    NOTE = "note"  # 4-8-11(3): an investigation note
    PERSONAL_DATA = "personal_data"  # personal data is involved: legal steps now run
    LEGAL_STEP_DONE = "legal_step_done"  # 4-8-11(6)(7): a report made / a notice given
    LEGAL_STEP_OVERDUE = "legal_step_overdue"  # a legal step passed its due time (an alarm)
    CLOSED = "closed"  # 4-8-11(5): closed with root cause and measures


@dataclass(frozen=True, slots=True)
class IncidentStep:
    """One time-stamped entry of the timeline (each also a record in the log)."""

    step_id: str
    at: datetime
    kind: StepKind
    actor: str | None
    text: str | None
    detail: dict[str, object]


@dataclass(frozen=True, slots=True)
class LegalDeadline:
    """A legal reporting step of an incident involving personal data."""

    step: str  # e.g. "preliminary_report"
    ja: str
    en: str
    due_at: datetime
    done_at: datetime | None
    done_by: str | None
    overdue: bool  # not done and past its due time (its overdue record has been written)


@dataclass(frozen=True, slots=True)
class IncidentView:
    """An incident with its deadlines and its timeline, oldest step first."""

    incident_id: str
    site_id: str
    title: str
    description: str | None
    zone_id: str | None
    alarm_id: str | None
    state: IncidentState
    opened_at: datetime
    opened_by: str
    personal_data: bool
    root_cause: str | None
    measures: str | None
    closed_at: datetime | None
    closed_by: str | None
    deadlines: tuple[LegalDeadline, ...]
    steps: tuple[IncidentStep, ...]


class IncidentError(Exception):
    """Root of the errors the incident service raises."""


class UnknownIncident(IncidentError, KeyError):
    """No incident with this id (a KeyError too, for callers that treat it as a lookup)."""

    def __str__(self) -> str:
        """The message, without KeyError's quoting."""
        return str(self.args[0]) if self.args else "unknown incident"


class IncidentRefused(IncidentError):
    """The incident cannot take this step now (closed already, cause missing, ...)."""
