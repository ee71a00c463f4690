"""Live reader status from the core."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CoreDep, require
from api.roles import Permission
from api.schemas import ReaderOut, error_responses

router = APIRouter(prefix="/readers", tags=["readers"])


@router.get(
    "",
    response_model=list[ReaderOut],
    dependencies=[require(Permission.READERS_READ)],
    responses=error_responses(401, 403),
)
def list_readers(core: CoreDep) -> list[ReaderOut]:
    """Every reader: online, Secure Channel up, tamper."""
    return [ReaderOut.of(r) for r in core.readers()]
