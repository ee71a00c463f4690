"""Cameras (4-8-7(4)) and their pictures, which are personal data (4-8-6(10)).

Chief, manager, operator and auditor may list the cameras with their health, see which
pictures a record has, and look at pictures: a camera's live still, or a snapshot or clip kept
as evidence of a record. The admin configures cameras but sees no picture (4-8-6(6)). Every
look at a picture is written to the log (``camera.viewed``: who, which camera, which picture)
and committed before the picture is sent; if it cannot be recorded, nothing is shown.

Evidence is served only through the record that names it: the file must decrypt with the
site's key and hash to the SHA-256 in the record, otherwise 409 and nothing is shown.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from anyio import from_thread
from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from fastapi.responses import Response
from pydantic import BaseModel

from api.deps import require
from api.errors import conflict, not_found
from api.roles import Permission
from api.schemas import error_responses
from gateway.cameras.crypto import EvidenceTampered
from gateway.cameras.reader import EvidencePurged, NoEvidence, evidence_of, read_picture
from gateway.cameras.service import CameraService, NoPicture, UnknownCamera
from gateway.cameras.store import EvidenceMissing
from gateway.storage.models import Account

router = APIRouter(tags=["cameras"])

CameraPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="a camera")]
SeqPath = Annotated[int, Path(ge=1, le=2**53 - 1, description="a record's seq")]
Viewer = Annotated[Account, require(Permission.CAMERAS_VIEW)]
_NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def get_cameras(request: Request) -> CameraService:
    """The running camera service; 404 when this app was built without one."""
    service: CameraService | None = getattr(request.app.state, "cameras", None)
    if service is None:
        raise not_found("camera service (not configured)")
    return service


CamerasDep = Annotated[CameraService, Depends(get_cameras)]


class CameraOut(BaseModel):
    """One camera and its health."""

    camera_id: str
    name: str
    door_id: str | None
    zone_id: str
    condition: str  # starting, ok, offline, frozen, blinded
    detail: str
    since: datetime
    fps: float
    last_frame: datetime | None
    width: int | None
    height: int | None
    frames: int
    reconnects: int


class EvidenceOut(BaseModel):
    """A picture a record names (or why there is none)."""

    seq: int  # the record naming the picture: fetch it at /evidence/{seq}/{item}
    kind: str
    item: Literal["snapshot", "clip"]
    camera_id: str | None
    for_seq: int | None  # the record it is evidence of (None: the record is the event itself)
    ts: datetime
    sha256: str | None
    bytes: int | None
    missing: str | None


def _unavailable(detail: str) -> HTTPException:
    """503: the picture cannot be had now."""
    return HTTPException(status_code=status.HTTP_503_SERVICE_UNAVAILABLE, detail=detail)


def _record_view(
    service: CameraService,
    account: Account,
    camera_id: str | None,
    what: str,
    *,
    evidence_seq: int | None = None,
    sha256: str | None = None,
) -> int:
    """Write the view durably before anything is shown; 503 when it cannot be written."""
    try:
        return from_thread.run(
            lambda: service.viewed(
                account.username, camera_id, what, evidence_seq=evidence_seq, sha256=sha256
            )
        )
    except Exception as exc:  # any storage failure: no record, no picture
        raise _unavailable("the view could not be recorded; nothing is shown") from exc


@router.get(
    "/cameras",
    response_model=list[CameraOut],
    dependencies=[require(Permission.CAMERAS_READ)],
    responses=error_responses(401, 403, 404),
)
def list_cameras(service: CamerasDep) -> list[CameraOut]:
    """Every camera with its health: ok, offline, frozen or blinded, and since when."""
    return [
        CameraOut.model_validate(s, from_attributes=True)
        for s in from_thread.run_sync(service.statuses)
    ]


@router.get(
    "/cameras/{camera_id}/snapshot",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "The newest picture (JPEG)"},
        **error_responses(401, 403, 404),
        503: {"description": "The camera has no picture now, or the view cannot be recorded"},
    },
)
def live_snapshot(account: Viewer, camera_id: CameraPath, service: CamerasDep) -> Response:
    """The camera's newest picture; the view is recorded first (``camera.viewed``)."""
    try:
        still = service.live(camera_id)
    except UnknownCamera:
        raise not_found("camera") from None
    except NoPicture as exc:
        raise _unavailable(str(exc)) from None
    seq = _record_view(service, account, camera_id, "live")
    headers = {**_NO_STORE, "X-Frame-Time": still.ts.isoformat(), "X-View-Record": str(seq)}
    return Response(still.jpeg, media_type="image/jpeg", headers=headers)


@router.get(
    "/evidence/{seq}",
    response_model=list[EvidenceOut],
    dependencies=[require(Permission.CAMERAS_READ)],
    responses=error_responses(401, 403, 404),
)
def list_evidence(seq: SeqPath, service: CamerasDep) -> list[EvidenceOut]:
    """The pictures kept as evidence of record ``seq`` (and any it carries itself)."""
    try:
        refs = evidence_of(service.engine, service.site_id, seq)
    except NoEvidence:
        raise not_found("record") from None
    return [EvidenceOut.model_validate(r.as_dict()) for r in refs]


@router.get(
    "/evidence/{seq}/{item}",
    response_class=Response,
    responses={
        200: {
            "content": {"image/jpeg": {}, "multipart/x-mixed-replace": {}},
            "description": "The picture (JPEG) or clip (multipart JPEG frames)",
        },
        **error_responses(401, 403, 404, 409),
        410: {"description": "Purged by retention"},
        503: {"description": "The view cannot be recorded"},
    },
)
def get_evidence(
    account: Viewer,
    seq: SeqPath,
    item: Literal["snapshot", "clip"],
    service: CamerasDep,
) -> Response:
    """The snapshot or clip record ``seq`` names, checked against its SHA-256; view recorded."""
    try:
        picture = read_picture(service.engine, service.store, service.site_id, seq, item)
    except NoEvidence:
        raise not_found(f"{item} for record {seq}") from None
    except (EvidencePurged, EvidenceMissing):
        raise HTTPException(
            status_code=status.HTTP_410_GONE, detail="Purged by retention"
        ) from None
    except EvidenceTampered as exc:
        raise conflict(f"evidence does not match its record: {exc}") from None
    ref = picture.ref
    view = _record_view(service, account, ref.camera_id, item, evidence_seq=seq, sha256=ref.sha256)
    headers = {**_NO_STORE, "X-Content-SHA256": ref.sha256 or "", "X-View-Record": str(view)}
    return Response(picture.data, media_type=picture.content_type, headers=headers)
