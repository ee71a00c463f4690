"""Periodic analysis reports (4-8-6(3)), as the gateway stored them: records of audit.analysis."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from sqlmodel import Session

from api.audit_schemas import AnalysisOut, AnalysisPage
from api.deps import EngineDep, SettingsDep, check_limit, require
from api.errors import not_found
from api.roles import Permission
from api.routes.events import MAX_SEQ
from api.schemas import UtcTime, error_responses
from gateway.records import RecordKind
from gateway.storage.models import Account
from gateway.storage.queries import StoredRecord, get_record, query_records

router = APIRouter(prefix="/audit/analysis", tags=["audit"])

Auditor = Annotated[Account, require(Permission.AUDIT_READ)]
KIND = RecordKind.AUDIT_ANALYSIS.value


def _out(row: StoredRecord) -> AnalysisOut:
    """Response body of one report."""
    detail: dict[str, Any] = row.detail
    findings = detail.get("findings")
    return AnalysisOut(
        seq=row.seq,
        ts=row.ts,
        period=str(detail.get("period", "")),
        start=str(detail.get("from", "")),
        end=str(detail.get("to", "")),
        findings=findings if isinstance(findings, dict) else {},
    )


@router.get("", response_model=AnalysisPage, responses=error_responses(401, 403))
def list_reports(
    *,
    caller: Auditor,
    engine: EngineDep,
    settings: SettingsDep,
    period: Literal["daily", "weekly", "monthly"] | None = None,
    since: Annotated[UtcTime | None, Query(description="reports written at or after")] = None,
    until: Annotated[UtcTime | None, Query(description="reports written before")] = None,
    limit: Annotated[int, Query(ge=1)] = 20,
    before_seq: Annotated[int | None, Query(ge=1, le=MAX_SEQ)] = None,
) -> AnalysisPage:
    """Reports newest first, optionally of one period kind."""
    limit = check_limit(limit, settings)
    items: list[AnalysisOut] = []
    cursor = before_seq
    more = False
    with Session(engine) as session:
        while len(items) < limit:
            rows = query_records(
                session, caller.site_id, kinds=[KIND], since=since, until=until,
                before_seq=cursor, limit=limit,
            )  # fmt: skip
            for row in rows:
                if period is None or row.detail.get("period") == period:
                    if len(items) == limit:
                        more = True
                        break
                    items.append(_out(row))
            if more or len(rows) < limit:
                break
            cursor = rows[-1].seq
    return AnalysisPage(items=items, next_before_seq=items[-1].seq if more else None)


@router.get("/{seq}", response_model=AnalysisOut, responses=error_responses(401, 403, 404))
def get_report(
    seq: Annotated[int, Path(ge=1, le=MAX_SEQ)], caller: Auditor, engine: EngineDep
) -> AnalysisOut:
    """One report with all its findings and the seqs behind them."""
    with Session(engine) as session:
        row = get_record(session, caller.site_id, seq)
    if row is None or row.kind != KIND:
        raise not_found("analysis report")
    return _out(row)
