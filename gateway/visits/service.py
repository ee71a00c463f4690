"""Visits from pre-registration to check-out, overstays, and the visitor log (4-8-7(1)).

A host (staff) pre-registers the visit; the manager of each zone approves it for that zone
(never the host, never whoever registered it, 4-8-6(6)). At the desk the operator records the
identity document's kind and last digits (no more personal data), hands over a visitor badge
(from the site's visitor pools, so it looks like one) and assigns an escort. The badge and the
visit's authorizations are valid only for the visit's zones and window: they expire by
themselves. Check-out takes the badge back and disables it. A visit still checked in after its
window is an overstay, recorded once (``visit.overstay``; the alarm catalogue raises on it).
Every step is a record in the log, staged in the step's own transaction and written after its
commit (``gateway.intents``): a crash in between never loses it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine, or_
from sqlmodel import Session, col, select

from gateway.clock import utcnow
from gateway.config.site import SiteConfig
from gateway.custody import (
    Actor,
    Invalid,
    NotAllowed,
    NotFound,
    Refused,
    aware,
    in_thread,
    iso,
    load_person,
    new_record,
    session,
    stage,
)
from gateway.domain import CardId, CredentialStatus, PersonKind
from gateway.hashing import hash_secret
from gateway.intents import IntentOutbox, Staged, commit
from gateway.intents import stage as stage_record
from gateway.records import NewRecord, RecordKind
from gateway.storage.models import Authorization, Credential, Person, VisitRow
from gateway.visits import queries
from gateway.visits.model import (
    OPEN,
    CheckIn,
    VisitorLogEntry,
    VisitPlan,
    VisitStatus,
    VisitView,
    last_digits,
)
from gateway.visits.queries import VisitFilter, at

log = logging.getLogger(__name__)

ReloadPerson = Callable[[str], Awaitable[None]]
Occupancy = Callable[[str], list[dict[str, object]]]


class VisitService:
    """Visits of one site, on the core's event loop."""

    def __init__(
        self,
        site: SiteConfig,
        engine: Engine,
        intents: IntentOutbox,
        *,
        reload_person: ReloadPerson,
        occupancy: Occupancy,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """Work on ``site``'s visits; the outbox, ``reload_person``, ``occupancy``: the core's."""
        self._site = site
        self._site_id = site.site.id
        self._cfg = site.custody.visitors
        self._engine = engine
        self._intents = intents
        self._reload = reload_person
        self._occupancy = occupancy
        self._clock = clock
        self._lock = asyncio.Lock()

    # --- reading ----------------------------------------------------------------------------

    async def get(self, visit_id: str) -> VisitView:
        """One visit; NotFound when there is none."""
        return await in_thread(queries.read_visit, self._engine, self._site_id, visit_id)

    async def find(
        self, f: VisitFilter | None = None, *, offset: int = 0, limit: int = 100
    ) -> tuple[list[VisitView], int]:
        """Visits matching ``f``, earliest window first, and how many match."""
        return await in_thread(
            queries.find_visits, self._engine, self._site_id, f or VisitFilter(), offset, limit
        )

    async def visitor_log(self, since: datetime, until: datetime) -> list[VisitorLogEntry]:
        """The visitor log of visits checked in within [since, until) (PE-8's fields)."""
        return await in_thread(
            queries.visitor_log, self._engine, self._site, since, until, self._clock()
        )

    # --- the host and the managers ----------------------------------------------------------

    async def register(self, actor: Actor, plan: VisitPlan) -> VisitView:
        """Pre-register a visit (``visit.registered``); it waits for the zones' managers."""
        async with self._lock:
            row, staged = await in_thread(self._register, actor, plan)
            await self._intents.write_all(staged)
            return await self.get(row.id)

    async def approve(self, actor: Actor, visit_id: str, note: str | None = None) -> VisitView:
        """Approve a visit for the zones the actor manages (``visit.approved``)."""
        async with self._lock:
            row, staged = await in_thread(self._approve, actor, visit_id, note)
            await self._intents.write_all(staged)
            return await self.get(row.id)

    async def reject(self, actor: Actor, visit_id: str, note: str | None = None) -> VisitView:
        """Refuse a visit (a manager of one of its zones; ``visit.rejected``)."""
        async with self._lock:
            row, staged = await in_thread(self._decide, actor, visit_id, note, reject=True)
            await self._intents.write_all(staged)
            return await self.get(row.id)

    async def cancel(self, actor: Actor, visit_id: str, note: str | None = None) -> VisitView:
        """Withdraw a visit before check-in (``visit.cancelled``)."""
        async with self._lock:
            row, staged = await in_thread(self._decide, actor, visit_id, note, reject=False)
            await self._intents.write_all(staged)
            return await self.get(row.id)

    # --- the desk ---------------------------------------------------------------------------

    async def check_in(self, actor: Actor, visit_id: str, c: CheckIn) -> VisitView:
        """Identify the visitor, hand over a visitor badge, assign the escort."""
        async with self._lock:
            row, visitor, previous_holder, staged = await in_thread(
                self._check_in, actor, visit_id, c
            )
            await self._intents.write_all(staged)
            if previous_holder is not None:
                await self._reload(previous_holder)
            await self._reload(visitor.id)
            return await self.get(row.id)

    async def check_out(
        self, actor: Actor, visit_id: str, *, credential_returned: bool, note: str | None = None
    ) -> VisitView:
        """Take the badge back (or report it not returned) and disable it."""
        async with self._lock:
            inside = self._inside_zones(await in_thread(self._visitor_of, visit_id))
            row, visitor, staged = await in_thread(
                self._check_out, actor, visit_id, credential_returned, inside, note
            )
            await self._intents.write_all(staged)
            await self._reload(visitor.id)
            return await self.get(row.id)

    async def check_overstays(self) -> list[str]:
        """Record each checked-in visit whose window (and grace) has passed, once; their ids."""
        now = self._clock()
        grace = timedelta(seconds=self._cfg.overstay_grace_s)
        async with self._lock:
            due = await in_thread(self._overdue_visits, now - grace)
            written = []
            for row, visitor in due:
                inside = self._inside_zones(visitor.id)
                rec = new_record(
                    RecordKind.VISIT_OVERSTAY,
                    now,
                    person=visitor,
                    zone_id=inside[0] if inside else None,
                    credential=row.card_masked,
                    detail={
                        "visit_id": row.id,
                        "window_end": iso(row.valid_to),
                        "inside": inside,
                        "credential_returned": False,
                        "escort_id": row.escort_id,
                        "host_id": row.host_id,
                    },
                )
                staged = await in_thread(self._mark_overstay, row.id, now, rec)
                await self._intents.write_all(staged)
                written.append(row.id)
            return written

    # --- store work (worker threads) ----------------------------------------------------------

    def _register(self, actor: Actor, plan: VisitPlan) -> tuple[VisitRow, Staged]:
        """Store a new visit (and its visitor, if new) with its record."""
        now = self._clock()
        zones = self._check_zones(plan.zones)
        if not plan.valid_from < plan.valid_to:
            raise Invalid("valid_to", "the window must end after it starts")
        if plan.valid_to <= now:
            raise Invalid("valid_to", "the window is already over")
        if plan.valid_to - plan.valid_from > timedelta(days=self._cfg.max_window_days):
            raise Invalid("valid_to", f"a visit lasts at most {self._cfg.max_window_days} days")
        if not plan.purpose.strip():
            raise Invalid("purpose", "a visit needs its purpose (用件)")
        with session(self._engine) as s:
            host = load_person(s, self._site_id, plan.host_id, "host")
            if host.kind is not PersonKind.STAFF or not host.enabled:
                raise Invalid("host_id", "the host must be an enabled member of staff")
            visitor = self._visitor(s, plan)
            if visitor.id == host.id:
                raise Invalid("host_id", "a visitor cannot host their own visit")
            row = VisitRow(
                site_id=self._site_id,
                visitor_id=visitor.id,
                host_id=host.id,
                purpose=plan.purpose.strip(),
                zones=zones,
                valid_from=plan.valid_from,
                valid_to=plan.valid_to,
                status=VisitStatus.REQUESTED.value,
                requested_by=actor.username,
                requested_at=now,
                approvals={},
            )
            s.add(row)
            stage(
                s,
                self._site_id,
                RecordKind.VISIT_REGISTERED,
                self._clock(),
                actor=actor,
                person=visitor,
                detail={
                    "visit_id": row.id,
                    "host_id": row.host_id,
                    "zones": list(row.zones),
                    "valid_from": iso(row.valid_from),
                    "valid_to": iso(row.valid_to),
                    "purpose": row.purpose,
                },
            )
            return row, commit(s)

    def _visitor(self, s: Session, plan: VisitPlan) -> Person:
        """The visit's visitor: a known outsider, or a new visitor person."""
        if (plan.visitor is None) == (plan.visitor_id is None):
            raise Invalid("visitor", "give either a new visitor or visitor_id")
        if plan.visitor_id is not None:
            person = load_person(s, self._site_id, plan.visitor_id, "visitor")
            if not person.kind.is_outsider:
                raise Invalid("visitor_id", "staff do not visit: only visitors and contractors")
            if not person.enabled:
                raise Invalid("visitor_id", "this person is disabled")
            return person
        assert plan.visitor is not None
        if not plan.visitor.name.strip():
            raise Invalid("visitor.name", "must not be blank")
        person = Person(
            site_id=self._site_id,
            kind=PersonKind.VISITOR,
            name=plan.visitor.name.strip(),
            organisation=plan.visitor.organisation,
        )
        s.add(person)
        s.flush()
        return person

    def _check_zones(self, zones: tuple[str, ...]) -> list[str]:
        """The visit's zones, each known, without repeats."""
        if not zones:
            raise Invalid("zones", "a visit enters at least one zone")
        out: list[str] = []
        for z in zones:
            try:
                self._site.zone(z)
            except KeyError:
                raise Invalid("zones", f"unknown zone {z!r}") from None
            if z not in out:
                out.append(z)
        return out

    def _row(self, s: Session, visit_id: str) -> VisitRow:
        """The site's visit with this id; NotFound otherwise."""
        return queries.visit_row(s, self._site_id, visit_id)

    def _approve(self, actor: Actor, visit_id: str, note: str | None) -> tuple[VisitRow, Staged]:
        """Store the actor's approvals with their record; returns the visit."""
        now = self._clock()
        with session(self._engine) as s:
            row = self._row(s, visit_id)
            visitor = load_person(s, self._site_id, row.visitor_id)
            self._check_approver(actor, row)
            if row.status != VisitStatus.REQUESTED.value:
                raise Refused(f"the visit is {row.status}, not waiting for approval")
            if now >= at(row.valid_to):
                raise Refused("the visit's window is already over")
            approvals = dict(row.approvals)
            zones = [z for z in row.zones if actor.manages(z) and z not in approvals]
            if not zones:
                raise Refused("the zones you manage are approved already")
            for z in zones:
                approvals[z] = {"by": actor.username, "at": iso(now), "note": note}
            row.approvals = approvals
            if all(z in approvals for z in row.zones):
                row.status = VisitStatus.APPROVED.value
            s.add(row)
            stage(
                s,
                self._site_id,
                RecordKind.VISIT_APPROVED,
                self._clock(),
                actor=actor,
                person=visitor,
                detail={
                    "visit_id": row.id,
                    "zones": zones,
                    "complete": row.status == VisitStatus.APPROVED.value,
                    "note": note,
                },
            )
            return row, commit(s)

    def _check_approver(self, actor: Actor, row: VisitRow) -> None:
        """NotAllowed unless the actor manages a zone of the visit and has no part in it."""
        if not any(actor.manages(z) for z in row.zones):
            raise NotAllowed("only a manager of one of the visit's zones may decide it")
        if actor.username == row.requested_by:
            raise NotAllowed("whoever registered a visit cannot approve it")
        if actor.is_person(row.host_id) or actor.is_person(row.visitor_id):
            raise NotAllowed("a host or visitor cannot decide their own visit")

    def _decide(
        self, actor: Actor, visit_id: str, note: str | None, *, reject: bool
    ) -> tuple[VisitRow, Staged]:
        """Store a rejection (a zone's manager) or a cancellation, with its record."""
        with session(self._engine) as s:
            row = self._row(s, visit_id)
            visitor = load_person(s, self._site_id, row.visitor_id)
            if reject:
                self._check_approver(actor, row)
            if VisitStatus(row.status) not in OPEN:
                raise Refused(f"the visit is {row.status}: it can no longer be called off")
            row.status = (VisitStatus.REJECTED if reject else VisitStatus.CANCELLED).value
            row.decided_by = actor.username
            row.decided_at = self._clock()
            row.decision_note = note
            s.add(row)
            stage(
                s,
                self._site_id,
                RecordKind.VISIT_REJECTED if reject else RecordKind.VISIT_CANCELLED,
                self._clock(),
                actor=actor,
                person=visitor,
                detail={"visit_id": row.id, "note": note},
            )
            return row, commit(s)

    def _check_in(
        self, actor: Actor, visit_id: str, c: CheckIn
    ) -> tuple[VisitRow, Person, str | None, Staged]:
        """Store the check-in (badge, authorizations, document, escort) with its record."""
        now = self._clock()
        digits = last_digits(c.id_document_last)
        if not self._cfg.is_visitor_card(c.card):
            raise Invalid("card", "not a visitor badge: use a card from the site's visitor pools")
        if c.pin is not None and not (
            c.pin.isdigit() and self._site.pin.min_length <= len(c.pin) <= self._site.pin.max_length
        ):
            raise Invalid("pin", "digits only, of the length the site's PIN policy sets")
        with session(self._engine) as s:
            row = self._row(s, visit_id)
            if row.status != VisitStatus.APPROVED.value:
                raise Refused(f"the visit is {row.status}: only an approved visit checks in")
            if now >= at(row.valid_to):
                raise Refused("the visit's window is over")
            visitor = load_person(s, self._site_id, row.visitor_id)
            self._check_escort(s, row, c.escort_id, now)
            self._refuse_second_visit(s, row)
            cred, previous = self._issue(s, row, visitor, c.card, c.pin)
            for z in row.zones:
                approval = dict(row.approvals[z])
                auth = Authorization(
                    site_id=self._site_id,
                    person_id=visitor.id,
                    zone_id=z,
                    valid_from=row.valid_from,
                    valid_to=row.valid_to,
                    purpose=row.purpose,
                    granted_by=str(approval["by"]),
                    granted_at=now,
                )
                s.add(auth)
                s.flush()
                approval["authorization_id"] = auth.id
                row.approvals = {**row.approvals, z: approval}
            row.status = VisitStatus.CHECKED_IN.value
            row.id_document_type = c.id_document_type.value
            row.id_document_last = digits
            row.photo_evidence_seq = c.photo_evidence_seq
            row.photo_sha256 = c.photo_sha256
            row.escort_id = c.escort_id
            row.credential_id = cred.id
            row.card_masked = c.card.masked
            row.checked_in_at = now
            row.checked_in_by = actor.username
            s.add(row)
            stage(
                s,
                self._site_id,
                RecordKind.VISIT_CHECKED_IN,
                self._clock(),
                actor=actor,
                person=visitor,
                credential=row.card_masked,
                detail={
                    "visit_id": row.id,
                    "escort_id": row.escort_id,
                    "zones": list(row.zones),
                    "valid_to": iso(row.valid_to),
                    "id_document_type": row.id_document_type,  # the kind only (PE-8 "ID form")
                    "photo_evidence_seq": row.photo_evidence_seq,
                    "photo_sha256": row.photo_sha256,
                    "pin": "set" if c.pin else None,
                },
            )
            return row, visitor, previous, commit(s)

    def _check_escort(self, s: Session, row: VisitRow, escort_id: str, now: datetime) -> None:
        """Invalid unless the escort is enabled staff authorized for every zone."""
        try:
            escort = load_person(s, self._site_id, escort_id, "escort")
        except NotFound:
            raise Invalid("escort_id", "no such person") from None
        if escort.kind is not PersonKind.STAFF or not escort.enabled:
            raise Invalid("escort_id", "the escort must be an enabled member of staff")
        a = Authorization
        for z in row.zones:
            found = s.exec(
                select(a.id).where(
                    a.site_id == self._site_id,
                    a.person_id == escort.id,
                    a.zone_id == z,
                    col(a.revoked_at).is_(None),
                    or_(col(a.valid_to).is_(None), col(a.valid_to) > now),
                )
            ).first()
            if found is None:
                raise Invalid("escort_id", f"the escort has no authorization for zone {z}")

    def _refuse_second_visit(self, s: Session, row: VisitRow) -> None:
        """Refused when the visitor is checked in on another visit."""
        other = s.exec(
            select(VisitRow.id).where(
                VisitRow.site_id == self._site_id,
                VisitRow.visitor_id == row.visitor_id,
                VisitRow.status == VisitStatus.CHECKED_IN.value,
            )
        ).first()
        if other is not None:
            raise Refused("this visitor is checked in on another visit: check that one out first")

    def _issue(
        self, s: Session, row: VisitRow, visitor: Person, card: CardId, pin: str | None
    ) -> tuple[Credential, str | None]:
        """The visitor badge as a credential valid for the window; a returned badge is reused."""
        cred = s.exec(
            select(Credential).where(
                Credential.site_id == self._site_id, Credential.card_key == card.key
            )
        ).first()
        previous = None
        if cred is None:
            cred = Credential(
                site_id=self._site_id,
                person_id=visitor.id,
                format=card.format,
                facility=card.facility,
                number=card.number,
                card_key=card.key,
            )
        elif cred.status is CredentialStatus.RETURNED:
            previous = cred.person_id if cred.person_id != visitor.id else None
            cred.person_id = visitor.id
        else:
            raise Refused(f"this badge is {cred.status.value} and held by someone: use another")
        cred.status = CredentialStatus.ENABLED
        cred.valid_from = row.valid_from
        cred.valid_to = row.valid_to
        cred.pin_hash = hash_secret(pin) if pin else None
        cred.duress_pin_hash = None
        cred.updated_at = self._clock()
        s.add(cred)
        s.flush()
        return cred, previous

    def _visitor_of(self, visit_id: str) -> str:
        """The visitor of a visit."""
        with session(self._engine) as s:
            return self._row(s, visit_id).visitor_id

    def _check_out(
        self, actor: Actor, visit_id: str, returned: bool, inside: list[str], note: str | None
    ) -> tuple[VisitRow, Person, Staged]:
        """Store the check-out (badge returned or lost, authorizations revoked) and its record."""
        now = self._clock()
        with session(self._engine) as s:
            row = self._row(s, visit_id)
            if row.status != VisitStatus.CHECKED_IN.value:
                raise Refused(f"the visit is {row.status}: only a checked-in visit checks out")
            visitor = load_person(s, self._site_id, row.visitor_id)
            cred = s.get(Credential, row.credential_id) if row.credential_id else None
            if cred is not None and cred.person_id == visitor.id:
                # A badge not handed back is never used again (as a lost card).
                cred.status = CredentialStatus.RETURNED if returned else CredentialStatus.LOST
                valid_to = aware(cred.valid_to)
                cred.valid_to = now if valid_to is None or valid_to > now else valid_to
                cred.updated_at = now
                s.add(cred)
            for approval in row.approvals.values():
                auth_id = approval.get("authorization_id") if isinstance(approval, dict) else None
                auth = s.get(Authorization, auth_id) if isinstance(auth_id, str) else None
                if auth is not None and auth.revoked_at is None:
                    auth.revoked_at = now
                    auth.revoked_by = actor.username
                    s.add(auth)
            row.status = VisitStatus.CHECKED_OUT.value
            row.checked_out_at = now
            row.checked_out_by = actor.username
            row.credential_returned = returned
            s.add(row)
            stage(
                s,
                self._site_id,
                RecordKind.VISIT_CHECKED_OUT,
                self._clock(),
                actor=actor,
                person=visitor,
                credential=row.card_masked,
                detail={
                    "visit_id": row.id,
                    "credential_returned": returned,
                    "overstayed": row.overstay_at is not None,
                    "recorded_inside": inside,  # occupancy still shows them in these zones
                    "note": note,
                },
            )
            return row, visitor, commit(s)

    def _overdue_visits(self, before: datetime) -> list[tuple[VisitRow, Person]]:
        """Checked-in visits whose window ended before ``before`` with no overstay recorded."""
        with session(self._engine) as s:
            rows = s.exec(
                select(VisitRow).where(
                    VisitRow.site_id == self._site_id,
                    VisitRow.status == VisitStatus.CHECKED_IN.value,
                    col(VisitRow.overstay_at).is_(None),
                    col(VisitRow.valid_to) <= before,
                )
            ).all()
            return [(r, load_person(s, self._site_id, r.visitor_id)) for r in rows]

    def _mark_overstay(self, visit_id: str, now: datetime, rec: NewRecord) -> Staged:
        """Mark a visit's overstay and stage its record, in one transaction."""
        with session(self._engine) as s:
            row = self._row(s, visit_id)
            row.overstay_at = now
            s.add(row)
            stage_record(s, self._site_id, rec)
            return commit(s)

    def _inside_zones(self, person_id: str) -> list[str]:
        """The zones whose live occupancy holds this person (called on the loop)."""
        inside = []
        for z in self._site.zones:
            try:
                occupants = self._occupancy(z.id)
            except LookupError:
                continue
            if any(o.get("person_id") == person_id for o in occupants):
                inside.append(z.id)
        return inside
