"""The auditor's API (4-8-12(1)): checkpoints, proofs, queries over every record kind.

Read-only for the auditor and the chief; no route edits or deletes a record (4-8-6(4)). A
query that matches more records than the site's ``audit.export_alert_rows`` is recorded and
raises an ``audit.bulk_export_alert`` for the chief (4-8-6(5)).
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import Engine, func, select, text
from sqlmodel import Session

from api.audit_schemas import CheckpointOut, ConsistencyOut, InclusionOut
from api.core_bridge import CoreBridge
from api.deps import CoreDep, EngineDep, SettingsDep, check_limit, require
from api.errors import conflict, invalid, not_found
from api.roles import Permission
from api.routes.events import MAX_SEQ
from api.schemas import EventsPage, Ident, RecordOut, RowId, UtcTime, error_responses
from gateway.audit.checkpoint import CheckpointError, parse_body
from gateway.audit.export import ExportFilters, bind_params
from gateway.audit.merkle import consistency_proof, inclusion_proof, root
from gateway.audit.tree_store import DbTree, TreeDamaged, head, latest_checkpoint
from gateway.clock import utcnow
from gateway.domain import Outcome
from gateway.records import NewRecord, RecordKind
from gateway.storage.models import AUDIT_CHECKPOINT_TABLE, Account
from gateway.storage.queries import query_by_time

router = APIRouter(prefix="/audit", tags=["audit"])

Auditor = Annotated[Account, require(Permission.AUDIT_READ)]
Seq = Annotated[int, Query(ge=1, le=MAX_SEQ)]


def _b64(value: bytes) -> str:
    """Standard base64."""
    return base64.b64encode(value).decode()


@router.get("/checkpoint", response_model=CheckpointOut, responses=error_responses(401, 403, 404))
def get_checkpoint(caller: Auditor, engine: EngineDep) -> CheckpointOut:
    """The newest signed checkpoint of the site's log."""
    with engine.connect() as conn:
        stored = latest_checkpoint(conn, caller.site_id)
    if stored is None:
        raise not_found("checkpoint (none signed yet: is a checkpoint key configured?)")
    try:
        origin, size, root_hash, signed_at = parse_body(stored.note.split("\n\n", 1)[0] + "\n")
    except CheckpointError:
        raise conflict("the stored checkpoint is malformed: run sekisho audit verify") from None
    return CheckpointOut(
        origin=origin,
        size=size,
        root=_b64(root_hash),
        signed_at=signed_at,
        note=stored.note,
        key=stored.key,
    )


def _size(engine: Engine, site_id: str, size: int | None) -> tuple[int, int]:
    """(requested size, log head); the size defaults to the newest checkpoint's."""
    with engine.connect() as conn:
        last = head(conn, site_id)
        if size is None:
            stored = latest_checkpoint(conn, site_id)
            size = stored.size if stored is not None else last
    if size > last:
        raise invalid(("query", "size"), f"the log holds {last} records")
    return size, last


def _checkpoint_note(engine: Engine, site_id: str, size: int) -> str | None:
    """The signed checkpoint at exactly ``size``, if there is one."""
    t = AUDIT_CHECKPOINT_TABLE
    with engine.connect() as conn:
        note = conn.execute(
            select(t.c.note).where(t.c.site_id == site_id, t.c.size == size)
        ).scalar()
    return None if note is None else str(note)


@router.get(
    "/proof/inclusion", response_model=InclusionOut, responses=error_responses(401, 403, 409)
)
def get_inclusion_proof(
    caller: Auditor,
    engine: EngineDep,
    seq: Seq,
    size: Annotated[
        int | None, Query(ge=1, le=MAX_SEQ, description="default: newest checkpoint")
    ] = None,
) -> InclusionOut:
    """Proof that record ``seq`` is in the tree of ``size`` records (RFC 9162 2.1.3)."""
    size, _ = _size(engine, caller.site_id, size)
    if seq > size:
        raise invalid(("query", "seq"), f"record {seq} is not in a tree of {size}")
    try:
        with engine.connect() as conn:
            tree = DbTree(conn, caller.site_id, size)
            leaf = tree.node(0, seq - 1)
            path = inclusion_proof(tree, seq - 1, size)
            head_hash = root(tree, size)
            commitment = conn.execute(
                text("SELECT commitment FROM record WHERE site_id = :s AND seq = :q"),
                {"s": caller.site_id, "q": seq},
            ).scalar_one()
    except TreeDamaged as exc:
        raise conflict(f"the stored tree is damaged ({exc}): run sekisho audit verify") from None
    return InclusionOut(
        seq=seq,
        size=size,
        leaf_index=seq - 1,
        commitment=_b64(bytes(commitment)),
        leaf_hash=_b64(leaf),
        proof=[_b64(p) for p in path],
        root=_b64(head_hash),
        checkpoint=_checkpoint_note(engine, caller.site_id, size),
    )


@router.get(
    "/proof/consistency",
    response_model=ConsistencyOut,
    response_model_by_alias=True,
    responses=error_responses(401, 403, 409),
)
def get_consistency_proof(
    caller: Auditor,
    engine: EngineDep,
    first: Annotated[int, Query(alias="from", ge=1, le=MAX_SEQ)],
    second: Annotated[int | None, Query(alias="to", ge=1, le=MAX_SEQ)] = None,
) -> ConsistencyOut:
    """Proof that the tree of ``to`` records extends the tree of ``from`` (RFC 9162 2.1.4).

    A client that saved a checkpoint checks this against its saved root: a database rolled
    back or forked since fails it.
    """
    second, _ = _size(engine, caller.site_id, second)
    if first > second:
        raise invalid(("query", "from"), f"must not exceed to ({second})")
    try:
        with engine.connect() as conn:
            tree = DbTree(conn, caller.site_id, second)
            proof = consistency_proof(tree, first, second)
            first_root, second_root = root(tree, first), root(tree, second)
    except TreeDamaged as exc:
        raise conflict(f"the stored tree is damaged ({exc}): run sekisho audit verify") from None
    return ConsistencyOut(
        first=first,
        second=second,
        proof=[_b64(p) for p in proof],
        from_root=_b64(first_root),
        to_root=_b64(second_root),
    )


def filters_of(
    *,
    since: UtcTime | None = None,
    until: UtcTime | None = None,
    person_id: RowId | None = None,
    door_id: Ident | None = None,
    zone_id: Ident | None = None,
    kind: Annotated[
        list[str] | None,
        Query(description="record kind, e.g. access.decision; repeat for several", max_length=50),
    ] = None,
    outcome: Outcome | None = None,
) -> ExportFilters:
    """Query filters over every record kind (period, person, zone, door, kind, outcome)."""
    if kind is not None:
        for i, value in enumerate(kind):
            if len(value) > 48 or not value.replace(".", "").replace("_", "").isalnum():
                raise invalid(("query", "kind", i), "not a record kind")
    if since is not None and until is not None and since >= until:
        raise invalid(("query", "until"), "must be after since")
    return ExportFilters(
        since, until, person_id, door_id, zone_id,
        tuple(kind) if kind else None, outcome.value if outcome else None,
    )  # fmt: skip


FiltersDep = Annotated[ExportFilters, Depends(filters_of)]


def matching_more_than(engine: Engine, site_id: str, filters: ExportFilters, limit: int) -> int:
    """How many records match, counted up to ``limit + 1`` (enough to know it is over)."""
    where, params = filters.where()
    inner = f"SELECT 1 FROM record WHERE site_id = :site{where} LIMIT :cap"  # noqa: S608  (fixed columns; values are bound)
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(text(f"({inner}) AS m")),
                bind_params(engine, {**params, "site": site_id, "cap": limit + 1}),
            ).scalar_one()
        )


def record_bulk_alert(
    core: CoreBridge, caller: Account, what: str, rows: int, filters: ExportFilters, **extra: Any
) -> int:
    """Write the audit.bulk_export_alert record (the alarm console notifies the chief)."""
    threshold = core.site().audit.export_alert_rows
    return core.record(
        NewRecord(
            RecordKind.AUDIT_BULK_EXPORT_ALERT,
            utcnow(),
            actor=caller.username,
            detail={
                "what": what,
                "rows": rows,
                "threshold": threshold,
                "filters": filters.as_json(),
                "notify": "chief",
                **extra,
            },
        )
    )


@router.get("/records", response_model=EventsPage, responses=error_responses(401, 403))
def list_audit_records(
    *,
    caller: Auditor,
    engine: EngineDep,
    core: CoreDep,
    settings: SettingsDep,
    filters: FiltersDep,
    limit: Annotated[int, Query(ge=1, description="at most page_limit_max")] = 100,
    before_seq: Annotated[int | None, Query(ge=1, le=MAX_SEQ)] = None,
) -> EventsPage:
    """Records of every kind, newest event time first; page with ``before_seq``.

    The first page of a query that matches more than the alert threshold is recorded as a
    bulk query and raises an alert to the chief (4-8-6(5)).
    """
    limit = check_limit(limit, settings)
    args: dict[str, Any] = {
        "since": filters.since,
        "until": filters.until,
        "person_id": filters.person_id,
        "door_id": filters.door_id,
        "zone_id": filters.zone_id,
        "kinds": list(filters.kinds) if filters.kinds is not None else None,
        "outcome": filters.outcome,
    }
    with Session(engine) as session:
        rows = query_by_time(session, caller.site_id, before_seq=before_seq, limit=limit, **args)
        more = (
            bool(rows)
            and len(rows) == limit
            and bool(
                query_by_time(session, caller.site_id, before_seq=rows[-1].seq, limit=1, **args)
            )
        )
    if before_seq is None and more:
        threshold = core.site().audit.export_alert_rows
        matching = matching_more_than(engine, caller.site_id, filters, threshold)
        if matching > threshold:
            record_bulk_alert(core, caller, "query", matching, filters, at_least=True)
    return EventsPage(
        items=[RecordOut.of(r) for r in rows], next_before_seq=rows[-1].seq if more else None
    )
