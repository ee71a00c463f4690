"""Authorizations: who may enter which zone, on which schedule, until when (4-8-7(1)).

Granting and revoking is for a zone's manager only, for that manager's own zones, and never
for the manager's own person: nobody grants themselves access (4-8-6(6)).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, status
from sqlalchemy import and_, func, not_, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from api.audit import stage_action, write_staged
from api.core_bridge import CoreBridge
from api.deps import CoreDep, IdPath, PageDep, SessionDep, require
from api.errors import conflict, forbidden, invalid, not_found
from api.roles import Permission
from api.schemas import (
    AuthorizationCreate,
    AuthorizationOut,
    AuthorizationsPage,
    Ident,
    RevokeIn,
    RowId,
    error_responses,
)
from gateway.recertification import recertify_periods
from gateway.storage.models import Account, Authorization, Person

router = APIRouter(prefix="/authorizations", tags=["authorizations"])

Reader = Annotated[Account, require(Permission.AUTHORIZATIONS_READ)]
Granter = Annotated[Account, require(Permission.AUTHORIZATIONS_WRITE)]


def _active_at(now: datetime) -> ColumnElement[bool]:
    """SQL condition: not revoked and within its validity at ``now``."""
    return and_(
        col(Authorization.revoked_at).is_(None),
        or_(col(Authorization.valid_from).is_(None), col(Authorization.valid_from) <= now),
        or_(col(Authorization.valid_to).is_(None), col(Authorization.valid_to) > now),
    )


def check_granter(caller: Account, zone_id: str, person_id: str) -> None:
    """403 unless ``zone_id`` is one of the caller's zones and the person is someone else."""
    if zone_id not in caller.zones:
        raise forbidden("Only a manager of this zone may grant or revoke access to it")
    if caller.person_id is not None and caller.person_id == person_id:
        raise forbidden("Nobody may grant or revoke their own access")


def _out(row: Authorization, core: CoreBridge) -> AuthorizationOut:
    """Response body for a row, with its zone's recertification period (4-8-7(3))."""
    periods = recertify_periods(core.site(), [row.zone_id])
    return AuthorizationOut.of(row, datetime.now(UTC), periods.get(row.zone_id))


def _load(session: Session, site_id: str, authorization_id: str) -> Authorization:
    """The site's authorization with this id, or 404."""
    row = session.get(Authorization, authorization_id)
    if row is None or row.site_id != site_id:
        raise not_found("authorization")
    return row


@router.get("", response_model=AuthorizationsPage, responses=error_responses(401, 403))
def list_authorizations(
    *,
    caller: Reader,
    session: SessionDep,
    core: CoreDep,
    page: PageDep,
    person_id: RowId | None = None,
    zone_id: Ident | None = None,
    active: bool | None = None,
) -> AuthorizationsPage:
    """Authorizations, newest grant first, by person, zone and whether active now."""
    now = datetime.now(UTC)
    conditions: list[ColumnElement[bool]] = [col(Authorization.site_id) == caller.site_id]
    if person_id is not None:
        conditions.append(col(Authorization.person_id) == person_id)
    if zone_id is not None:
        conditions.append(col(Authorization.zone_id) == zone_id)
    if active is not None:
        conditions.append(_active_at(now) if active else not_(_active_at(now)))
    total = session.exec(select(func.count()).select_from(Authorization).where(*conditions)).one()
    stmt = (
        select(Authorization)
        .where(*conditions)
        .order_by(col(Authorization.granted_at).desc(), col(Authorization.id))
        .offset(page.offset)
        .limit(page.limit)
    )
    periods = recertify_periods(core.site())
    items = [AuthorizationOut.of(a, now, periods.get(a.zone_id)) for a in session.exec(stmt)]
    return AuthorizationsPage(items=items, total=total)


@router.get(
    "/{authorization_id}",
    response_model=AuthorizationOut,
    responses=error_responses(401, 403, 404),
)
def get_authorization(
    authorization_id: IdPath, caller: Reader, session: SessionDep, core: CoreDep
) -> AuthorizationOut:
    """One authorization."""
    return _out(_load(session, caller.site_id, authorization_id), core)


@router.post(
    "",
    response_model=AuthorizationOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403),
)
def grant(
    body: AuthorizationCreate, caller: Granter, session: SessionDep, core: CoreDep
) -> AuthorizationOut:
    """Grant a person access to a zone on a schedule; ``granted_by`` is the caller."""
    site = core.site()
    try:
        site.zone(body.zone_id)
    except KeyError:
        raise invalid(("body", "zone_id"), "unknown zone") from None
    try:
        site.schedule(body.schedule_id)
    except KeyError:
        raise invalid(("body", "schedule_id"), "unknown schedule") from None
    person = session.get(Person, body.person_id)
    if person is None or person.site_id != caller.site_id:
        raise invalid(("body", "person_id"), "no such person")
    check_granter(caller, body.zone_id, person.id)
    row = Authorization(site_id=caller.site_id, granted_by=caller.username, **body.model_dump())
    session.add(row)
    stage_action(
        session,
        site_id=caller.site_id,
        actor=caller.username,
        action="authorization.grant",
        target=row.id,
        changes=body.model_dump(),
        person_id=person.id,
        person_kind=person.kind.value,
        zone_id=row.zone_id,
    )
    session.commit()
    write_staged(session, core)
    core.reload_person(person.id)
    return _out(row, core)


@router.post(
    "/{authorization_id}/revoke",
    response_model=AuthorizationOut,
    responses=error_responses(401, 403, 404, 409),
)
def revoke(
    authorization_id: IdPath,
    caller: Granter,
    session: SessionDep,
    core: CoreDep,
    body: RevokeIn | None = None,
) -> AuthorizationOut:
    """Revoke an authorization; the record names who revoked it and why."""
    row = _load(session, caller.site_id, authorization_id)
    check_granter(caller, row.zone_id, row.person_id)
    if row.revoked_at is not None:
        raise conflict("Already revoked")
    row.revoked_by = caller.username
    row.revoked_at = datetime.now(UTC)
    session.add(row)
    person = session.get(Person, row.person_id)
    stage_action(
        session,
        site_id=caller.site_id,
        actor=caller.username,
        action="authorization.revoke",
        target=row.id,
        changes={"reason": body.reason if body else None},
        person_id=row.person_id,
        person_kind=person.kind.value if person else None,
        zone_id=row.zone_id,
    )
    session.commit()
    write_staged(session, core)
    core.reload_person(row.person_id)
    return _out(row, core)
