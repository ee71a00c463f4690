"""Media and equipment custody (4-8-5(4)-(9), 4-8-7(1), 4-8-12(2)).

The registry and its ledger (exportable), carry-in and carry-out requests decided by the zone's
manager (never the requester nor the carrier), inspections at the door with a second person's
confirmation where the zone requires it, overdue items, disposal with its evidence, and vault
inventories. The desk (operator) inspects; managers and the desk register, request, dispose
and take inventories; managers approve; the auditor and the chief read; the admin has no
access (4-8-6(6)). Every action is a record in the log.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Path, Query, UploadFile, status
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.audit import record_action
from api.custody import CSV_200, CustodyDep, actor_of, call, csv_response
from api.deps import CoreDep, PageDep, require
from api.errors import invalid
from api.roles import Permission
from api.schemas import Ident, In, Line64, Line200, Note, RowId, UtcTime, error_responses
from gateway.domain import Direction
from gateway.media.door import Inspection, RequestPlan
from gateway.media.model import (
    Classification,
    DisposalMethod,
    InspectionOutcome,
    ItemState,
    MediaKind,
    RequestStatus,
)
from gateway.media.registry import MAX_CERTIFICATE_BYTES, Certificate, Disposal, NewItem
from gateway.storage.models import Account, MediaMovementRow

router = APIRouter(prefix="/media", tags=["media"])


_ID = r"^[A-Za-z0-9_-]{1,32}$"
ItemPath = Annotated[str, Path(pattern=_ID, description="a media item id")]
RequestPath = Annotated[str, Path(pattern=_ID, description="a media request id")]
InspectionPath = Annotated[str, Path(pattern=_ID, description="an inspection id")]
InventoryPath = Annotated[str, Path(pattern=_ID, description="an inventory id")]
Reader = Annotated[Account, require(Permission.MEDIA_READ)]
Registrar = Annotated[Account, require(Permission.MEDIA_REGISTER)]
Approver = Annotated[Account, require(Permission.MEDIA_APPROVE)]
Desk = Annotated[Account, require(Permission.MEDIA_DESK)]
Counter = Annotated[Account, require(Permission.MEDIA_INVENTORY)]
Disposer = Annotated[Account, require(Permission.MEDIA_DISPOSE)]
Tag = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Format = Annotated[Literal["json", "csv"], Query(alias="format")]


class _Out(BaseModel):
    """Output read from rows."""

    model_config = ConfigDict(from_attributes=True)


class ItemOut(_Out):
    """An item and where the ledger says it is."""

    id: str
    kind: MediaKind
    tag: str
    serial: str | None
    rfid: str | None
    description: str
    owner_id: str | None
    classification: Classification
    encrypted: bool
    home_zone: str | None
    home_location: str | None
    state: ItemState
    zone_id: str | None
    holder_id: str | None
    request_id: str | None
    due_back: UtcTime | None
    overdue_since: UtcTime | None
    registered_by: str
    registered_at: UtcTime
    updated_at: UtcTime


class ItemsPage(BaseModel):
    """One page of items."""

    items: list[ItemOut]
    total: int


class ItemCreate(In):
    """An item entering the registry; without a home zone it is an outside item."""

    kind: MediaKind
    tag: Tag = Field(description="asset tag (or serial) as printed on the item")
    classification: Classification
    encrypted: bool
    owner_id: RowId | None = None
    serial: Line64 | None = None
    rfid: Annotated[str, Field(max_length=64)] | None = Field(
        default=None, description="card key of a tag a reader reads, e.g. EM4100:10:12345"
    )
    description: Line200 = ""
    home_zone: Ident | None = None
    home_location: Line200 | None = Field(default=None, description="vault shelf, safe")


class ItemPatch(In):
    """Changes to an item; keys left out stay as they are. A new home is a ledger line."""

    description: Line200 | None = None
    owner_id: RowId | None = None
    classification: Classification | None = None
    encrypted: bool | None = None
    serial: Line64 | None = None
    rfid: Annotated[str, Field(max_length=64)] | None = None
    home_zone: Ident | None = None
    home_location: Line200 | None = None


class MovementOut(_Out):
    """One line of the ledger (4-8-5(9))."""

    id: str
    item_id: str
    tag: str
    at: UtcTime
    movement: str
    state_from: str | None
    state_to: str
    location_from: str | None
    location_to: str | None
    zone_id: str | None
    person_id: str | None
    request_id: str | None
    inspection_id: str | None
    actor: str
    second_actor: str | None
    note: str | None

    @classmethod
    def of(cls, line: MediaMovementRow, tag: str) -> MovementOut:
        """The output form of a ledger line."""
        return cls.model_validate({**line.model_dump(), "tag": tag})


class LedgerPage(BaseModel):
    """One page of the ledger, oldest first."""

    items: list[MovementOut]
    total: int


class RequestOut(_Out):
    """A carry-in or carry-out request."""

    id: str
    item_id: str
    direction: Direction
    zone_id: str
    person_id: str
    purpose: str
    destination: str | None
    return_by: UtcTime | None
    valid_from: UtcTime
    valid_to: UtcTime
    status: RequestStatus
    requested_by: str
    requested_at: UtcTime
    decided_by: str | None
    decided_at: UtcTime | None
    decision_note: str | None
    used_at: UtcTime | None


class RequestsPage(BaseModel):
    """One page of requests, newest first."""

    items: list[RequestOut]
    total: int


class RequestCreate(In):
    """A request: the item, which way, who carries it, why, where to, and back by when."""

    item_id: RowId
    direction: Direction = Field(description="out: carry-out of a home item; in: carry-in")
    person_id: RowId = Field(description="who carries it")
    purpose: Annotated[Note, Field(min_length=1)]
    return_by: UtcTime
    destination: Line200 | None = None
    zone_id: Ident | None = Field(default=None, description="carry-in: the zone it enters")
    valid_from: UtcTime | None = None
    valid_to: UtcTime | None = None


class DecisionIn(In):
    """A note to go with a decision (optional)."""

    note: Note | None = None


class InspectionOut(_Out):
    """An inspection at the door and what it came to."""

    id: str
    item_id: str | None
    tag_seen: str
    direction: Direction
    zone_id: str
    door_id: str | None
    person_id: str | None
    request_id: str | None
    result: str
    outcome: InspectionOutcome
    refusal: str | None
    notes: str | None
    inspected_by: str
    inspected_at: UtcTime
    second_by: str | None
    second_at: UtcTime | None
    second_result: str | None
    second_notes: str | None
    movement_id: str | None


class InspectionsPage(BaseModel):
    """One page of inspections, newest first."""

    items: list[InspectionOut]
    total: int


class InspectionCreate(In):
    """What the operator records at the door: the tag seen, who carries it, the result."""

    tag: Tag
    direction: Direction
    zone_id: Ident
    person_id: RowId
    result: Literal["pass", "fail"]
    notes: Note | None = None
    request_id: RowId | None = None
    door_id: Ident | None = None


class ConfirmIn(In):
    """A second person's result (4-8-5(7))."""

    result: Literal["pass", "fail"]
    notes: Note | None = None


class DisposalOut(_Out):
    """How an item was destroyed, and the evidence."""

    item_id: str
    method: DisposalMethod
    method_detail: str | None
    performed_by: str
    witness_id: str | None
    photo_evidence_seq: int | None
    photo_sha256: str | None
    certificate_id: str | None
    certificate_sha256: str | None
    disposed_at: UtcTime
    recorded_by: str
    recorded_at: UtcTime


class ScanOut(_Out):
    """One tag scanned in an inventory."""

    id: str
    at: UtcTime
    tag: str
    item_id: str | None
    source: str
    reader_id: str | None
    scanned_by: str


class InventoryOut(_Out):
    """A vault inventory; ``findings`` once completed."""

    id: str
    zone_id: str
    status: str
    started_by: str
    started_at: UtcTime
    completed_by: str | None
    completed_at: UtcTime | None
    findings: dict[str, object]
    scans: list[ScanOut] = Field(default_factory=list)


class InventoriesPage(BaseModel):
    """One page of inventories, newest first."""

    items: list[InventoryOut]
    total: int


class InventoryCreate(In):
    """Which zone to take stock of."""

    zone_id: Ident


class ScanIn(In):
    """A tag typed at the desk."""

    tag: Tag


# --- the registry and the ledger -------------------------------------------------------------


@router.get("/items", response_model=ItemsPage, responses=error_responses(401, 403))
def list_items(
    *,
    caller: Reader,
    custody: CustodyDep,
    page: PageDep,
    kind: MediaKind | None = None,
    state: ItemState | None = None,
    zone_id: Ident | None = None,
    q: Annotated[str | None, Query(max_length=64)] = None,
) -> ItemsPage:
    """Items by tag; filtered by kind, state, zone (home or now) and text."""
    rows, total = call(
        custody.media.registry.find,
        kind=kind,
        state=state,
        zone_id=zone_id,
        text=q,
        offset=page.offset,
        limit=page.limit,
    )
    return ItemsPage(items=[ItemOut.model_validate(r) for r in rows], total=total)


@router.post(
    "/items",
    response_model=ItemOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403, 409),
)
def register_item(body: ItemCreate, caller: Registrar, custody: CustodyDep) -> ItemOut:
    """Register an item (its first ledger line)."""
    new = NewItem(**body.model_dump())
    return ItemOut.model_validate(call(custody.media.registry.register, actor_of(caller), new))


@router.get("/overdue", response_model=list[ItemOut], responses=error_responses(401, 403))
def list_overdue(caller: Reader, custody: CustodyDep) -> list[ItemOut]:
    """Items past their return date and not back (4-8-5(6))."""
    return [ItemOut.model_validate(r) for r in call(custody.media.registry.overdue)]


@router.get("/items/{item_id}", response_model=ItemOut, responses=error_responses(401, 403, 404))
def get_item(item_id: ItemPath, caller: Reader, custody: CustodyDep) -> ItemOut:
    """One item."""
    return ItemOut.model_validate(call(custody.media.registry.get, item_id))


@router.patch(
    "/items/{item_id}", response_model=ItemOut, responses=error_responses(401, 403, 404, 409)
)
def patch_item(
    item_id: ItemPath, body: ItemPatch, caller: Registrar, custody: CustodyDep
) -> ItemOut:
    """Change an item's details (``media.updated``; a new home is a ``relocated`` line)."""
    changes = body.model_dump(exclude_unset=True)
    for key in ("classification", "encrypted"):
        if key in changes and changes[key] is None:
            raise invalid(("body", key), "cannot be null")
    row = call(custody.media.registry.update, actor_of(caller), item_id, changes)
    return ItemOut.model_validate(row)


@router.get(
    "/items/{item_id}/ledger", response_model=LedgerPage, responses=error_responses(401, 403, 404)
)
def item_ledger(
    item_id: ItemPath, caller: Reader, custody: CustodyDep, page: PageDep
) -> LedgerPage:
    """Every movement of one item, oldest first."""
    call(custody.media.registry.get, item_id)
    lines, total = call(
        custody.media.registry.ledger, item_id=item_id, offset=page.offset, limit=page.limit
    )
    return LedgerPage(items=[MovementOut.of(m, t) for m, t in lines], total=total)


_LEDGER_HEADER = (
    "at",
    "tag",
    "item_id",
    "movement",
    "state_from",
    "state_to",
    "location_from",
    "location_to",
    "zone_id",
    "person_id",
    "request_id",
    "inspection_id",
    "actor",
    "second_actor",
    "note",
    "movement_id",
)


@router.get(
    "/ledger", response_model=LedgerPage, responses={**error_responses(401, 403), **CSV_200}
)
def ledger(
    *,
    caller: Reader,
    custody: CustodyDep,
    core: CoreDep,
    page: PageDep,
    since: UtcTime | None = None,
    until: UtcTime | None = None,
    item_id: RowId | None = None,
    format_: Format = "json",
) -> LedgerPage | Response:
    """The media ledger (台帳, 4-8-5(9)), oldest first; as CSV the whole period, recorded."""
    if format_ == "json":
        lines, total = call(
            custody.media.registry.ledger,
            item_id=item_id,
            since=since,
            until=until,
            offset=page.offset,
            limit=page.limit,
        )
        return LedgerPage(items=[MovementOut.of(m, t) for m, t in lines], total=total)
    rows: list[list[object]] = []
    offset = 0
    while True:
        lines, total = call(
            custody.media.registry.ledger,
            item_id=item_id,
            since=since,
            until=until,
            offset=offset,
            limit=1000,
        )
        rows.extend(
            [
                m.at,
                t,
                m.item_id,
                m.movement,
                m.state_from,
                m.state_to,
                m.location_from,
                m.location_to,
                m.zone_id,
                m.person_id,
                m.request_id,
                m.inspection_id,
                m.actor,
                m.second_actor,
                m.note,
                m.id,
            ]
            for m, t in lines
        )
        offset += len(lines)
        if not lines or offset >= total:
            break
    record_action(
        core,
        actor=caller.username,
        action="media.ledger_export",
        target="media_ledger",
        changes={"since": since, "until": until, "item_id": item_id, "rows": len(rows)},
    )
    return csv_response(_LEDGER_HEADER, rows, "media-ledger.csv")


# --- disposal --------------------------------------------------------------------------------


@router.post(
    "/items/{item_id}/disposal",
    response_model=DisposalOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403, 404, 409),
)
def dispose(
    *,
    item_id: ItemPath,
    caller: Disposer,
    custody: CustodyDep,
    method: Annotated[DisposalMethod, Form()],
    performed_by: Annotated[str, Form(min_length=1, max_length=200)],
    disposed_at: Annotated[UtcTime, Form()],
    method_detail: Annotated[str | None, Form(max_length=500)] = None,
    witness_id: Annotated[str | None, Form(pattern=r"^[A-Za-z0-9_-]{1,32}$")] = None,
    photo_evidence_seq: Annotated[int | None, Form(ge=1)] = None,
    photo_sha256: Annotated[str | None, Form(pattern=r"^[0-9a-f]{64}$")] = None,
    certificate: Annotated[UploadFile | None, File()] = None,
) -> DisposalOut:
    """Record a disposal (4-8-5(8)): a witness, a photo or the contractor's certificate file."""
    cert = None
    if certificate is not None:
        data = certificate.file.read(MAX_CERTIFICATE_BYTES + 1)
        if len(data) > MAX_CERTIFICATE_BYTES:
            raise invalid(("body", "certificate"), f"larger than {MAX_CERTIFICATE_BYTES} bytes")
        cert = Certificate(
            certificate.filename or "certificate",
            certificate.content_type or "application/octet-stream",
            data,
        )
    d = Disposal(
        method=method,
        performed_by=performed_by,
        disposed_at=disposed_at,
        method_detail=method_detail,
        witness_id=witness_id,
        photo_evidence_seq=photo_evidence_seq,
        photo_sha256=photo_sha256,
        certificate=cert,
    )
    row = call(custody.media.registry.dispose, actor_of(caller), item_id, d)
    return DisposalOut.model_validate(row)


@router.get(
    "/items/{item_id}/disposal",
    response_model=DisposalOut,
    responses=error_responses(401, 403, 404),
)
def get_disposal(item_id: ItemPath, caller: Reader, custody: CustodyDep) -> DisposalOut:
    """The disposal record of an item."""
    return DisposalOut.model_validate(call(custody.media.registry.disposal, item_id))


@router.get(
    "/items/{item_id}/disposal/certificate",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        **error_responses(401, 403, 404),
    },
)
def get_certificate(item_id: ItemPath, caller: Reader, custody: CustodyDep) -> Response:
    """The certificate file as received; ``X-Content-SHA256`` is the hash on record."""
    cert = call(custody.media.registry.certificate, item_id)
    return Response(
        cert.data,
        media_type="application/octet-stream",
        headers={
            "X-Content-SHA256": cert.sha256,
            "Content-Disposition": f'attachment; filename="certificate-{item_id}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


# --- requests --------------------------------------------------------------------------------


@router.get("/requests", response_model=RequestsPage, responses=error_responses(401, 403))
def list_requests(
    *,
    caller: Reader,
    custody: CustodyDep,
    page: PageDep,
    status_: Annotated[RequestStatus | None, Query(alias="status")] = None,
    item_id: RowId | None = None,
    zone_id: Ident | None = None,
) -> RequestsPage:
    """Requests, newest first."""
    rows, total = call(
        custody.media.desk.find_requests,
        status=status_,
        item_id=item_id,
        zone_id=zone_id,
        offset=page.offset,
        limit=page.limit,
    )
    return RequestsPage(items=[RequestOut.model_validate(r) for r in rows], total=total)


@router.post(
    "/requests",
    response_model=RequestOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403, 404, 409),
)
def file_request(body: RequestCreate, caller: Registrar, custody: CustodyDep) -> RequestOut:
    """File a carry-in or carry-out request for the zone's manager."""
    plan = RequestPlan(**body.model_dump())
    return RequestOut.model_validate(call(custody.media.desk.request, actor_of(caller), plan))


@router.get(
    "/requests/{request_id}", response_model=RequestOut, responses=error_responses(401, 403, 404)
)
def get_request(request_id: RequestPath, caller: Reader, custody: CustodyDep) -> RequestOut:
    """One request."""
    return RequestOut.model_validate(call(custody.media.desk.get_request, request_id))


@router.post(
    "/requests/{request_id}/approve",
    response_model=RequestOut,
    responses=error_responses(401, 403, 404, 409),
)
def approve_request(
    request_id: RequestPath, caller: Approver, custody: CustodyDep, body: DecisionIn | None = None
) -> RequestOut:
    """Approve (the zone's manager; not the requester, not the carrier)."""
    note = body.note if body else None
    return RequestOut.model_validate(
        call(custody.media.desk.approve, actor_of(caller), request_id, note)
    )


@router.post(
    "/requests/{request_id}/reject",
    response_model=RequestOut,
    responses=error_responses(401, 403, 404, 409),
)
def reject_request(
    request_id: RequestPath, caller: Approver, custody: CustodyDep, body: DecisionIn | None = None
) -> RequestOut:
    """Refuse (the zone's manager)."""
    note = body.note if body else None
    return RequestOut.model_validate(
        call(custody.media.desk.reject, actor_of(caller), request_id, note)
    )


@router.post(
    "/requests/{request_id}/cancel",
    response_model=RequestOut,
    responses=error_responses(401, 403, 404, 409),
)
def cancel_request(
    request_id: RequestPath, caller: Registrar, custody: CustodyDep, body: DecisionIn | None = None
) -> RequestOut:
    """Withdraw a request before it is used."""
    note = body.note if body else None
    return RequestOut.model_validate(
        call(custody.media.desk.cancel, actor_of(caller), request_id, note)
    )


# --- inspections at the door -----------------------------------------------------------------


@router.get("/inspections", response_model=InspectionsPage, responses=error_responses(401, 403))
def list_inspections(
    caller: Reader,
    custody: CustodyDep,
    page: PageDep,
    outcome: InspectionOutcome | None = None,
    item_id: RowId | None = None,
) -> InspectionsPage:
    """Inspections, newest first."""
    rows, total = call(
        custody.media.desk.find_inspections,
        outcome=outcome,
        item_id=item_id,
        offset=page.offset,
        limit=page.limit,
    )
    return InspectionsPage(items=[InspectionOut.model_validate(r) for r in rows], total=total)


@router.post(
    "/inspections",
    response_model=InspectionOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403),
)
def inspect(body: InspectionCreate, caller: Desk, custody: CustodyDep) -> InspectionOut:
    """Record an inspection at the door; a refusal is an answer too (see ``outcome``)."""
    i = Inspection(
        tag=body.tag,
        direction=body.direction,
        zone_id=body.zone_id,
        person_id=body.person_id,
        passed=body.result == "pass",
        notes=body.notes,
        request_id=body.request_id,
        door_id=body.door_id,
    )
    return InspectionOut.model_validate(call(custody.media.desk.inspect, actor_of(caller), i))


@router.get(
    "/inspections/{inspection_id}",
    response_model=InspectionOut,
    responses=error_responses(401, 403, 404),
)
def get_inspection(
    inspection_id: InspectionPath, caller: Reader, custody: CustodyDep
) -> InspectionOut:
    """One inspection."""
    return InspectionOut.model_validate(call(custody.media.desk.get_inspection, inspection_id))


@router.post(
    "/inspections/{inspection_id}/confirm",
    response_model=InspectionOut,
    responses=error_responses(401, 403, 404, 409),
)
def confirm_inspection(
    inspection_id: InspectionPath, body: ConfirmIn, caller: Desk, custody: CustodyDep
) -> InspectionOut:
    """A second person (not the inspector, not the carrier) confirms, or does not."""
    row = call(
        custody.media.desk.confirm,
        actor_of(caller),
        inspection_id,
        passed=body.result == "pass",
        notes=body.notes,
    )
    return InspectionOut.model_validate(row)


# --- inventories -----------------------------------------------------------------------------


@router.get("/inventories", response_model=InventoriesPage, responses=error_responses(401, 403))
def list_inventories(
    caller: Reader, custody: CustodyDep, page: PageDep, zone_id: Ident | None = None
) -> InventoriesPage:
    """Inventories, newest first (without their scans)."""
    rows, total = call(
        custody.media.inventory.find, zone_id=zone_id, offset=page.offset, limit=page.limit
    )
    return InventoriesPage(items=[InventoryOut.model_validate(r) for r in rows], total=total)


@router.post(
    "/inventories",
    response_model=InventoryOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403, 409),
)
def start_inventory(body: InventoryCreate, caller: Counter, custody: CustodyDep) -> InventoryOut:
    """Open an inventory of a zone (one at a time per zone)."""
    row = call(custody.media.inventory.start, actor_of(caller), body.zone_id)
    return InventoryOut.model_validate(row)


@router.get(
    "/inventories/{inventory_id}",
    response_model=InventoryOut,
    responses=error_responses(401, 403, 404),
)
def get_inventory(inventory_id: InventoryPath, caller: Reader, custody: CustodyDep) -> InventoryOut:
    """One inventory with its scans and findings."""
    row, scans = call(custody.media.inventory.get, inventory_id)
    out = InventoryOut.model_validate(row)
    out.scans = [ScanOut.model_validate(sc) for sc in scans]
    return out


@router.post(
    "/inventories/{inventory_id}/scans",
    response_model=ScanOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403, 404, 409),
)
def scan(
    inventory_id: InventoryPath, body: ScanIn, caller: Counter, custody: CustodyDep
) -> ScanOut:
    """A tag typed at the desk (a repeat returns the first scan)."""
    row = call(custody.media.inventory.scan, actor_of(caller), inventory_id, body.tag)
    return ScanOut.model_validate(row)


@router.post(
    "/inventories/{inventory_id}/complete",
    response_model=InventoryOut,
    responses=error_responses(401, 403, 404, 409),
)
def complete_inventory(
    inventory_id: InventoryPath, caller: Counter, custody: CustodyDep
) -> InventoryOut:
    """Reconcile with the ledger: missing, unexpected and overdue items become findings."""
    row = call(custody.media.inventory.complete, actor_of(caller), inventory_id)
    return InventoryOut.model_validate(row)
