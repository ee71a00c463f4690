"""Reading the record log: filters, keyset paging on seq, counts (4-8-6(3) analysis, audits).

Time bounds are inclusive ``since`` and exclusive ``until`` on ``ts``. Paging is by seq: pass
the last seq of a page as ``before_seq`` (newest first) or ``after_seq`` (oldest first) to get
the next one; the primary key (site_id, seq) serves it without OFFSET scans.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, Connection, Select, Table, func, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlmodel import SQLModel

from gateway.storage.errors import QueryFailed
from gateway.storage.models import Record

MAX_LIMIT: Final = 10_000  # one page; larger reads page through (and exports are audited)

_T: Final[Table] = SQLModel.metadata.tables[Record.__tablename__]


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """One committed record as read back: immutable, ``ts`` timezone-aware UTC."""

    site_id: str
    seq: int
    ts: datetime
    kind: str
    door_id: str | None
    zone_id: str | None
    reader_id: str | None
    person_id: str | None
    person_kind: str | None
    credential: str | None
    direction: str | None
    outcome: str | None
    reason: str | None
    actor: str | None
    detail: dict[str, object]


# The record's own fields, in StoredRecord order (not the audit columns: salt, commitment...).
_COLUMNS: Final = tuple(_T.c[f.name] for f in fields(StoredRecord))


def query_records(
    conn: Connection | Session,
    site_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    person_id: str | None = None,
    door_id: str | None = None,
    zone_id: str | None = None,
    kinds: Sequence[str] | None = None,
    outcome: str | None = None,
    before_seq: int | None = None,
    after_seq: int | None = None,
    limit: int = 100,
    newest_first: bool = True,
) -> list[StoredRecord]:
    """Records of ``site_id`` matching every given filter, at most ``limit``, ordered by seq."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be 1-{MAX_LIMIT}, got {limit}")
    where = _filters(
        site_id, since, until, person_id, door_id, zone_id, kinds, outcome, before_seq, after_seq
    )
    order = _T.c.seq.desc() if newest_first else _T.c.seq.asc()
    stmt = select(*_COLUMNS).where(*where).order_by(order).limit(limit)
    return [StoredRecord(*row) for row in _run(conn, stmt)]


def get_record(conn: Connection | Session, site_id: str, seq: int) -> StoredRecord | None:
    """The record ``seq`` of ``site_id``, or None when there is none."""
    stmt = select(*_COLUMNS).where(_T.c.site_id == site_id, _T.c.seq == seq)
    rows = _run(conn, stmt)
    return StoredRecord(*rows[0]) if rows else None


def count_records(
    conn: Connection | Session,
    site_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    person_id: str | None = None,
    door_id: str | None = None,
    zone_id: str | None = None,
    kinds: Sequence[str] | None = None,
    outcome: str | None = None,
    before_seq: int | None = None,
    after_seq: int | None = None,
) -> int:
    """How many records of ``site_id`` match the filters (same meaning as query_records)."""
    where = _filters(
        site_id, since, until, person_id, door_id, zone_id, kinds, outcome, before_seq, after_seq
    )
    rows = _run(conn, select(func.count()).select_from(_T).where(*where))
    return int(rows[0][0])


def _filters(  # noqa: PLR0917  (private helper: both callers pass the filters positionally)
    site_id: str,
    since: datetime | None,
    until: datetime | None,
    person_id: str | None,
    door_id: str | None,
    zone_id: str | None,
    kinds: Sequence[str] | None,
    outcome: str | None,
    before_seq: int | None,
    after_seq: int | None,
) -> list[ColumnElement[bool]]:
    """WHERE clauses for the given filters; ValueError for naive datetimes or a bare str kinds."""
    where: list[ColumnElement[bool]] = [_T.c.site_id == site_id]
    if since is not None:
        where.append(_T.c.ts >= _aware("since", since))
    if until is not None:
        where.append(_T.c.ts < _aware("until", until))
    if person_id is not None:
        where.append(_T.c.person_id == person_id)
    if door_id is not None:
        where.append(_T.c.door_id == door_id)
    if zone_id is not None:
        where.append(_T.c.zone_id == zone_id)
    if kinds is not None:
        if isinstance(kinds, str):
            raise ValueError("kinds is a sequence of kinds, not one string")
        where.append(_T.c.kind.in_([str(kind) for kind in kinds]))
    if outcome is not None:
        where.append(_T.c.outcome == outcome)
    if before_seq is not None:
        where.append(_T.c.seq < before_seq)
    if after_seq is not None:
        where.append(_T.c.seq > after_seq)
    return where


def _aware(name: str, value: datetime) -> datetime:
    """``value`` if timezone-aware; a naive bound would be compared in an unknown zone."""
    if value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value


def _run(conn: Connection | Session, stmt: Select[Any]) -> Sequence[Any]:
    """Execute ``stmt`` and fetch every row; database failures become :class:`QueryFailed`."""
    try:
        return conn.execute(stmt).all()
    except SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None)
        raise QueryFailed(f"reading records failed: {orig if orig is not None else exc}") from None


def query_by_time(
    conn: Connection | Session,
    site_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    person_id: str | None = None,
    door_id: str | None = None,
    zone_id: str | None = None,
    kinds: Sequence[str] | None = None,
    outcome: str | None = None,
    before_seq: int | None = None,
    limit: int = 100,
) -> list[StoredRecord]:
    """Like :func:`query_records`, newest *event time* first (ts, then seq), for audits.

    Ordering by time lets the (site, person, ts) and (site, door, ts) indexes deliver a page
    straight from a time range, however many records the person or door has (4-8-12(1)).
    ``before_seq`` continues after that record of the previous page.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be 1-{MAX_LIMIT}, got {limit}")
    where = _filters(site_id, since, until, person_id, door_id, zone_id, kinds, outcome, None, None)
    if before_seq is not None:
        rows = _run(conn, select(_T.c.ts).where(_T.c.site_id == site_id, _T.c.seq == before_seq))
        if not rows:
            return []
        at = rows[0][0]
        where += [_T.c.ts <= at, or_(_T.c.ts < at, _T.c.seq < before_seq)]
    stmt = select(*_COLUMNS).where(*where).order_by(_T.c.ts.desc(), _T.c.seq.desc()).limit(limit)
    return [StoredRecord(*row) for row in _run(conn, stmt)]
