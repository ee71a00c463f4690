"""The alarm console (4-8-7(4)(5)): active alarms, history, the catalogue, acknowledge, close.

Reading: chief, manager, operator, auditor; acknowledging and closing: chief, manager,
operator (the desk, 4-8-2). The admin has neither (4-8-6(6)). Every acknowledgement and
closing is written to the record log with the caller as actor before the answer.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Annotated

from anyio import from_thread
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict

from api.deps import require
from api.errors import conflict, not_found
from api.roles import Permission
from api.schemas import In, Note, UtcTime, error_responses
from gateway.alarms.model import AlarmRefused, AlarmState, AlarmView, UnknownAlarm
from gateway.alarms.service import AlarmService
from gateway.storage.models import Account

router = APIRouter(prefix="/alarms", tags=["alarms"])

AlarmPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,32}$", description="an alarm id")]
Actor = Annotated[Account, require(Permission.ALARMS_ACK)]


def get_alarms(request: Request) -> AlarmService:
    """The running alarm service; 404 when this app was built without one."""
    service: AlarmService | None = request.app.state.alarms
    if service is None:
        raise not_found("alarm service (not configured)")
    return service


AlarmsDep = Annotated[AlarmService, Depends(get_alarms)]


class AlarmOut(BaseModel):
    """One alarm on the console."""

    model_config = ConfigDict(from_attributes=True)

    alarm_id: str
    site_id: str
    type: str
    priority: int
    state: AlarmState
    source: str
    zone_id: str | None
    door_id: str | None
    raised_at: datetime
    last_at: datetime
    count: int
    condition_active: bool
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    note: str | None
    escalated: bool
    instructions: dict[str, str]
    silent: bool  # a duress alarm: never shown at a reader or on public displays

    @classmethod
    def of(cls, view: AlarmView, service: AlarmService) -> AlarmOut:
        """The output form of an alarm view."""
        return cls.model_validate(
            {
                **{f.name: getattr(view, f.name) for f in fields(view)},
                "silent": service.spec(view.type).silent,
            }
        )


class AlarmTypeOut(BaseModel):
    """One catalogue entry as this site has it."""

    type: str
    priority: int
    escalation_s: float | None
    instructions: dict[str, str]
    silent: bool
    momentary: bool  # an event alarm: its condition ends when it is acknowledged
    raised_by: list[str]
    cleared_by: list[str]
    clause: str


class AlarmActIn(In):
    """An operator's note for the record (optional)."""

    note: Note | None = None


def _view(service: AlarmService, alarm_id: str) -> AlarmView:
    """An alarm from memory (on the loop), else from the table (here); 404 when none."""
    view = from_thread.run_sync(service.lookup, alarm_id)
    if view is None:
        view = service.stored(alarm_id)
    if view is None:
        raise not_found("alarm")
    return view


@router.get(
    "",
    response_model=list[AlarmOut],
    dependencies=[require(Permission.ALARMS_READ)],
    responses=error_responses(401, 403, 404),
)
def list_alarms(service: AlarmsDep) -> list[AlarmOut]:
    """Every alarm not closed, most urgent first, then oldest first."""
    return [AlarmOut.of(v, service) for v in from_thread.run_sync(service.active)]


@router.get(
    "/history",
    response_model=list[AlarmOut],
    dependencies=[require(Permission.ALARMS_READ)],
    responses=error_responses(401, 403, 404),
)
def alarm_history(
    service: AlarmsDep,
    since: UtcTime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AlarmOut]:
    """Alarms newest first, closed ones included (last occurrence at or after ``since``)."""
    return [AlarmOut.of(v, service) for v in service.history(since=since, limit=limit)]


@router.get(
    "/catalogue",
    response_model=list[AlarmTypeOut],
    dependencies=[require(Permission.ALARMS_READ)],
    responses=error_responses(401, 403, 404),
)
def alarm_catalogue(service: AlarmsDep) -> list[AlarmTypeOut]:
    """Every alarm type with this site's priority, escalation and instructions."""
    return [
        AlarmTypeOut(
            type=spec.type,
            priority=priority,
            escalation_s=escalation_s,
            instructions=instructions,
            silent=spec.silent,
            momentary=spec.momentary,
            raised_by=sorted({t.kind.value for t in spec.raised_by}),
            cleared_by=sorted({t.kind.value for t in spec.cleared_by}),
            clause=spec.clause,
        )
        for spec, priority, escalation_s, instructions in service.catalogue()
    ]


@router.get(
    "/{alarm_id}",
    response_model=AlarmOut,
    dependencies=[require(Permission.ALARMS_READ)],
    responses=error_responses(401, 403, 404),
)
def get_alarm(alarm_id: AlarmPath, service: AlarmsDep) -> AlarmOut:
    """One alarm, open or closed."""
    return AlarmOut.of(_view(service, alarm_id), service)


@router.post(
    "/{alarm_id}/acknowledge",
    response_model=AlarmOut,
    responses=error_responses(401, 403, 404, 409),
)
def acknowledge_alarm(
    alarm_id: AlarmPath, caller: Actor, service: AlarmsDep, body: AlarmActIn | None = None
) -> AlarmOut:
    """Take the alarm on (who and a note go to the record); 409 if closed or acknowledged."""
    note = body.note if body else None
    try:
        view = from_thread.run(service.acknowledge, alarm_id, caller.username, note)
    except UnknownAlarm:
        raise not_found("alarm") from None
    except AlarmRefused as exc:
        raise conflict(str(exc)) from None
    return AlarmOut.of(view, service)


@router.post(
    "/{alarm_id}/close",
    response_model=AlarmOut,
    responses=error_responses(401, 403, 404, 409),
)
def close_alarm(
    alarm_id: AlarmPath, caller: Actor, service: AlarmsDep, body: AlarmActIn | None = None
) -> AlarmOut:
    """Close an acknowledged alarm whose condition has cleared; 409 otherwise."""
    note = body.note if body else None
    try:
        view = from_thread.run(service.close, alarm_id, caller.username, note)
    except UnknownAlarm:
        raise not_found("alarm") from None
    except AlarmRefused as exc:
        raise conflict(str(exc)) from None
    return AlarmOut.of(view, service)
