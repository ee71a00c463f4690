"""Live door status from the core, and momentary unlock from the security desk."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.deps import CoreDep, require
from api.errors import conflict, not_found
from api.roles import Permission
from api.schemas import DoorOut, UnlockIn, UnlockOut, error_responses
from gateway.core_api import DoorStatus, DoorUnavailable, UnknownDoor
from gateway.domain import DoorState
from gateway.ports import DeviceFault
from gateway.storage.models import Account

router = APIRouter(prefix="/doors", tags=["doors"])

DoorPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]


def _status(core: CoreDep, door_id: str) -> DoorStatus:
    """The live status of one door, or 404."""
    for door in core.doors():
        if door.door_id == door_id:
            return door
    raise not_found("door")


@router.get(
    "",
    response_model=list[DoorOut],
    dependencies=[require(Permission.DOORS_READ)],
    responses=error_responses(401, 403),
)
def list_doors(core: CoreDep) -> list[DoorOut]:
    """Every door's live state, in site-file order."""
    return [DoorOut.of(d) for d in core.doors()]


@router.get(
    "/{door_id}",
    response_model=DoorOut,
    dependencies=[require(Permission.DOORS_READ)],
    responses=error_responses(401, 403, 404),
)
def get_door(door_id: DoorPath, core: CoreDep) -> DoorOut:
    """One door's live state."""
    return DoorOut.of(_status(core, door_id))


@router.post(
    "/{door_id}/unlock",
    response_model=UnlockOut,
    responses=error_responses(401, 403, 404, 409),
)
def unlock(
    door_id: DoorPath,
    caller: Annotated[Account, require(Permission.DOORS_UNLOCK)],
    core: CoreDep,
    body: UnlockIn | None = None,
) -> UnlockOut:
    """Release the strike for its strike time; the core records it with the caller as actor.

    A door in fault (its I/O module unreachable) cannot be driven: 409.
    """
    if _status(core, door_id).state is DoorState.FAULT:
        raise conflict("The door is in fault; its lock cannot be driven")
    try:
        seq = core.momentary_unlock(door_id, caller.username, body.note if body else None)
    except UnknownDoor:
        raise not_found("door") from None
    except (DoorUnavailable, DeviceFault):  # it went into fault after the check above
        raise conflict("The door is in fault; its lock cannot be driven") from None
    return UnlockOut(door_id=door_id, seq=seq)
