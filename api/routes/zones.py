"""Zones from the site file, each with its declared entrance doors (4-8-7(2))."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.deps import CoreDep, require
from api.errors import not_found
from api.roles import Permission
from api.schemas import ZoneDoorOut, ZoneOut, error_responses
from gateway.config.site import SiteConfig, ZoneConfig

router = APIRouter(prefix="/zones", tags=["zones"])

ZoneReader = require(Permission.ZONES_READ)
ZonePath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]


def _zone_out(site: SiteConfig, zone: ZoneConfig) -> ZoneOut:
    """A zone with the doors that lead into it."""
    doors = [
        ZoneDoorOut(
            id=d.id,
            name=d.name,
            mode=d.mode,
            auth=d.auth,
            entry_reader=d.entry_reader,
            exit_reader=d.exit_reader,
        )
        for d in site.doors
        if d.zone == zone.id
    ]
    return ZoneOut(id=zone.id, name=zone.name, kind=zone.kind.value, doors=doors)


@router.get(
    "",
    response_model=list[ZoneOut],
    dependencies=[ZoneReader],
    responses=error_responses(401, 403),
)
def list_zones(core: CoreDep) -> list[ZoneOut]:
    """Every zone, in site-file order."""
    site = core.site()
    return [_zone_out(site, z) for z in site.zones]


@router.get(
    "/{zone_id}",
    response_model=ZoneOut,
    dependencies=[ZoneReader],
    responses=error_responses(401, 403, 404),
)
def get_zone(zone_id: ZonePath, core: CoreDep) -> ZoneOut:
    """One zone."""
    site = core.site()
    try:
        zone = site.zone(zone_id)
    except KeyError:
        raise not_found("zone") from None
    return _zone_out(site, zone)
