"""Training records (4-8-3): staff who handle held personal information must be trained.

A zone with ``require_training`` admits only holders of a current record of that course. The
chief owns training (4-8-2) and managers record it; nobody records their own (4-8-6(6)).
Records are added, never edited: a renewed course is a new record.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, status
from sqlmodel import col, select

from api.deps import CoreDep, IdPath, SessionDep, require
from api.errors import forbidden, invalid
from api.roles import Permission
from api.routes.people import load_person, person_changed, stage_person_change
from api.rules_schemas import TrainingIn, TrainingOut
from api.schemas import error_responses
from gateway.storage.models import Account, TrainingRecord

router = APIRouter(prefix="/people", tags=["training"])

Reader = Annotated[Account, require(Permission.PEOPLE_READ)]
Writer = Annotated[Account, require(Permission.TRAINING_WRITE)]

# Clocks of the desk and the gateway may differ a little; a completion further ahead is a typo.
CLOCK_SKEW = timedelta(minutes=5)


@router.get(
    "/{person_id}/training",
    response_model=list[TrainingOut],
    responses=error_responses(401, 403, 404),
)
def list_training(person_id: IdPath, caller: Reader, session: SessionDep) -> list[TrainingOut]:
    """A person's training records, most recently completed first."""
    load_person(session, caller.site_id, person_id)
    stmt = (
        select(TrainingRecord)
        .where(TrainingRecord.site_id == caller.site_id, TrainingRecord.person_id == person_id)
        .order_by(col(TrainingRecord.completed_at).desc(), col(TrainingRecord.id))
    )
    now = datetime.now(UTC)
    return [TrainingOut.of(t, now) for t in session.exec(stmt)]


@router.post(
    "/{person_id}/training",
    response_model=TrainingOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403, 404),
)
def record_training(
    person_id: IdPath, body: TrainingIn, caller: Writer, session: SessionDep, core: CoreDep
) -> TrainingOut:
    """Record a completed course for a person (recorded as ``training.record``)."""
    person = load_person(session, caller.site_id, person_id)
    if caller.person_id is not None and caller.person_id == person.id:
        raise forbidden("Nobody may record their own training (4-8-6(6))")
    now = datetime.now(UTC)
    if body.completed_at > now + CLOCK_SKEW:
        raise invalid(("body", "completed_at"), "is in the future")
    row = TrainingRecord(
        site_id=caller.site_id,
        person_id=person.id,
        recorded_by=caller.username,
        **body.model_dump(),
    )
    session.add(row)
    stage_person_change(
        session,
        person,
        actor=caller.username,
        action="training.record",
        changes=body.model_dump(),
        target=row.id,
    )
    session.commit()
    person_changed(session, core, person)
    return TrainingOut.of(row, datetime.now(UTC))
