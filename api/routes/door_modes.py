"""Door modes from the desk (ONVIF's set) and zone lockdown (4-8-7(2), 4-8-11(2) containment).

The core records every change with who and why before it takes effect; these routes write
nothing themselves, so nothing is recorded twice.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from api.core_bridge import CoreBridge
from api.deps import CoreDep, require
from api.errors import conflict, not_found
from api.roles import Permission
from api.routes.doors import DoorPath
from api.routes.zones import ZonePath
from api.rules_schemas import DoorModeIn, DoorModeOut, LockdownIn, LockdownOut
from api.schemas import DoorOut, error_responses
from gateway.core_api import UnknownDoor, UnknownZone
from gateway.door_modes import ModeRefused
from gateway.storage.models import Account

router = APIRouter(tags=["door modes"])

Locker = Annotated[Account, require(Permission.ZONES_LOCKDOWN)]
ModeSetter = Annotated[Account, require(Permission.DOORS_MODE)]


def _check_zone(core: CoreBridge, zone_id: str) -> None:
    """404 unless the site has this zone."""
    try:
        core.site().zone(zone_id)
    except KeyError:
        raise not_found("zone") from None


def _zone_doors(core: CoreBridge, zone_id: str) -> list[DoorOut]:
    """The live status of the doors into a zone."""
    return [DoorOut.of(d) for d in core.doors() if d.zone_id == zone_id]


@router.post(
    "/zones/{zone_id}/lockdown",
    response_model=LockdownOut,
    responses=error_responses(401, 403, 404, 409),
)
def lockdown(zone_id: ZonePath, body: LockdownIn, caller: Locker, core: CoreDep) -> LockdownOut:
    """Lock down every entrance of the zone: no badge opens them until released.

    A door held open for an emergency (locked_open) stays open.
    """
    _check_zone(core, zone_id)
    try:
        seq = core.lockdown(zone_id, caller.username, body.reason)
    except UnknownZone:  # the zone exists but no door leads into it
        raise conflict("The zone has no doors to lock down") from None
    return LockdownOut(zone_id=zone_id, seq=seq, doors=_zone_doors(core, zone_id))


@router.post(
    "/zones/{zone_id}/lockdown/release",
    response_model=LockdownOut,
    responses=error_responses(401, 403, 404, 409),
)
def release_lockdown(
    zone_id: ZonePath, body: LockdownIn, caller: Locker, core: CoreDep
) -> LockdownOut:
    """End the zone's lockdown: its doors go back to access mode (409 when not locked down)."""
    _check_zone(core, zone_id)
    try:
        seq = core.release_lockdown(zone_id, caller.username, body.reason)
    except UnknownZone:
        raise conflict("The zone has no doors to release") from None
    except ModeRefused as exc:
        raise conflict(str(exc)) from None
    return LockdownOut(zone_id=zone_id, seq=seq, doors=_zone_doors(core, zone_id))


@router.put(
    "/doors/{door_id}/mode",
    response_model=DoorModeOut,
    responses=error_responses(401, 403, 404, 409),
)
def set_door_mode(
    door_id: DoorPath, body: DoorModeIn, caller: ModeSetter, core: CoreDep
) -> DoorModeOut:
    """Set the door's mode; 409 with the reason when it is unsafe or held by a lockdown."""
    try:
        seq = core.set_door_mode(door_id, body.mode, caller.username, body.reason)
    except UnknownDoor:
        raise not_found("door") from None
    except ModeRefused as exc:
        raise conflict(str(exc)) from None
    return DoorModeOut(door_id=door_id, mode=body.mode, seq=seq)
