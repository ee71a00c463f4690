"""Recertification of access (4-8-7(3) periodic review): what falls due, and recertifying it.

In a zone with ``recertify_days`` every authorization lapses that many days after it was
granted or last recertified. Only a manager of the zone recertifies, never for their own person
and never the admin (4-8-6(6)). A manager sees what falls due in their own zones; the chief and
the auditor see every zone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from sqlmodel import Session, col, select

from api.audit import stage_action, write_staged
from api.deps import CoreDep, IdPath, PageDep, SessionDep, require
from api.errors import conflict, forbidden, invalid, not_found
from api.roles import Permission, Role
from api.rules_schemas import RecertificationDueOut, RecertificationsDuePage
from api.schemas import AuthorizationOut, Ident, RecertifyIn, error_responses, to_utc
from gateway.recertification import DueAuthorization, falling_due, lapses_at, recertify_periods
from gateway.storage.models import Account, Authorization, Person

router = APIRouter(tags=["recertification"])

Recertifier = Annotated[Account, require(Permission.AUTHORIZATIONS_RECERTIFY)]
DueReader = Annotated[Account, require(Permission.RECERTIFICATIONS_READ)]


def _load(session: Session, site_id: str, authorization_id: str) -> Authorization:
    """The site's authorization with this id, or 404."""
    row = session.get(Authorization, authorization_id)
    if row is None or row.site_id != site_id:
        raise not_found("authorization")
    return row


@router.post(
    "/authorizations/{authorization_id}/recertify",
    response_model=AuthorizationOut,
    responses=error_responses(401, 403, 404, 409),
)
def recertify(
    authorization_id: IdPath,
    caller: Recertifier,
    session: SessionDep,
    core: CoreDep,
    body: RecertifyIn | None = None,
) -> AuthorizationOut:
    """Recertify an authorization: it runs another period from now (a lapsed one too)."""
    row = _load(session, caller.site_id, authorization_id)
    if row.zone_id not in caller.zones:
        raise forbidden("Only a manager of this zone may recertify access to it")
    if caller.person_id is not None and caller.person_id == row.person_id:
        raise forbidden("Nobody may recertify their own access (4-8-6(6))")
    try:
        days = core.site().zone(row.zone_id).recertify_days
    except KeyError:
        raise conflict("The site file no longer has this zone") from None
    if days is None:
        raise conflict("This zone does not require recertification (no recertify_days)")
    now = datetime.now(UTC)
    if row.revoked_at is not None:
        raise conflict("The authorization is revoked; grant a new one")
    if row.valid_to is not None and to_utc(row.valid_to) <= now:
        raise conflict("The authorization has expired; grant a new one")
    previous = to_utc(row.recertified_at or row.granted_at)
    was_due = lapses_at(previous, days)
    row.recertified_at = now
    row.recertified_by = caller.username
    session.add(row)
    person = session.get(Person, row.person_id)
    stage_action(
        session,
        site_id=caller.site_id,
        actor=caller.username,
        action="authorization.recertify",
        target=row.id,
        changes={
            "previous": previous,
            "was_due": was_due,
            "was_lapsed": now >= was_due,
            "due_at": lapses_at(now, days),
            "note": body.note if body else None,
        },
        person_id=row.person_id,
        person_kind=person.kind.value if person else None,
        zone_id=row.zone_id,
    )
    session.commit()
    write_staged(session, core)
    core.reload_person(row.person_id)
    return AuthorizationOut.of(row, datetime.now(UTC), days)


@router.get(
    "/recertifications/due",
    response_model=RecertificationsDuePage,
    responses=error_responses(401, 403),
)
def list_due(
    *,
    caller: DueReader,
    session: SessionDep,
    core: CoreDep,
    page: PageDep,
    within_days: Annotated[int, Query(ge=0, le=3650, description="due by now + this")] = 30,
    zone_id: Ident | None = None,
) -> RecertificationsDuePage:
    """Authorizations that lapse within ``within_days`` (lapsed ones too), earliest first.

    A manager sees their own zones; the chief and the auditor see every zone.
    """
    site = core.site()
    if zone_id is not None:
        try:
            site.zone(zone_id)
        except KeyError:
            raise invalid(("query", "zone_id"), "unknown zone") from None
    zones: set[str] | None = None if zone_id is None else {zone_id}
    if caller.role == Role.MANAGER.value:
        if zone_id is not None and zone_id not in caller.zones:
            raise forbidden("A manager sees what falls due in their own zones only")
        zones = set(caller.zones) if zones is None else zones
    now = datetime.now(UTC)
    until = now + timedelta(days=within_days)
    periods = recertify_periods(site, zones)
    due = [
        d
        for d in falling_due(session.connection(), caller.site_id, periods, until)
        if d.valid_to is None or d.valid_to > now
    ]
    shown = due[page.offset : page.offset + page.limit]
    people = _people(session, caller.site_id, {d.person_id for d in shown})
    items = [_due_out(d, people.get(d.person_id), now) for d in shown]
    return RecertificationsDuePage(until=until, items=items, total=len(due))


def _people(session: Session, site_id: str, ids: set[str]) -> dict[str, Person]:
    """The site's people among ``ids``, by id."""
    if not ids:
        return {}
    stmt = select(Person).where(Person.site_id == site_id, col(Person.id).in_(sorted(ids)))
    return {p.id: p for p in session.exec(stmt)}


def _due_out(d: DueAuthorization, person: Person | None, now: datetime) -> RecertificationDueOut:
    """Response body for one authorization falling due."""
    return RecertificationDueOut(
        authorization_id=d.authorization_id,
        person_id=d.person_id,
        person_name=person.name if person else None,
        person_kind=person.kind.value if person else None,
        zone_id=d.zone_id,
        granted_by=d.granted_by,
        granted_at=d.granted_at,
        recertified_by=d.recertified_by,
        recertified_at=d.recertified_at,
        certified_at=d.certified_at,
        due_at=d.due_at,
        lapsed=d.lapsed(now),
    )
