"""Incidents (4-8-11): open, contain, investigate, legal reporting steps, close.

Reading: chief, manager, operator, auditor. Opening and adding steps: chief, manager,
operator — whoever notices reports at once (4-8-11(1)). Closing, with a root cause and
recurrence-prevention measures (4-8-11(5)): the chief, or a manager of the incident's zone.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime
from functools import partial
from typing import Annotated, Any

from anyio import from_thread
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from api.deps import require
from api.errors import conflict, forbidden, not_found
from api.roles import Permission, Role
from api.schemas import Ident, In, Line200, Note, error_responses
from gateway.incidents.model import (
    IncidentRefused,
    IncidentState,
    IncidentView,
    StepKind,
    UnknownIncident,
)
from gateway.incidents.service import IncidentService
from gateway.storage.models import Account

router = APIRouter(prefix="/incidents", tags=["incidents"])

IncidentPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,32}$", description="an incident id")]
StepPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="a legal step")]
Writer = Annotated[Account, require(Permission.INCIDENTS_WRITE)]
LongText = Annotated[Note, Field(min_length=1)]


def get_incidents(request: Request) -> IncidentService:
    """The running incident service; 404 when this app was built without one."""
    service: IncidentService | None = request.app.state.incidents
    if service is None:
        raise not_found("incident service (not configured)")
    return service


IncidentsDep = Annotated[IncidentService, Depends(get_incidents)]


class StepOut(BaseModel):
    """One time-stamped step of the timeline."""

    step_id: str
    at: datetime
    kind: StepKind
    actor: str | None
    text: str | None
    detail: dict[str, object]


class DeadlineOut(BaseModel):
    """A legal reporting step and its due time."""

    step: str
    ja: str
    en: str
    due_at: datetime
    done_at: datetime | None
    done_by: str | None
    overdue: bool


class IncidentOut(BaseModel):
    """An incident with its deadlines and timeline."""

    incident_id: str
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
    deadlines: list[DeadlineOut]
    steps: list[StepOut]

    @classmethod
    def of(cls, v: IncidentView) -> IncidentOut:
        """The output form of an incident view."""
        return cls(
            incident_id=v.incident_id,
            title=v.title,
            description=v.description,
            zone_id=v.zone_id,
            alarm_id=v.alarm_id,
            state=v.state,
            opened_at=v.opened_at,
            opened_by=v.opened_by,
            personal_data=v.personal_data,
            root_cause=v.root_cause,
            measures=v.measures,
            closed_at=v.closed_at,
            closed_by=v.closed_by,
            deadlines=[DeadlineOut(**_plain(d)) for d in v.deadlines],
            steps=[StepOut(**_plain(s)) for s in v.steps],
        )


def _plain(obj: object) -> dict[str, object]:
    """A slotted dataclass's fields as keyword arguments."""
    return {name: getattr(obj, name) for name in getattr(obj, "__slots__", ())}


class OpenIn(In):
    """Open an incident; from an alarm, the title and zone default to the alarm's."""

    title: Line200 | None = None
    zone_id: Ident | None = None
    alarm_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")] | None = None
    description: Note | None = None
    personal_data: bool = False


class ContainmentIn(In):
    """A containment action: ``lockdown`` also locks the incident's zone down."""

    action: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    text: Note | None = None


class NoteIn(In):
    """An investigation note."""

    text: LongText


class StepIn(In):
    """A note to go with a step (e.g. the report's reference number)."""

    text: Note | None = None


class CloseIn(In):
    """Closing needs both (4-8-11(5))."""

    root_cause: LongText
    measures: LongText


def _act(fn: Callable[..., Coroutine[Any, Any, IncidentView]], *args: object) -> IncidentOut:
    """Run a service step on the core's loop; 404 / 409 for its refusals."""
    try:
        view = from_thread.run(fn, *args)
    except UnknownIncident:
        raise not_found("incident") from None
    except IncidentRefused as exc:
        raise conflict(str(exc)) from None
    return IncidentOut.of(view)


@router.get(
    "",
    response_model=list[IncidentOut],
    dependencies=[require(Permission.INCIDENTS_READ)],
    responses=error_responses(401, 403, 404),
)
def list_incidents(
    service: IncidentsDep,
    open_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[IncidentOut]:
    """Incidents newest first."""
    return [IncidentOut.of(v) for v in service.recent(open_only=open_only, limit=limit)]


@router.get(
    "/{incident_id}",
    response_model=IncidentOut,
    dependencies=[require(Permission.INCIDENTS_READ)],
    responses=error_responses(401, 403, 404),
)
def get_incident(incident_id: IncidentPath, service: IncidentsDep) -> IncidentOut:
    """One incident with its timeline."""
    try:
        return IncidentOut.of(service.get(incident_id))
    except UnknownIncident:
        raise not_found("incident") from None


@router.post(
    "",
    response_model=IncidentOut,
    status_code=201,
    responses=error_responses(401, 403, 404, 409),
)
def open_incident(body: OpenIn, caller: Writer, service: IncidentsDep) -> IncidentOut:
    """Open an incident; the zone's manager is notified at once, then the chief."""
    try:
        view = from_thread.run(
            partial(
                service.open,
                body.title,
                caller.username,
                zone_id=body.zone_id,
                alarm_id=body.alarm_id,
                description=body.description,
                personal_data=body.personal_data,
            )
        )
    except IncidentRefused as exc:
        raise conflict(str(exc)) from None
    return IncidentOut.of(view)


@router.post(
    "/{incident_id}/containment",
    response_model=IncidentOut,
    responses=error_responses(401, 403, 404, 409),
)
def contain(
    incident_id: IncidentPath, body: ContainmentIn, caller: Writer, service: IncidentsDep
) -> IncidentOut:
    """Record a containment action (``lockdown`` locks the zone down where the core can)."""
    return _act(service.contain, incident_id, caller.username, body.action, body.text)


@router.post(
    "/{incident_id}/notes",
    response_model=IncidentOut,
    responses=error_responses(401, 403, 404, 409),
)
def add_note(
    incident_id: IncidentPath, body: NoteIn, caller: Writer, service: IncidentsDep
) -> IncidentOut:
    """Add an investigation note."""
    return _act(service.note, incident_id, caller.username, body.text)


@router.post(
    "/{incident_id}/personal-data",
    response_model=IncidentOut,
    responses=error_responses(401, 403, 404, 409),
)
def mark_personal_data(
    incident_id: IncidentPath, caller: Writer, service: IncidentsDep, body: StepIn | None = None
) -> IncidentOut:
    """Personal data is involved: the legal reporting steps are due from now."""
    text = body.text if body else None
    return _act(service.mark_personal_data, incident_id, caller.username, text)


@router.post(
    "/{incident_id}/legal-steps/{step}/done",
    response_model=IncidentOut,
    responses=error_responses(401, 403, 404, 409),
)
def complete_step(
    incident_id: IncidentPath,
    step: StepPath,
    caller: Writer,
    service: IncidentsDep,
    body: StepIn | None = None,
) -> IncidentOut:
    """A legal reporting step is done (the report sent, the notice given)."""
    text = body.text if body else None
    return _act(service.complete_step, incident_id, step, caller.username, text)


@router.post(
    "/{incident_id}/close",
    response_model=IncidentOut,
    responses=error_responses(401, 403, 404, 409),
)
def close_incident(
    incident_id: IncidentPath,
    body: CloseIn,
    caller: Annotated[Account, require(Permission.INCIDENTS_CLOSE)],
    service: IncidentsDep,
) -> IncidentOut:
    """Close with root cause and measures; a manager closes incidents of their own zones."""
    try:
        incident = service.get(incident_id)
    except UnknownIncident:
        raise not_found("incident") from None
    if caller.role == Role.MANAGER.value and (
        incident.zone_id is None or incident.zone_id not in (caller.zones or [])
    ):
        raise forbidden("A manager closes incidents of their own zones only")
    return _act(service.close, incident_id, caller.username, body.root_cause, body.measures)
