"""The record log, read-only: no route writes, edits or deletes a record (4-8-6(4)).

Open to chief, manager, operator and auditor; the admin has no right to records (4-8-6(6)).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy import BigInteger

from api.deps import SessionDep, SettingsDep, check_limit, require
from api.errors import not_found
from api.roles import Permission
from api.schemas import EventsPage, Ident, RecordOut, RowId, UtcTime, error_responses
from gateway.domain import Outcome
from gateway.records import RecordKind
from gateway.storage.models import RECORD_TABLE, Account
from gateway.storage.queries import get_record, query_records

router = APIRouter(prefix="/events", tags=["events"])

Reader = Annotated[Account, require(Permission.EVENTS_READ)]
# The largest seq the record table can hold: a bigger one cannot name a record (and would
# overflow the comparison on PostgreSQL), so it is refused as input.
MAX_SEQ = 2**63 - 1 if isinstance(RECORD_TABLE.c.seq.type, BigInteger) else 2**31 - 1


def _limit(
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, description="at most page_limit_max")] = 100,
) -> int:
    """The page size from the query string, within page_limit_max."""
    return check_limit(limit, settings)


@router.get("", response_model=EventsPage, responses=error_responses(401, 403))
def list_events(
    *,
    caller: Reader,
    session: SessionDep,
    limit: Annotated[int, Depends(_limit)],
    since: UtcTime | None = None,
    until: UtcTime | None = None,
    person_id: RowId | None = None,
    door_id: Ident | None = None,
    zone_id: Ident | None = None,
    kind: Annotated[list[RecordKind] | None, Query(description="repeat for several")] = None,
    outcome: Outcome | None = None,
    before_seq: Annotated[int | None, Query(ge=1, le=MAX_SEQ)] = None,
) -> EventsPage:
    """Records newest first, filtered; page with ``before_seq``."""
    filters: dict[str, Any] = {
        "since": since,
        "until": until,
        "person_id": person_id,
        "door_id": door_id,
        "zone_id": zone_id,
        "kinds": [k.value for k in kind] if kind else None,
        "outcome": outcome.value if outcome else None,
    }
    rows = query_records(session, caller.site_id, before_seq=before_seq, limit=limit, **filters)
    next_before = None
    if len(rows) == limit:
        # Only say "more" when there is more: one indexed probe past the page.
        more = query_records(session, caller.site_id, before_seq=rows[-1].seq, limit=1, **filters)
        next_before = rows[-1].seq if more else None
    return EventsPage(items=[RecordOut.of(r) for r in rows], next_before_seq=next_before)


@router.get("/{seq}", response_model=RecordOut, responses=error_responses(401, 403, 404))
def get_event(
    seq: Annotated[int, Path(ge=0, le=MAX_SEQ)], caller: Reader, session: SessionDep
) -> RecordOut:
    """One record by its sequence number."""
    row = get_record(session, caller.site_id, seq)
    if row is None:
        raise not_found("record")
    return RecordOut.of(row)
