"""Streaming exports of records with what an auditor needs to verify them offline (4-8-6(5)).

Every export is itself recorded (``audit.export``: who, filters, how many rows); one larger
than the site's ``audit.export_alert_rows`` also raises ``audit.bulk_export_alert`` for the
chief. Both are written before the first byte is sent, so an interrupted download is on record.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from sqlalchemy import Engine, text

from api.deps import CoreDep, EngineDep, require
from api.errors import conflict
from api.roles import Permission
from api.routes.audit import FiltersDep, record_bulk_alert
from api.schemas import error_responses
from gateway.audit.export import FORMAT, bind_params, stream_export
from gateway.audit.tree_store import latest_checkpoint
from gateway.clock import utcnow
from gateway.records import NewRecord, RecordKind
from gateway.storage.models import Account

router = APIRouter(prefix="/audit", tags=["audit"])

Exporter = Annotated[Account, require(Permission.AUDIT_EXPORT)]
_MEDIA = {"json": "application/json", "csv": "text/csv; charset=utf-8"}


def _count(engine: Engine, site_id: str, where: str, params: dict[str, object]) -> int:
    """Records an export will hold."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(f"SELECT count(*) FROM record WHERE site_id = :site AND seq <= :upto{where}"),  # noqa: S608  (fixed columns; values bound)
                bind_params(engine, {**params, "site": site_id}),
            ).scalar_one()
        )


@router.get(
    "/export",
    responses={
        **error_responses(401, 403, 409),
        200: {"content": {"application/json": {}, "text/csv": {}}, "description": FORMAT},
    },
    response_class=StreamingResponse,
)
def export_records(
    caller: Exporter,
    engine: EngineDep,
    core: CoreDep,
    filters: FiltersDep,
    format: Annotated[Literal["json", "csv"], Query(description="json or csv")] = "json",  # noqa: A002  (the public query parameter's name)
) -> StreamingResponse:
    """Records matching the filters up to the newest signed checkpoint, with its proof."""
    with engine.connect() as conn:
        checkpoint = latest_checkpoint(conn, caller.site_id)
    if checkpoint is None:
        raise conflict("no signed checkpoint yet: nothing can be exported verifiably")
    where, params = filters.where()
    rows = _count(engine, caller.site_id, where, {**params, "upto": checkpoint.size})
    export_seq = core.record(
        NewRecord(
            RecordKind.AUDIT_EXPORT,
            utcnow(),
            actor=caller.username,
            detail={
                "format": format,
                "filters": filters.as_json(),
                "rows": rows,
                "tree_size": checkpoint.size,
            },
        )
    )
    if rows > core.site().audit.export_alert_rows:
        record_bulk_alert(core, caller, "export", rows, filters, export_seq=export_seq)
    stamp = utcnow()
    body = stream_export(
        engine,
        caller.site_id,
        filters,
        checkpoint,
        fmt=format,
        exported_by=caller.username,
        exported_at=stamp,
    )
    name = f"sekisho-{caller.site_id}-records-{stamp:%Y%m%dT%H%M%SZ}.{format}"
    return StreamingResponse(
        body,
        media_type=_MEDIA[format],
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Sekisho-Export-Record": str(export_seq),
            "X-Sekisho-Export-Rows": str(rows),
        },
    )
