"""Reading visits: one visit, lists, and the visitor log (NIST SP 800-53 PE-8's fields).

The log's entry and exit times and each entry's escort come from the access records
(``gateway.visits.log``); the visit holds who, from where, why, whom they visited, and the
identity document's kind and last digits (4-8-7(1)).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Engine, func
from sqlmodel import Session, col, select

from gateway.config.site import SiteConfig
from gateway.custody import NotFound, aware, session
from gateway.storage.models import Person, VisitRow
from gateway.storage.queries import MAX_LIMIT, query_records
from gateway.visits import log as visit_log
from gateway.visits.model import Approval, VisitorLogEntry, VisitStatus, VisitView


@dataclass(frozen=True, slots=True)
class VisitFilter:
    """Which visits to list: by status, window overlapping [since, until), visitor, host."""

    status: VisitStatus | None = None
    since: datetime | None = None
    until: datetime | None = None
    visitor_id: str | None = None
    host_id: str | None = None


def at(value: datetime | None) -> datetime:
    """An aware UTC datetime from a NOT NULL column."""
    out = aware(value)
    assert out is not None
    return out


def visit_row(s: Session, site_id: str, visit_id: str) -> VisitRow:
    """The site's visit with this id; NotFound otherwise."""
    row = s.get(VisitRow, visit_id)
    if row is None or row.site_id != site_id:
        raise NotFound("no such visit")
    return row


def people_of(s: Session, rows: Sequence[VisitRow]) -> dict[str, Person]:
    """The visitors, hosts and escorts of ``rows``, by id."""
    ids = {i for r in rows for i in (r.visitor_id, r.host_id, r.escort_id) if i}
    if not ids:
        return {}
    return {p.id: p for p in s.exec(select(Person).where(col(Person.id).in_(ids))).all()}


def view_of(r: VisitRow, people: dict[str, Person]) -> VisitView:
    """A visit as shown, with its people's names."""
    visitor, host = people[r.visitor_id], people[r.host_id]
    escort = people.get(r.escort_id) if r.escort_id else None
    approvals = tuple(
        Approval(z, str(a["by"]), at(datetime.fromisoformat(str(a["at"]))), a.get("note"))
        for z, a in r.approvals.items()
        if isinstance(a, dict)
    )
    return VisitView(
        id=r.id,
        visitor_id=r.visitor_id,
        visitor_name=visitor.name,
        visitor_kind=visitor.kind.value,
        organisation=visitor.organisation,
        host_id=r.host_id,
        host_name=host.name,
        purpose=r.purpose,
        zones=tuple(r.zones),
        valid_from=at(r.valid_from),
        valid_to=at(r.valid_to),
        status=VisitStatus(r.status),
        requested_by=r.requested_by,
        requested_at=at(r.requested_at),
        approvals=approvals,
        pending_zones=tuple(z for z in r.zones if z not in r.approvals),
        decided_by=r.decided_by,
        decided_at=aware(r.decided_at),
        decision_note=r.decision_note,
        id_document_type=r.id_document_type,
        id_document_last=r.id_document_last,
        photo_evidence_seq=r.photo_evidence_seq,
        photo_sha256=r.photo_sha256,
        escort_id=r.escort_id,
        escort_name=escort.name if escort else None,
        credential_id=r.credential_id,
        card_masked=r.card_masked,
        checked_in_at=aware(r.checked_in_at),
        checked_in_by=r.checked_in_by,
        checked_out_at=aware(r.checked_out_at),
        checked_out_by=r.checked_out_by,
        credential_returned=r.credential_returned,
        overstay_at=aware(r.overstay_at),
    )


def read_visit(engine: Engine, site_id: str, visit_id: str) -> VisitView:
    """One visit."""
    with session(engine) as s:
        row = visit_row(s, site_id, visit_id)
        return view_of(row, people_of(s, [row]))


def find_visits(
    engine: Engine, site_id: str, f: VisitFilter, offset: int, limit: int
) -> tuple[list[VisitView], int]:
    """Visits matching ``f``, earliest window first, and how many match."""
    v = VisitRow
    where: list[ColumnElement[bool]] = [col(v.site_id) == site_id]
    if f.status is not None:
        where.append(col(v.status) == f.status.value)
    if f.since is not None:
        where.append(col(v.valid_to) > f.since)
    if f.until is not None:
        where.append(col(v.valid_from) < f.until)
    if f.visitor_id is not None:
        where.append(col(v.visitor_id) == f.visitor_id)
    if f.host_id is not None:
        where.append(col(v.host_id) == f.host_id)
    with session(engine) as s:
        total = s.exec(select(func.count()).select_from(v).where(*where)).one()
        rows = s.exec(
            select(v)
            .where(*where)
            .order_by(col(v.valid_from), col(v.id))
            .offset(offset)
            .limit(limit)
        ).all()
        people = people_of(s, rows)
        return [view_of(r, people) for r in rows], int(total)


def visitor_log(
    engine: Engine, site: SiteConfig, since: datetime, until: datetime, now: datetime
) -> list[VisitorLogEntry]:
    """Visits checked in within [since, until), each with its passages from the records."""
    tz = ZoneInfo(site.site.timezone)
    site_id = site.site.id
    v = VisitRow
    with session(engine) as s:
        rows = s.exec(
            select(v)
            .where(
                v.site_id == site_id, col(v.checked_in_at) >= since, col(v.checked_in_at) < until
            )
            .order_by(col(v.checked_in_at), col(v.id))
        ).all()
        people = people_of(s, rows)
        out = []
        for r in rows:
            arrived = at(r.checked_in_at)
            departed = aware(r.checked_out_at)
            records = query_records(
                s,
                site_id,
                since=arrived,
                until=(departed or now) + timedelta(seconds=1),
                person_id=r.visitor_id,
                kinds=visit_log.PASSAGE_KINDS,
                limit=MAX_LIMIT,
                newest_first=False,
            )
            missing = visit_log.escorts_in(records) - set(people)
            if missing:
                found = s.exec(select(Person).where(col(Person.id).in_(missing))).all()
                people.update({p.id: p for p in found})
            visitor = people[r.visitor_id]
            escort = people.get(r.escort_id) if r.escort_id else None
            out.append(
                VisitorLogEntry(
                    visit_id=r.id,
                    date=arrived.astimezone(tz).date().isoformat(),
                    visitor_name=visitor.name,
                    organisation=visitor.organisation,
                    visitor_kind=visitor.kind.value,
                    id_document_type=r.id_document_type,
                    id_document_last=r.id_document_last,
                    purpose=r.purpose,
                    host_name=people[r.host_id].name,
                    escort_assigned=escort.name if escort else None,
                    card_masked=r.card_masked,
                    arrived_at=arrived,
                    departed_at=departed,
                    passages=visit_log.passages(
                        records, {pid: p.name for pid, p in people.items()}
                    ),
                )
            )
        return out
