"""People: staff, visitors and contractors (4-8-7(1)); no route deletes one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from api.audit import stage_action, write_staged
from api.core_bridge import CoreBridge
from api.deps import CoreDep, IdPath, PageDep, SessionDep, require
from api.errors import invalid, not_found
from api.roles import Permission
from api.schemas import (
    PeoplePage,
    PersonCreate,
    PersonOut,
    PersonPatch,
    SearchText,
    error_responses,
)
from gateway.clock import utcnow
from gateway.domain import PersonKind
from gateway.storage.models import Account, Person

router = APIRouter(prefix="/people", tags=["people"])

Reader = Annotated[Account, require(Permission.PEOPLE_READ)]
Writer = Annotated[Account, require(Permission.PEOPLE_WRITE)]


def load_person(session: Session, site_id: str, person_id: str) -> Person:
    """The site's person with this id, or 404."""
    person = session.get(Person, person_id)
    if person is None or person.site_id != site_id:
        raise not_found("person")
    return person


def like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, with its wildcards escaped."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def stage_person_change(
    session: Session,
    person: Person,
    *,
    actor: str,
    action: str,
    changes: dict[str, object],
    target: str | None = None,
    credential: str | None = None,
) -> None:
    """Stage the record of a change to a person (or to ``target``, one of theirs); pre-commit."""
    stage_action(
        session,
        site_id=person.site_id,
        actor=actor,
        action=action,
        target=target or person.id,
        changes=changes,
        person_id=person.id,
        person_kind=person.kind.value,
        credential=credential,
    )


def person_changed(session: Session, core: CoreBridge, person: Person) -> None:
    """After the commit: write the staged records, then make the core reload the person."""
    write_staged(session, core)
    core.reload_person(person.id)


@router.get("", response_model=PeoplePage, responses=error_responses(401, 403))
def list_people(
    *,
    caller: Reader,
    session: SessionDep,
    page: PageDep,
    kind: PersonKind | None = None,
    q: Annotated[
        SearchText | None, Query(description="part of name, organisation or number")
    ] = None,
    enabled: bool | None = None,
) -> PeoplePage:
    """People of the site by name, filtered by kind, text and enabled."""
    conditions = [col(Person.site_id) == caller.site_id]
    if kind is not None:
        conditions.append(col(Person.kind) == kind)
    if enabled is not None:
        conditions.append(col(Person.enabled) == enabled)
    if q:
        pattern = like_pattern(q)
        conditions.append(
            or_(
                col(Person.name).ilike(pattern, escape="\\"),
                col(Person.organisation).ilike(pattern, escape="\\"),
                col(Person.employee_no).ilike(pattern, escape="\\"),
            )
        )
    total = session.exec(select(func.count()).select_from(Person).where(*conditions)).one()
    stmt = (
        select(Person)
        .where(*conditions)
        .order_by(col(Person.name), col(Person.id))
        .offset(page.offset)
        .limit(page.limit)
    )
    return PeoplePage(items=[PersonOut.model_validate(p) for p in session.exec(stmt)], total=total)


@router.get("/{person_id}", response_model=PersonOut, responses=error_responses(401, 403, 404))
def get_person(person_id: IdPath, caller: Reader, session: SessionDep) -> PersonOut:
    """One person."""
    return PersonOut.model_validate(load_person(session, caller.site_id, person_id))


@router.post(
    "",
    response_model=PersonOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403),
)
def post_person(
    body: PersonCreate, caller: Writer, session: SessionDep, core: CoreDep
) -> PersonOut:
    """Add a person (recorded as ``person.create``)."""
    person = Person(site_id=caller.site_id, **body.model_dump())
    session.add(person)
    stage_person_change(
        session, person, actor=caller.username, action="person.create", changes=body.model_dump()
    )
    session.commit()
    person_changed(session, core, person)
    return PersonOut.model_validate(person)


@router.patch("/{person_id}", response_model=PersonOut, responses=error_responses(401, 403, 404))
def patch_person(
    person_id: IdPath, body: PersonPatch, caller: Writer, session: SessionDep, core: CoreDep
) -> PersonOut:
    """Change name, organisation, employee number, enabled or a contractor's contract end.

    Recorded as ``person.update``; the decision sees the change at once (4-8-9).
    """
    person = load_person(session, caller.site_id, person_id)
    if "contract_end" in body.model_fields_set and person.kind is not PersonKind.CONTRACTOR:
        raise invalid(("body", "contract_end"), "applies to contractors only")
    changes: dict[str, object] = {}
    for key, new in body.model_dump(exclude_unset=True).items():
        old = getattr(person, key)
        if old != new:
            changes[key] = {"from": old, "to": new}
            setattr(person, key, new)
    if changes:
        person.updated_at = utcnow()
        session.add(person)
        stage_person_change(
            session, person, actor=caller.username, action="person.update", changes=changes
        )
        session.commit()
        person_changed(session, core, person)
    return PersonOut.model_validate(person)
