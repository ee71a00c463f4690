"""Live occupancy of a zone and anti-passback forgiveness (4-8-7(1) 入退の記録, 部外者の識別化).

Occupancy is the core's live view: who is inside, since when, escorted by whom, outsiders
marked. Forgiving a person's anti-passback state is the core's to record (once, with who and
why); nobody forgives their own (4-8-6(6)).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from fastapi import APIRouter
from sqlmodel import Session, col, select

from api.deps import CoreDep, SessionDep, require
from api.errors import forbidden, invalid, not_found
from api.roles import Permission
from api.routes.zones import ZonePath
from api.rules_schemas import ForgiveIn, ForgiveOut, OccupancyOut, OccupantOut
from api.schemas import error_responses
from gateway.core_api import UnknownZone
from gateway.domain import PersonKind
from gateway.storage.models import Account, Person

router = APIRouter(prefix="/zones", tags=["occupancy"])

Watcher = Annotated[Account, require(Permission.ZONES_OCCUPANCY)]
Forgiver = Annotated[Account, require(Permission.ZONES_PASSBACK_FORGIVE)]


def _names(session: Session, site_id: str, ids: Iterable[str]) -> dict[str, str]:
    """Person id → name for the site's people among ``ids``."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    stmt = select(Person.id, Person.name).where(
        Person.site_id == site_id, col(Person.id).in_(wanted)
    )
    return dict(session.exec(stmt).all())


def _outsider(kind: str) -> bool:
    """True for visitors and contractors; an unknown kind is treated as an outsider."""
    try:
        return PersonKind(kind).is_outsider
    except ValueError:
        return True


@router.get(
    "/{zone_id}/occupancy",
    response_model=OccupancyOut,
    responses=error_responses(401, 403, 404),
)
def get_occupancy(
    zone_id: ZonePath, caller: Watcher, core: CoreDep, session: SessionDep
) -> OccupancyOut:
    """Who is inside the zone now, in order of entry; outsiders are marked."""
    try:
        inside = core.occupancy(zone_id)
    except UnknownZone:
        raise not_found("zone") from None
    ids = [str(o["person_id"]) for o in inside]
    escorts = [str(o["escorted_by"]) for o in inside if o.get("escorted_by")]
    names = _names(session, caller.site_id, [*ids, *escorts])
    occupants = []
    for o in inside:
        kind = str(o["person_kind"])
        escort = o.get("escorted_by")
        occupants.append(
            OccupantOut.model_validate(
                {
                    "person_id": o["person_id"],
                    "name": names.get(str(o["person_id"])),
                    "kind": kind,
                    "outsider": _outsider(kind),
                    "since": o["since"],
                    "escorted_by": escort,
                    "escort_name": names.get(str(escort)) if escort else None,
                    "entry_seq": o.get("entry_seq"),
                }
            )
        )
    return OccupancyOut(
        zone_id=zone_id,
        count=len(occupants),
        outsiders=sum(o.outsider for o in occupants),
        occupants=occupants,
    )


@router.post(
    "/{zone_id}/passback/forgive",
    response_model=ForgiveOut,
    responses=error_responses(401, 403, 404),
)
def forgive_passback(
    zone_id: ZonePath, body: ForgiveIn, caller: Forgiver, core: CoreDep, session: SessionDep
) -> ForgiveOut:
    """Reset a person's anti-passback state in the zone (out, no recent entry); recorded."""
    try:
        core.site().zone(zone_id)
    except KeyError:
        raise not_found("zone") from None
    person = session.get(Person, body.person_id)
    if person is None or person.site_id != caller.site_id:
        raise invalid(("body", "person_id"), "no such person")
    if caller.person_id is not None and caller.person_id == person.id:
        raise forbidden("Nobody may forgive their own anti-passback state (4-8-6(6))")
    try:
        seq = core.forgive_passback(zone_id, person.id, caller.username, body.note)
    except UnknownZone:
        raise not_found("zone") from None
    return ForgiveOut(zone_id=zone_id, person_id=person.id, seq=seq)
