"""Work orders (用件の確認, 4-8-7(1)): a purpose for one person's entries to a zone in a window.

The desk or a manager asks; a manager of the zone who is neither the requester nor the person
decides (4-8-6(6): approvals name a person other than the requester); the requester or a
manager of the zone cancels. Once approved, a zone that requires a purpose admits the person
within the window and its entry records carry the purpose.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter
from fastapi import status as http
from sqlalchemy import func, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from api.audit import stage_action, write_staged
from api.core_bridge import CoreBridge
from api.deps import CoreDep, IdPath, PageDep, SessionDep, require
from api.errors import conflict, forbidden, invalid, not_found
from api.roles import Permission, Role
from api.rules_schemas import (
    DecisionIn,
    WorkOrderCreate,
    WorkOrderOut,
    WorkOrdersPage,
    WorkOrderStatus,
)
from api.schemas import Ident, RowId, error_responses
from gateway.storage.models import Account, Person, WorkOrder

router = APIRouter(prefix="/work-orders", tags=["work orders"])

Reader = Annotated[Account, require(Permission.WORK_ORDERS_READ)]
Requester = Annotated[Account, require(Permission.WORK_ORDERS_REQUEST)]
Decider = Annotated[Account, require(Permission.WORK_ORDERS_DECIDE)]
Canceller = Annotated[Account, require(Permission.WORK_ORDERS_CANCEL)]

S = WorkOrderStatus


def _load(session: Session, site_id: str, order_id: str) -> WorkOrder:
    """The site's work order with this id, or 404."""
    row = session.get(WorkOrder, order_id)
    if row is None or row.site_id != site_id:
        raise not_found("work order")
    return row


def _person(session: Session, site_id: str, person_id: str) -> Person | None:
    """The site's person with this id, if any."""
    person = session.get(Person, person_id)
    return person if person is not None and person.site_id == site_id else None


def _stage(
    session: Session,
    order: WorkOrder,
    *,
    actor: str,
    action: str,
    changes: dict[str, object],
) -> None:
    """Stage the operator record of a change to a work order (before the commit)."""
    person = _person(session, order.site_id, order.person_id)
    stage_action(
        session,
        site_id=order.site_id,
        actor=actor,
        action=action,
        target=order.id,
        changes=changes,
        person_id=order.person_id,
        person_kind=person.kind.value if person else None,
        zone_id=order.zone_id,
    )


def _transition(
    session: Session,
    order: WorkOrder,
    new: WorkOrderStatus,
    caller: Account,
    note: str | None,
) -> None:
    """Move the order from its current status to ``new`` (uncommitted); 409 if it changed."""
    now = datetime.now(UTC)
    result = session.exec(
        update(WorkOrder)
        .where(col(WorkOrder.id) == order.id, col(WorkOrder.status) == order.status)
        .values(status=new.value, decided_by=caller.username, decided_at=now, decision_note=note)
    )
    if result.rowcount != 1:
        session.rollback()
        raise conflict("The work order was changed meanwhile; read it again")
    session.refresh(order)


@router.get("", response_model=WorkOrdersPage, responses=error_responses(401, 403))
def list_work_orders(
    *,
    caller: Reader,
    session: SessionDep,
    page: PageDep,
    status: WorkOrderStatus | None = None,
    zone_id: Ident | None = None,
    person_id: RowId | None = None,
) -> WorkOrdersPage:
    """Work orders, newest request first, by status, zone and person."""
    conditions: list[ColumnElement[bool]] = [col(WorkOrder.site_id) == caller.site_id]
    if status is not None:
        conditions.append(col(WorkOrder.status) == status.value)
    if zone_id is not None:
        conditions.append(col(WorkOrder.zone_id) == zone_id)
    if person_id is not None:
        conditions.append(col(WorkOrder.person_id) == person_id)
    total = session.exec(select(func.count()).select_from(WorkOrder).where(*conditions)).one()
    stmt = (
        select(WorkOrder)
        .where(*conditions)
        .order_by(col(WorkOrder.requested_at).desc(), col(WorkOrder.id))
        .offset(page.offset)
        .limit(page.limit)
    )
    return WorkOrdersPage(items=[WorkOrderOut.of(w) for w in session.exec(stmt)], total=total)


@router.get(
    "/{work_order_id}", response_model=WorkOrderOut, responses=error_responses(401, 403, 404)
)
def get_work_order(work_order_id: IdPath, caller: Reader, session: SessionDep) -> WorkOrderOut:
    """One work order."""
    return WorkOrderOut.of(_load(session, caller.site_id, work_order_id))


@router.post(
    "",
    response_model=WorkOrderOut,
    status_code=http.HTTP_201_CREATED,
    responses=error_responses(401, 403),
)
def request_work_order(
    body: WorkOrderCreate, caller: Requester, session: SessionDep, core: CoreDep
) -> WorkOrderOut:
    """Ask for a purpose for a person's entries to a zone in a window; a manager decides."""
    try:
        core.site().zone(body.zone_id)
    except KeyError:
        raise invalid(("body", "zone_id"), "unknown zone") from None
    person = _person(session, caller.site_id, body.person_id)
    if person is None:
        raise invalid(("body", "person_id"), "no such person")
    if body.valid_to <= datetime.now(UTC):
        raise invalid(("body", "valid_to"), "the window has already ended")
    order = WorkOrder(
        site_id=caller.site_id,
        person_id=person.id,
        zone_id=body.zone_id,
        purpose=body.purpose,
        valid_from=body.valid_from,
        valid_to=body.valid_to,
        status=S.REQUESTED.value,
        requested_by=caller.username,
    )
    session.add(order)
    _stage(
        session,
        order,
        actor=caller.username,
        action="work_order.request",
        changes=body.model_dump(),
    )
    session.commit()
    write_staged(session, core)
    return WorkOrderOut.of(order)


def _decide(
    work_order_id: str,
    body: DecisionIn | None,
    caller: Account,
    session: Session,
    core: CoreBridge,
    *,
    approve: bool,
) -> WorkOrderOut:
    """Approve or reject a requested work order as a manager of its zone (4-8-6(6))."""
    order = _load(session, caller.site_id, work_order_id)
    if order.zone_id not in caller.zones:
        raise forbidden("Only a manager of this zone may approve or reject its work orders")
    if caller.username == order.requested_by:
        raise forbidden("Approvals name a person other than the requester (4-8-6(6))")
    if caller.person_id is not None and caller.person_id == order.person_id:
        raise forbidden("Nobody may approve or reject their own work order (4-8-6(6))")
    if order.status != S.REQUESTED.value:
        raise conflict(f"The work order is {order.status}, not requested")
    if approve and order.valid_to.astimezone(UTC) <= datetime.now(UTC):
        raise conflict("The work order's window has ended; request a new one")
    note = body.note if body else None
    _transition(session, order, S.APPROVED if approve else S.REJECTED, caller, note)
    _stage(
        session,
        order,
        actor=caller.username,
        action="work_order.approve" if approve else "work_order.reject",
        changes={"status": order.status, "note": note, "requested_by": order.requested_by},
    )
    session.commit()
    write_staged(session, core)
    if approve:
        core.reload_person(order.person_id)
    return WorkOrderOut.of(order)


@router.post(
    "/{work_order_id}/approve",
    response_model=WorkOrderOut,
    responses=error_responses(401, 403, 404, 409),
)
def approve(
    work_order_id: IdPath,
    caller: Decider,
    session: SessionDep,
    core: CoreDep,
    body: DecisionIn | None = None,
) -> WorkOrderOut:
    """Approve: the person's entries to the zone within the window carry its purpose."""
    return _decide(work_order_id, body, caller, session, core, approve=True)


@router.post(
    "/{work_order_id}/reject",
    response_model=WorkOrderOut,
    responses=error_responses(401, 403, 404, 409),
)
def reject(
    work_order_id: IdPath,
    caller: Decider,
    session: SessionDep,
    core: CoreDep,
    body: DecisionIn | None = None,
) -> WorkOrderOut:
    """Reject a requested work order."""
    return _decide(work_order_id, body, caller, session, core, approve=False)


@router.post(
    "/{work_order_id}/cancel",
    response_model=WorkOrderOut,
    responses=error_responses(401, 403, 404, 409),
)
def cancel(
    work_order_id: IdPath,
    caller: Canceller,
    session: SessionDep,
    core: CoreDep,
    body: DecisionIn | None = None,
) -> WorkOrderOut:
    """Cancel a requested or approved work order: by its requester or a manager of its zone."""
    order = _load(session, caller.site_id, work_order_id)
    zone_manager = caller.role == Role.MANAGER.value and order.zone_id in caller.zones
    if caller.username != order.requested_by and not zone_manager:
        raise forbidden("Only the requester or a manager of this zone may cancel a work order")
    if order.status not in (S.REQUESTED.value, S.APPROVED.value):
        raise conflict(f"The work order is {order.status}: there is nothing to cancel")
    was = order.status
    note = body.note if body else None
    _transition(session, order, S.CANCELLED, caller, note)
    _stage(
        session,
        order,
        actor=caller.username,
        action="work_order.cancel",
        changes={"status": {"from": was, "to": order.status}, "note": note},
    )
    session.commit()
    write_staged(session, core)
    core.reload_person(order.person_id)
    return WorkOrderOut.of(order)
