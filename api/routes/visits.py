"""Visits (4-8-7(1)): pre-registration, approval, check-in and check-out, the visitor log.

A host's visit is registered by the desk or a manager; each of its zones is approved by that
zone's manager, never the host or whoever registered it; the desk (operator) checks the visitor
in and out; the auditor and the chief read. The admin has no access (4-8-6(6)). Every step is
a record in the log; so is each export of the visitor log.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal, Self

from fastapi import APIRouter, Path, Query, status
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.audit import record_action
from api.custody import CSV_200, CustodyDep, actor_of, call, csv_response
from api.deps import CoreDep, PageDep, require
from api.errors import invalid
from api.roles import Permission
from api.schemas import Ident, In, Line200, Name, Note, PinDigits, RowId, UtcTime, error_responses
from gateway.domain import CardId
from gateway.storage.models import Account
from gateway.visits.model import (
    CheckIn,
    IdDocument,
    NewVisitor,
    VisitorLogEntry,
    VisitPlan,
    VisitStatus,
    VisitView,
)
from gateway.visits.queries import VisitFilter

router = APIRouter(prefix="/visits", tags=["visits"])

VisitPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,32}$", description="a visit id")]
Reader = Annotated[Account, require(Permission.VISITS_READ)]
Registrar = Annotated[Account, require(Permission.VISITS_REGISTER)]
Approver = Annotated[Account, require(Permission.VISITS_APPROVE)]
Desk = Annotated[Account, require(Permission.VISITS_DESK)]
Purpose = Annotated[Note, Field(min_length=1)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
MAX_LOG_DAYS = 366


class _Out(BaseModel):
    """Output read from the services' views."""

    model_config = ConfigDict(from_attributes=True)


class ApprovalOut(_Out):
    """One zone's approval."""

    zone_id: str
    by: str
    at: datetime
    note: str | None


class VisitOut(_Out):
    """A visit; the identity document is only its kind and last digits."""

    id: str
    visitor_id: str
    visitor_name: str
    visitor_kind: str
    organisation: str | None
    host_id: str
    host_name: str
    purpose: str
    zones: list[str]
    valid_from: datetime
    valid_to: datetime
    status: VisitStatus
    requested_by: str
    requested_at: datetime
    approvals: list[ApprovalOut]
    pending_zones: list[str]
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    id_document_type: str | None
    id_document_last: str | None
    photo_evidence_seq: int | None
    photo_sha256: str | None
    escort_id: str | None
    escort_name: str | None
    credential_id: str | None
    card_masked: str | None
    checked_in_at: datetime | None
    checked_in_by: str | None
    checked_out_at: datetime | None
    checked_out_by: str | None
    credential_returned: bool | None
    overstay_at: datetime | None

    @classmethod
    def of(cls, v: VisitView) -> VisitOut:
        """The output form of a visit view."""
        return cls.model_validate(v)


class VisitsPage(BaseModel):
    """One page of visits."""

    items: list[VisitOut]
    total: int


class PassageOut(_Out):
    """One stay in a zone, from the access records."""

    zone_id: str
    entered_at: datetime | None
    entry_door: str | None
    escort_id: str | None
    escort_name: str | None
    exited_at: datetime | None
    exit_door: str | None
    exit_by: str | None


class LogEntryOut(_Out):
    """One visit in the visitor log (NIST SP 800-53 PE-8's fields)."""

    visit_id: str
    date: str
    visitor_name: str
    organisation: str | None
    visitor_kind: str
    id_document_type: str | None
    id_document_last: str | None
    purpose: str
    host_name: str
    escort_assigned: str | None
    card_masked: str | None
    arrived_at: datetime | None
    departed_at: datetime | None
    passages: list[PassageOut]


class VisitorIn(In):
    """A visitor not yet known."""

    name: Name
    organisation: Line200 | None = None


class VisitCreate(In):
    """A host's visit: who comes (new, or a known visitor or contractor), why, where, when."""

    visitor: VisitorIn | None = None
    visitor_id: RowId | None = None
    host_id: RowId
    purpose: Purpose
    zones: list[Ident] = Field(min_length=1, max_length=20)
    valid_from: UtcTime
    valid_to: UtcTime

    @model_validator(mode="after")
    def _checks(self) -> Self:
        """Exactly one way of naming the visitor; a window that ends after it starts."""
        if (self.visitor is None) == (self.visitor_id is None):
            raise ValueError("give either visitor or visitor_id")
        if self.valid_from >= self.valid_to:
            raise ValueError("valid_from must be before valid_to")
        return self


class DecisionIn(In):
    """A note to go with a decision (optional)."""

    note: Note | None = None


class CheckInIn(In):
    """What the desk records: the document's kind and last digits only, the badge, the escort."""

    id_document_type: IdDocument
    id_document_last: Annotated[str, Field(pattern=r"^[0-9A-Za-z]{1,4}$")] = Field(
        description="the last 1-4 letters or digits of the document's number, no more"
    )
    card: Annotated[str, Field(max_length=64, examples=["H10301:50:17"])]
    escort_id: RowId
    pin: PinDigits | None = Field(default=None, description="for card+PIN doors; stored hashed")
    photo_evidence_seq: Annotated[int, Field(ge=1)] | None = None
    photo_sha256: Sha256 | None = None

    @field_validator("card")
    @classmethod
    def _card(cls, value: str) -> str:
        """A card key CardId accepts."""
        return CardId.parse(value).key


class CheckOutIn(In):
    """The badge handed back, or not (then it is disabled as lost)."""

    credential_returned: bool
    note: Note | None = None


def _out(v: VisitView) -> VisitOut:
    """The output form of a visit view."""
    return VisitOut.of(v)


@router.get("", response_model=VisitsPage, responses=error_responses(401, 403))
def list_visits(
    *,
    caller: Reader,
    custody: CustodyDep,
    page: PageDep,
    status_: Annotated[VisitStatus | None, Query(alias="status")] = None,
    since: UtcTime | None = None,
    until: UtcTime | None = None,
    visitor_id: RowId | None = None,
    host_id: RowId | None = None,
) -> VisitsPage:
    """Visits whose window overlaps [since, until), earliest first."""
    f = VisitFilter(status_, since, until, visitor_id, host_id)
    views, total = call(custody.visits.find, f, offset=page.offset, limit=page.limit)
    return VisitsPage(items=[_out(v) for v in views], total=total)


@router.post(
    "",
    response_model=VisitOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403, 404),
)
def register_visit(body: VisitCreate, caller: Registrar, custody: CustodyDep) -> VisitOut:
    """Pre-register a host's visit; it waits for the managers of its zones."""
    plan = VisitPlan(
        host_id=body.host_id,
        purpose=body.purpose,
        zones=tuple(body.zones),
        valid_from=body.valid_from,
        valid_to=body.valid_to,
        visitor=NewVisitor(body.visitor.name, body.visitor.organisation) if body.visitor else None,
        visitor_id=body.visitor_id,
    )
    return _out(call(custody.visits.register, actor_of(caller), plan))


@router.get(
    "/log", response_model=list[LogEntryOut], responses={**error_responses(401, 403), **CSV_200}
)
def visitor_log(
    *,
    caller: Reader,
    custody: CustodyDep,
    core: CoreDep,
    since: UtcTime | None = None,
    until: UtcTime | None = None,
    format_: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
) -> list[LogEntryOut] | Response:
    """The visitor log of visits checked in within [since, until) (default: the last 31 days).

    As CSV, one row per stay in a zone; each CSV export is recorded.
    """
    until = until or datetime.now(UTC)
    since = since or until - timedelta(days=31)
    if since >= until or until - since > timedelta(days=MAX_LOG_DAYS):
        raise invalid(("query", "since"), f"give a period of at most {MAX_LOG_DAYS} days")
    entries = call(custody.visits.visitor_log, since, until)
    if format_ == "json":
        return [LogEntryOut.model_validate(e) for e in entries]
    rows = _log_rows(entries)
    record_action(
        core,
        actor=caller.username,
        action="visits.log_export",
        target="visitor_log",
        changes={"since": since, "until": until, "visits": len(entries), "rows": len(rows)},
    )
    return csv_response(_LOG_HEADER, rows, "visitor-log.csv")


_LOG_HEADER = (
    "date",
    "visitor",
    "organisation",
    "kind",
    "id_document",
    "id_last_digits",
    "purpose",
    "host",
    "escort_assigned",
    "badge",
    "arrived",
    "departed",
    "zone",
    "entered",
    "entry_door",
    "escort",
    "exited",
    "exit_door",
    "visit_id",
)


def _log_rows(entries: list[VisitorLogEntry]) -> list[list[object]]:
    """The visitor log as CSV rows: one per stay, or one for a visit with none."""
    out: list[list[object]] = []
    for e in entries:
        head: list[object] = [
            e.date,
            e.visitor_name,
            e.organisation,
            e.visitor_kind,
            e.id_document_type,
            e.id_document_last,
            e.purpose,
            e.host_name,
            e.escort_assigned,
            e.card_masked,
            e.arrived_at,
            e.departed_at,
        ]
        if not e.passages:
            out.append([*head, None, None, None, None, None, None, e.visit_id])
        for p in e.passages:
            out.append(
                [
                    *head,
                    p.zone_id,
                    p.entered_at,
                    p.entry_door,
                    p.escort_name or p.escort_id,
                    p.exited_at,
                    p.exit_door,
                    e.visit_id,
                ]
            )
    return out


@router.get("/{visit_id}", response_model=VisitOut, responses=error_responses(401, 403, 404))
def get_visit(visit_id: VisitPath, caller: Reader, custody: CustodyDep) -> VisitOut:
    """One visit."""
    return _out(call(custody.visits.get, visit_id))


@router.post(
    "/{visit_id}/approve", response_model=VisitOut, responses=error_responses(401, 403, 404, 409)
)
def approve_visit(
    visit_id: VisitPath, caller: Approver, custody: CustodyDep, body: DecisionIn | None = None
) -> VisitOut:
    """Approve the visit for the zones the caller manages (not their own, nor one they hosted)."""
    note = body.note if body else None
    return _out(call(custody.visits.approve, actor_of(caller), visit_id, note))


@router.post(
    "/{visit_id}/reject", response_model=VisitOut, responses=error_responses(401, 403, 404, 409)
)
def reject_visit(
    visit_id: VisitPath, caller: Approver, custody: CustodyDep, body: DecisionIn | None = None
) -> VisitOut:
    """Refuse the visit (a manager of one of its zones)."""
    note = body.note if body else None
    return _out(call(custody.visits.reject, actor_of(caller), visit_id, note))


@router.post(
    "/{visit_id}/cancel", response_model=VisitOut, responses=error_responses(401, 403, 404, 409)
)
def cancel_visit(
    visit_id: VisitPath, caller: Registrar, custody: CustodyDep, body: DecisionIn | None = None
) -> VisitOut:
    """Withdraw the visit before check-in."""
    note = body.note if body else None
    return _out(call(custody.visits.cancel, actor_of(caller), visit_id, note))


@router.post(
    "/{visit_id}/check-in", response_model=VisitOut, responses=error_responses(401, 403, 404, 409)
)
def check_in(visit_id: VisitPath, body: CheckInIn, caller: Desk, custody: CustodyDep) -> VisitOut:
    """Identify the visitor, hand over a visitor badge valid for the visit, assign the escort."""
    c = CheckIn(
        id_document_type=body.id_document_type,
        id_document_last=body.id_document_last,
        card=CardId.parse(body.card),
        escort_id=body.escort_id,
        pin=body.pin,
        photo_evidence_seq=body.photo_evidence_seq,
        photo_sha256=body.photo_sha256,
    )
    return _out(call(custody.visits.check_in, actor_of(caller), visit_id, c))


@router.post(
    "/{visit_id}/check-out", response_model=VisitOut, responses=error_responses(401, 403, 404, 409)
)
def check_out(visit_id: VisitPath, body: CheckOutIn, caller: Desk, custody: CustodyDep) -> VisitOut:
    """Take the badge back (or report it not returned) and disable it."""
    return _out(
        call(
            custody.visits.check_out,
            actor_of(caller),
            visit_id,
            credential_returned=body.credential_returned,
            note=body.note,
        )
    )
