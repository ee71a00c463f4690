"""Contractors (4-8-9): company, contract end, confidentiality clause, on-site inspections.

A contractor is a person of kind ``contractor`` with a contract on file here. The contract's
end is ``Person.contract_end``, which the decision reads: after it, every entry is denied
``ContractExpired`` (``gateway.decision``), so access lapses with the contract by itself.

Findings, each recorded once as ``contractor.finding`` by the periodic check:
- ``inspection_overdue``: no on-site inspection within ``custody.contractor_inspection_days``
  (4-8-9(3): at least yearly, in principle on site);
- ``no_confidentiality_clause``: no confidentiality clause on file (4-8-9(1)①);
- ``contract_ended``: the contract has ended (its access lapsed with it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from gateway.clock import utcnow
from gateway.config.site import SiteConfig
from gateway.custody import (
    Actor,
    Invalid,
    NotAllowed,
    aware,
    in_thread,
    iso,
    load_person,
    session,
    stage,
    write,
)
from gateway.domain import PersonKind
from gateway.intents import IntentOutbox, Staged, commit
from gateway.recorder import Recorder
from gateway.records import RecordKind
from gateway.storage.models import ContractorRow, Person
from gateway.storage.queries import MAX_LIMIT, query_records


class FindingKind(StrEnum):
    """What is wrong with a contractor's file."""

    INSPECTION_OVERDUE = "inspection_overdue"  # 4-8-9(3): not inspected on site within a year
    NO_CONFIDENTIALITY_CLAUSE = "no_confidentiality_clause"  # 4-8-9(1)①
    CONTRACT_ENDED = "contract_ended"  # access lapsed with the contract


@dataclass(frozen=True, slots=True)
class ContractTerms:
    """What a manager records about a contractor's contract."""

    company: str
    contract_end: datetime
    confidentiality_on_file: bool
    confidentiality_date: date | None = None
    contract_ref: str | None = None
    last_inspection_date: date | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding about one contractor; ``key`` tells one occurrence from the next."""

    person_id: str
    kind: FindingKind
    key: str  # e.g. the inspection's due date: a new due date is a new finding
    detail: str


@dataclass(frozen=True, slots=True)
class ContractorView:
    """A contractor with their contract and what is wrong with it today."""

    person_id: str
    name: str
    enabled: bool
    company: str | None
    contract_ref: str | None
    contract_end: datetime | None
    confidentiality_on_file: bool
    confidentiality_date: date | None
    last_inspection_date: date | None
    last_inspection_note: str | None
    inspection_due: date | None
    updated_by: str | None
    updated_at: datetime | None
    findings: tuple[Finding, ...]


def findings_of(
    person: Person, row: ContractorRow | None, now: datetime, tz: ZoneInfo, every_days: int
) -> tuple[Finding, ...]:
    """The findings about one contractor at ``now`` (dates in the site's time zone ``tz``)."""
    today = now.astimezone(tz).date()
    out: list[Finding] = []
    end = aware(person.contract_end)
    if end is not None and now >= end:
        out.append(
            Finding(person.id, FindingKind.CONTRACT_ENDED, iso(end) or "", f"ended {iso(end)}")
        )
    if row is None or not row.confidentiality_on_file:
        out.append(
            Finding(
                person.id,
                FindingKind.NO_CONFIDENTIALITY_CLAUSE,
                "missing",
                "no confidentiality clause on file",
            )
        )
    due = inspection_due(row, every_days, tz)
    if due is not None and today > due and (end is None or now < end):
        out.append(
            Finding(
                person.id,
                FindingKind.INSPECTION_OVERDUE,
                due.isoformat(),
                f"on-site inspection was due by {due.isoformat()}",
            )
        )
    return tuple(out)


def inspection_due(row: ContractorRow | None, every_days: int, tz: ZoneInfo) -> date | None:
    """The site-local date the next on-site inspection is due by (None with no contract)."""
    if row is None:
        return None
    start = row.last_inspection_date
    if start is None:
        first = aware(row.recorded_at)
        assert first is not None
        start = first.astimezone(tz).date()  # never inspected: a year from the contract on file
    return start + timedelta(days=every_days)


class ContractorService:
    """Contractors of one site, on the core's event loop."""

    def __init__(
        self,
        site: SiteConfig,
        engine: Engine,
        recorder: Recorder,
        *,
        intents: IntentOutbox,
        reload_person: Callable[[str], Awaitable[None]],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """Work on ``site``'s contractors in ``engine``; changes' records go through ``intents``."""
        self._site_id = site.site.id
        self._tz = ZoneInfo(site.site.timezone)
        self._every = site.custody.contractor_inspection_days
        self._engine = engine
        self._recorder = recorder
        self._intents = intents
        self._reload = reload_person
        self._clock = clock
        self._lock = asyncio.Lock()

    async def all(self) -> list[ContractorView]:
        """Every contractor of the site, by name."""
        return await in_thread(self._all, None)

    async def get(self, person_id: str) -> ContractorView:
        """One contractor (NotFound for anyone else)."""
        found = await in_thread(self._all, person_id)
        return found[0]

    async def set_terms(self, actor: Actor, person_id: str, terms: ContractTerms) -> ContractorView:
        """Record a contractor's contract; the decision follows the new end at once."""
        async with self._lock:
            staged = await in_thread(self._set_terms, actor, person_id, terms)
            await self._intents.write_all(staged)
            await self._reload(person_id)
            return await self.get(person_id)

    async def record_inspection(
        self, actor: Actor, person_id: str, on: date, note: str | None = None
    ) -> ContractorView:
        """Record an on-site inspection of the contractor's handling (4-8-9(3))."""
        async with self._lock:
            staged = await in_thread(self._inspected, actor, person_id, on, note)
            await self._intents.write_all(staged)
            return await self.get(person_id)

    async def check(self) -> list[Finding]:
        """Record each new finding once (``contractor.finding``); returns those recorded.

        What is recorded already is read back from the log, so a restart records none twice.
        """
        now = self._clock()
        async with self._lock:
            views = await in_thread(self._all, None)
            recorded = await in_thread(self._recorded)
            new = [
                f
                for v in views
                for f in v.findings
                if (f.person_id, f.kind.value, f.key) not in recorded
            ]
            for f in new:
                await write(
                    self._recorder,
                    RecordKind.CONTRACTOR_FINDING,
                    now,
                    person_id=f.person_id,
                    person_kind=PersonKind.CONTRACTOR.value,
                    detail={"finding": f.kind.value, "key": f.key, "detail": f.detail},
                )
            return new

    # --- store work ---------------------------------------------------------------------------

    def _contractor(self, s: Session, person_id: str) -> Person:
        """The site's contractor with this id; NotFound or Invalid otherwise."""
        person = load_person(s, self._site_id, person_id, "contractor")
        if person.kind is not PersonKind.CONTRACTOR:
            raise Invalid("person_id", "this person is not a contractor")
        return person

    def _set_terms(self, actor: Actor, person_id: str, t: ContractTerms) -> Staged:
        """Store the contract with its record (what changed)."""
        if actor.is_person(person_id):
            raise NotAllowed("nobody records their own contract")
        if not t.company.strip():
            raise Invalid("company", "must not be blank")
        if t.confidentiality_on_file and t.confidentiality_date is None:
            raise Invalid("confidentiality_date", "give the date of the clause on file")
        now = self._clock()
        with session(self._engine) as s:
            person = self._contractor(s, person_id)
            row = s.get(ContractorRow, person_id)
            before: dict[str, object] = {
                "company": row.company if row else None,
                "contract_end": iso(person.contract_end),
                "contract_ref": row.contract_ref if row else None,
                "confidentiality_on_file": row.confidentiality_on_file if row else None,
                "confidentiality_date": _day(row.confidentiality_date) if row else None,
                "last_inspection_date": _day(row.last_inspection_date) if row else None,
            }
            if row is None:
                row = ContractorRow(
                    person_id=person_id,
                    site_id=self._site_id,
                    company=t.company,
                    recorded_at=now,
                    updated_by=actor.username,
                    updated_at=now,
                )
            row.company = t.company.strip()
            row.contract_ref = t.contract_ref
            row.confidentiality_on_file = t.confidentiality_on_file
            row.confidentiality_date = t.confidentiality_date
            if t.last_inspection_date is not None:
                row.last_inspection_date = t.last_inspection_date
            row.updated_by = actor.username
            row.updated_at = now
            person.organisation = row.company
            person.contract_end = t.contract_end
            person.updated_at = now
            s.add(row)
            s.add(person)
            after: dict[str, object] = {
                "company": row.company,
                "contract_end": iso(t.contract_end),
                "contract_ref": row.contract_ref,
                "confidentiality_on_file": row.confidentiality_on_file,
                "confidentiality_date": _day(row.confidentiality_date),
                "last_inspection_date": _day(row.last_inspection_date),
            }
            changes: dict[str, object] = {
                k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]
            }
            stage(
                s,
                self._site_id,
                RecordKind.CONTRACTOR_UPDATED,
                self._clock(),
                actor=actor,
                person=person,
                detail={"changes": changes},
            )
            return commit(s)

    def _inspected(self, actor: Actor, person_id: str, on: date, note: str | None) -> Staged:
        """Store an on-site inspection with its record."""
        if on > self._clock().astimezone(self._tz).date():
            raise Invalid("date", "an inspection cannot be recorded ahead of its day")
        with session(self._engine) as s:
            person = self._contractor(s, person_id)
            row = s.get(ContractorRow, person_id)
            if row is None:
                raise Invalid("person_id", "record the contract before its inspections")
            if row.last_inspection_date is None or on >= row.last_inspection_date:
                row.last_inspection_date = on
                row.last_inspection_note = note
            row.updated_by = actor.username
            row.updated_at = self._clock()
            s.add(row)
            stage(
                s,
                self._site_id,
                RecordKind.CONTRACTOR_INSPECTED,
                self._clock(),
                actor=actor,
                person=person,
                detail={"date": on.isoformat(), "note": note},
            )
            return commit(s)

    def _all(self, person_id: str | None) -> list[ContractorView]:
        """Contractors (one, or all by name) with their contract and findings now."""
        now = self._clock()
        with session(self._engine) as s:
            if person_id is not None:
                people = [self._contractor(s, person_id)]
            else:
                people = list(
                    s.exec(
                        select(Person)
                        .where(
                            Person.site_id == self._site_id,
                            Person.kind == PersonKind.CONTRACTOR,
                        )
                        .order_by(col(Person.name), col(Person.id))
                    ).all()
                )
            rows = {
                r.person_id: r
                for r in s.exec(
                    select(ContractorRow).where(ContractorRow.site_id == self._site_id)
                ).all()
            }
        out = []
        for p in people:
            row = rows.get(p.id)
            due = inspection_due(row, self._every, self._tz)
            out.append(
                ContractorView(
                    person_id=p.id,
                    name=p.name,
                    enabled=p.enabled,
                    company=row.company if row else p.organisation,
                    contract_ref=row.contract_ref if row else None,
                    contract_end=aware(p.contract_end),
                    confidentiality_on_file=bool(row and row.confidentiality_on_file),
                    confidentiality_date=row.confidentiality_date if row else None,
                    last_inspection_date=row.last_inspection_date if row else None,
                    last_inspection_note=row.last_inspection_note if row else None,
                    inspection_due=due,
                    updated_by=row.updated_by if row else None,
                    updated_at=aware(row.updated_at) if row else None,
                    findings=findings_of(p, row, now, self._tz, self._every),
                )
            )
        return out

    def _recorded(self) -> set[tuple[str, str, str]]:
        """(person, finding, key) of every contractor finding in the log."""
        with self._engine.connect() as conn:
            rows = query_records(
                conn,
                self._site_id,
                kinds=[RecordKind.CONTRACTOR_FINDING.value],
                limit=MAX_LIMIT,
            )
        return {
            (r.person_id or "", str(r.detail.get("finding")), str(r.detail.get("key")))
            for r in rows
        }


def _day(value: date | None) -> str | None:
    """A date as ISO text (None stays None)."""
    return None if value is None else value.isoformat()
