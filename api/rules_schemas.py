"""Request and response bodies of the server-room rules (issue 3): occupancy, lockdown, door
modes, anti-passback forgiveness, recertification, work orders (用件) and training (4-8-3)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Self

from pydantic import AfterValidator, Field, field_validator, model_validator

from api.schemas import DoorOut, Ident, In, Note, Out, RowId, UtcTime, utc_or_none
from gateway.domain import DoorMode
from gateway.storage.models import TrainingRecord, WorkOrder


def _not_blank(value: str) -> str:
    """Refuse a value of only whitespace."""
    if not value.strip():
        raise ValueError("must not be blank")
    return value


# Why something was done from the desk: required, and it goes into the record.
Why = Annotated[Note, Field(min_length=1), AfterValidator(_not_blank)]
Course = Annotated[
    str,
    Field(min_length=1, max_length=63, examples=["pi-handling"]),
    AfterValidator(_not_blank),
]


# ---------------------------------------------------------------- occupancy and anti-passback


class OccupantOut(Out):
    """One person inside a zone; outsiders (visitors, contractors) are marked (4-8-7(1))."""

    person_id: str
    name: str | None = Field(description="None when the person is no longer on file")
    kind: str = Field(description="staff, visitor or contractor")
    outsider: bool = Field(description="a visitor or contractor (部外者)")
    since: UtcTime
    escorted_by: str | None = Field(description="the escort's person id, for outsiders")
    escort_name: str | None
    entry_seq: int | None = Field(description="the access record that let them in")


class OccupancyOut(Out):
    """Who is inside a zone now, in order of entry."""

    zone_id: str
    count: int
    outsiders: int
    occupants: list[OccupantOut]


class ForgiveIn(In):
    """Reset a person's anti-passback state in a zone, with why (recorded)."""

    person_id: RowId
    note: Why


class ForgiveOut(Out):
    """The record of a forgiveness."""

    zone_id: str
    person_id: str
    seq: int


# ---------------------------------------------------------------- lockdown and door modes


class LockdownIn(In):
    """Why a zone is locked down or released (required; recorded with who)."""

    reason: Why


class LockdownOut(Out):
    """The record of a lockdown or its release, and the zone's doors as they are now."""

    zone_id: str
    seq: int
    doors: list[DoorOut]


class DoorModeIn(In):
    """A door mode from the desk (ONVIF's set) and why; locked_down comes only by lockdown."""

    mode: DoorMode
    reason: Why

    @field_validator("mode")
    @classmethod
    def _not_locked_down(cls, mode: DoorMode) -> DoorMode:
        """Refuse locked_down: a zone lockdown sets it (POST /zones/{zone_id}/lockdown)."""
        if mode is DoorMode.LOCKED_DOWN:
            raise ValueError("locked_down is set by a zone lockdown, not door by door")
        return mode


class DoorModeOut(Out):
    """The record of a door mode change."""

    door_id: str
    mode: DoorMode
    seq: int


# ---------------------------------------------------------------- recertification


class RecertificationDueOut(Out):
    """An authorization that lapses (or has lapsed) unless its zone's manager recertifies it."""

    authorization_id: str
    person_id: str
    person_name: str | None
    person_kind: str | None
    zone_id: str
    granted_by: str
    granted_at: UtcTime
    recertified_by: str | None
    recertified_at: UtcTime | None
    certified_at: UtcTime = Field(description="granted or last recertified")
    due_at: UtcTime = Field(description="when it lapses")
    lapsed: bool


class RecertificationsDuePage(Out):
    """Authorizations falling due by ``until``, earliest first."""

    until: UtcTime
    items: list[RecertificationDueOut]
    total: int


# ---------------------------------------------------------------- work orders (用件)


class WorkOrderStatus(StrEnum):
    """Where a work order stands; only an approved one gives an entry its purpose."""

    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class WorkOrderCreate(In):
    """A purpose for one person's entries to a zone within a window (用件の確認, 4-8-7(1))."""

    person_id: RowId
    zone_id: Ident
    purpose: Why
    valid_from: UtcTime
    valid_to: UtcTime

    @model_validator(mode="after")
    def _window(self) -> Self:
        """Refuse a window that ends before it starts."""
        if self.valid_from >= self.valid_to:
            raise ValueError("valid_from must be before valid_to")
        return self


class WorkOrderOut(Out):
    """A work order and who asked for it and who decided it."""

    id: str
    person_id: str
    zone_id: str
    purpose: str
    valid_from: UtcTime
    valid_to: UtcTime
    status: WorkOrderStatus
    requested_by: str
    requested_at: UtcTime
    decided_by: str | None
    decided_at: UtcTime | None
    decision_note: str | None

    @classmethod
    def of(cls, row: WorkOrder) -> WorkOrderOut:
        """Response body for a work order row."""
        return cls.model_validate(row)


class WorkOrdersPage(Out):
    """One page of work orders."""

    items: list[WorkOrderOut]
    total: int


class DecisionIn(In):
    """A note on approving, rejecting or cancelling a work order (optional)."""

    note: Note | None = None


# ---------------------------------------------------------------- training, 4-8-3


class TrainingIn(In):
    """A completed training of a person; a zone may require a current one."""

    course: Course
    completed_at: UtcTime
    valid_until: UtcTime | None = Field(default=None, description="None: does not expire")

    @model_validator(mode="after")
    def _validity(self) -> Self:
        """Refuse a record that expires before it was completed."""
        if self.valid_until is not None and self.valid_until <= self.completed_at:
            raise ValueError("valid_until must be after completed_at")
        return self


class TrainingOut(Out):
    """A training record, and whether it is current now."""

    id: str
    person_id: str
    course: str
    completed_at: UtcTime
    valid_until: UtcTime | None
    recorded_by: str
    recorded_at: UtcTime
    current: bool

    @classmethod
    def of(cls, row: TrainingRecord, now: datetime) -> TrainingOut:
        """Response body for a training row, judged current or not at ``now``."""
        until = utc_or_none(row.valid_until)
        data = row.model_dump()
        data["current"] = until is None or now < until
        return cls.model_validate(data)
