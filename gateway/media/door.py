"""Carry-in and carry-out requests and the inspections at the door (4-8-5(4)(7), 4-8-7(1)).

A request names the item, the zone, who carries it, the purpose, the destination and the date
it comes back; the zone's manager approves it, never whoever requested it nor whoever carries
it (4-8-6(6)). Carrying out an unencrypted item is refused where the zone requires encryption.

At the door the operator scans or types the item's tag, names who carries it, and records the
result and notes. ``gateway.media.model.judge`` decides: the item moves (a ledger line), waits
for a second person's confirmation where the zone requires one, or is refused. A movement
without approval (no request, someone else's request, an unregistered item...) is caught here
and recorded as ``media.unapproved``, which the alarm catalogue raises an alarm on.

Each step's records are staged in the step's own transaction and written after its commit
(``gateway.intents``): a crash in between never loses them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

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
    session,
    stage,
)
from gateway.domain import Direction
from gateway.intents import Staged, commit
from gateway.media.model import (
    RESTING,
    InspectionOutcome,
    ItemState,
    Judgement,
    Movement,
    Refusal,
    RequestFacts,
    RequestStatus,
    judge,
)
from gateway.media.store import (
    MediaContext,
    add_movement,
    facts,
    find_item,
    item_row,
    location_of,
    movement_detail,
    normal_tag,
    request_facts,
)
from gateway.records import RecordKind
from gateway.storage.models import (
    MediaInspectionRow,
    MediaItemRow,
    MediaMovementRow,
    MediaRequestRow,
    Person,
)


@dataclass(frozen=True, slots=True)
class RequestPlan:
    """A carry-in or carry-out request."""

    item_id: str
    direction: Direction  # OUT: carry-out of a home item; IN: carry-in of an outside item
    person_id: str  # who carries it
    purpose: str
    return_by: datetime  # back home (carry-out) or gone again (carry-in) by then
    destination: str | None = None  # carry-out: where it goes
    zone_id: str | None = None  # default: the item's home zone (carry-out)
    valid_from: datetime | None = None  # the window the door accepts it in (default: now ...)
    valid_to: datetime | None = None  # (... until return_by)


@dataclass(frozen=True, slots=True)
class Inspection:
    """What the operator records at the door."""

    tag: str  # typed or scanned: asset tag, serial or reader tag
    direction: Direction
    zone_id: str
    person_id: str  # who carries it
    passed: bool  # the inspector's result: it is what it should be, in the state it should be
    notes: str | None = None
    request_id: str | None = None  # the request the carrier shows, if any
    door_id: str | None = None


@dataclass(frozen=True, slots=True)
class _Done:
    """What a step at the door wrote, for the records that follow it."""

    inspection: MediaInspectionRow
    item: MediaItemRow | None
    carrier: Person
    judgement: Judgement
    line: MediaMovementRow | None = None
    was_overdue: bool = False


class MediaDesk:
    """Requests and door inspections."""

    def __init__(self, ctx: MediaContext) -> None:
        """Work in the media services' shared context."""
        self._ctx = ctx

    # --- requests -----------------------------------------------------------------------------

    async def request(self, actor: Actor, plan: RequestPlan) -> MediaRequestRow:
        """File a request (``media.requested``)."""
        async with self._ctx.lock:
            row, staged = await in_thread(self._request, actor, plan)
            await self._ctx.intents.write_all(staged)
            return row

    async def approve(
        self, actor: Actor, request_id: str, note: str | None = None
    ) -> MediaRequestRow:
        """Approve a request (the zone's manager; ``media.approved``)."""
        return await self._decide(actor, request_id, note, RequestStatus.APPROVED)

    async def reject(
        self, actor: Actor, request_id: str, note: str | None = None
    ) -> MediaRequestRow:
        """Refuse a request (the zone's manager; ``media.rejected``)."""
        return await self._decide(actor, request_id, note, RequestStatus.REJECTED)

    async def cancel(
        self, actor: Actor, request_id: str, note: str | None = None
    ) -> MediaRequestRow:
        """Withdraw a request before it is used (``media.request_cancelled``)."""
        return await self._decide(actor, request_id, note, RequestStatus.CANCELLED)

    async def get_request(self, request_id: str) -> MediaRequestRow:
        """One request."""
        return await in_thread(self._get_request, request_id)

    async def find_requests(
        self,
        *,
        status: RequestStatus | None = None,
        item_id: str | None = None,
        zone_id: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[MediaRequestRow], int]:
        """Requests, newest first; and how many match."""
        return await in_thread(self._find_requests, status, item_id, zone_id, offset, limit)

    # --- inspections --------------------------------------------------------------------------

    async def inspect(self, actor: Actor, i: Inspection) -> MediaInspectionRow:
        """Record an inspection at the door and whatever it concludes."""
        async with self._ctx.lock:
            ins, staged = await in_thread(self._inspect, actor, i)
            await self._ctx.intents.write_all(staged)
            return ins

    async def confirm(
        self, actor: Actor, inspection_id: str, *, passed: bool, notes: str | None = None
    ) -> MediaInspectionRow:
        """A second person confirms (or does not) an inspection waiting for them (4-8-5(7))."""
        async with self._ctx.lock:
            ins, staged = await in_thread(self._confirm, actor, inspection_id, passed, notes)
            await self._ctx.intents.write_all(staged)
            return ins

    async def get_inspection(self, inspection_id: str) -> MediaInspectionRow:
        """One inspection."""
        return await in_thread(self._get_inspection, inspection_id)

    async def find_inspections(
        self,
        *,
        outcome: InspectionOutcome | None = None,
        item_id: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[MediaInspectionRow], int]:
        """Inspections, newest first; and how many match."""
        return await in_thread(self._find_inspections, outcome, item_id, offset, limit)

    # --- records ------------------------------------------------------------------------------

    def _stage_request(
        self, s: Session, kind: RecordKind, actor: Actor, row: MediaRequestRow, person: Person
    ) -> None:
        """Stage the record of a request's step in its transaction."""
        stage(
            s,
            self._ctx.site_id,
            kind,
            self._ctx.clock(),
            actor=actor,
            person=person,
            zone_id=row.zone_id,
            detail={
                "request_id": row.id,
                "item_id": row.item_id,
                "direction": row.direction,
                "purpose": row.purpose,
                "destination": row.destination,
                "return_by": iso(row.return_by),
                "status": row.status,
                "note": row.decision_note,
            },
        )

    def _stage_records(self, s: Session, actor: Actor, done: _Done, *, first: bool) -> None:
        """Stage the records of a step at the door: inspected/confirmed, unapproved, moved..."""
        ins, item, j = done.inspection, done.item, done.judgement
        now = self._ctx.clock()

        def emit(kind: RecordKind, detail: dict[str, object], ts: datetime = now) -> None:
            """Stage one record about this step at the door."""
            stage(
                s,
                self._ctx.site_id,
                kind,
                ts,
                actor=actor,
                person=done.carrier,
                zone_id=ins.zone_id,
                door_id=ins.door_id,
                detail=detail,
            )

        base: dict[str, object] = {"inspection_id": ins.id, "tag": ins.tag_seen}
        if item is not None:
            base["item_id"] = item.id
        else:
            base["item"] = f"tag:{ins.tag_seen}"  # the alarm's source for an unregistered item
        emit(
            RecordKind.MEDIA_INSPECTED if first else RecordKind.MEDIA_CONFIRMED,
            {
                **base,
                "direction": ins.direction,
                "result": ins.result if first else ins.second_result,
                "outcome": ins.outcome,
                "refusal": ins.refusal,
                "request_id": ins.request_id,
                "notes": ins.notes if first else ins.second_notes,
            },
        )
        if j.refusal is not None and j.refusal.unapproved:
            emit(
                RecordKind.MEDIA_UNAPPROVED,
                {**base, "direction": ins.direction, "refusal": j.refusal.value},
            )
        if done.line is None or item is None:
            return
        emit(RecordKind.MEDIA_MOVED, movement_detail(done.line, item.tag), done.line.at)
        if Movement(done.line.movement) in RESTING:
            emit(
                RecordKind.MEDIA_RETURNED,
                {
                    "item_id": item.id,
                    "tag": item.tag,
                    "state": item.state,
                    "was_overdue": done.was_overdue,
                },
            )

    # --- store work: requests -----------------------------------------------------------------

    def _request(self, actor: Actor, p: RequestPlan) -> tuple[MediaRequestRow, Staged]:
        """Store a new request (and its record) after checking the item, zone and encryption."""
        now = self._ctx.clock()
        if not p.purpose.strip():
            raise Invalid("purpose", "a request needs its purpose")
        with session(self._ctx.engine) as s:
            item = item_row(s, self._ctx.site_id, p.item_id)
            try:
                person = load_person(s, self._ctx.site_id, p.person_id, "carrier")
            except NotFound:
                raise Invalid("person_id", "no such person") from None
            state = ItemState(item.state)
            if p.direction is Direction.OUT:
                if state is not ItemState.HOME or item.home_zone is None:
                    raise Refused(f"the item is {state.value}: only an item at home is carried out")
                zone = p.zone_id or item.home_zone
                if zone != item.home_zone:
                    raise Invalid("zone_id", "an item is carried out of its home zone")
                if not p.destination:
                    raise Invalid("destination", "a carry-out names where the item goes")
                if self._ctx.policy(zone).encryption_required and not item.encrypted:
                    raise Refused(
                        f"zone {zone} requires encryption to carry media out; this item is not"
                        " encrypted"
                    )
            else:
                if state is not ItemState.AWAY:
                    raise Refused(f"the item is {state.value}: only an outside item is carried in")
                if p.zone_id is None:
                    raise Invalid("zone_id", "a carry-in names the zone it enters")
                zone = p.zone_id
                self._ctx.policy(zone)
            valid_from = p.valid_from or now
            valid_to = p.valid_to or p.return_by
            if p.return_by <= now:
                raise Invalid("return_by", "must be in the future")
            if valid_from >= valid_to:
                raise Invalid("valid_to", "the window must end after it starts")
            row = MediaRequestRow(
                site_id=self._ctx.site_id,
                item_id=item.id,
                direction=p.direction.value,
                zone_id=zone,
                person_id=person.id,
                purpose=p.purpose.strip(),
                destination=p.destination,
                return_by=p.return_by,
                valid_from=valid_from,
                valid_to=valid_to,
                status=RequestStatus.REQUESTED.value,
                requested_by=actor.username,
                requested_at=now,
            )
            s.add(row)
            self._stage_request(s, RecordKind.MEDIA_REQUESTED, actor, row, person)
            return row, commit(s)

    async def _decide(
        self, actor: Actor, request_id: str, note: str | None, to: RequestStatus
    ) -> MediaRequestRow:
        """Approve, reject or cancel a request, and record it."""
        async with self._ctx.lock:
            row, staged = await in_thread(self._decide_tx, actor, request_id, note, to)
            await self._ctx.intents.write_all(staged)
            return row

    def _decide_tx(
        self, actor: Actor, request_id: str, note: str | None, to: RequestStatus
    ) -> tuple[MediaRequestRow, Staged]:
        """Store a decision on a request (the zone's manager; or a cancellation), recorded."""
        now = self._ctx.clock()
        with session(self._ctx.engine) as s:
            row = self._request_row(s, request_id)
            person = load_person(s, self._ctx.site_id, row.person_id)
            status = RequestStatus(row.status)
            if to is RequestStatus.CANCELLED:
                if status not in (RequestStatus.REQUESTED, RequestStatus.APPROVED):
                    raise Refused(f"the request is {status.value}: it can no longer be cancelled")
            else:
                if not actor.manages(row.zone_id):
                    raise NotAllowed("only a manager of the request's zone may decide it")
                if actor.username == row.requested_by or actor.is_person(row.person_id):
                    raise NotAllowed("nobody decides a request they made or carry out themselves")
                if status is not RequestStatus.REQUESTED:
                    raise Refused(f"the request is {status.value}, not waiting for a decision")
                if to is RequestStatus.APPROVED:
                    self._check_still_possible(s, row, now)
            row.status = to.value
            row.decided_by = actor.username
            row.decided_at = now
            row.decision_note = note
            s.add(row)
            kind = {
                RequestStatus.APPROVED: RecordKind.MEDIA_APPROVED,
                RequestStatus.REJECTED: RecordKind.MEDIA_REJECTED,
                RequestStatus.CANCELLED: RecordKind.MEDIA_REQUEST_CANCELLED,
            }[to]
            self._stage_request(s, kind, actor, row, person)
            return row, commit(s)

    def _check_still_possible(self, s: Session, row: MediaRequestRow, now: datetime) -> None:
        """Refused when the window is over or the zone now requires encryption."""
        item = item_row(s, self._ctx.site_id, row.item_id)
        valid_to = aware(row.valid_to)
        if valid_to is not None and now >= valid_to:
            raise Refused("the request's window is over")
        if (
            row.direction == Direction.OUT.value
            and self._ctx.policy(row.zone_id).encryption_required
            and not item.encrypted
        ):
            raise Refused(f"zone {row.zone_id} requires encryption; this item is not encrypted")

    def _request_row(self, s: Session, request_id: str) -> MediaRequestRow:
        """The site's request with this id; NotFound otherwise."""
        row = s.get(MediaRequestRow, request_id)
        if row is None or row.site_id != self._ctx.site_id:
            raise NotFound("no such media request")
        return row

    def _get_request(self, request_id: str) -> MediaRequestRow:
        """One request."""
        with session(self._ctx.engine) as s:
            return self._request_row(s, request_id)

    def _find_requests(
        self,
        status: RequestStatus | None,
        item_id: str | None,
        zone_id: str | None,
        offset: int,
        limit: int,
    ) -> tuple[list[MediaRequestRow], int]:
        """Requests matching the filters, and how many."""
        r = MediaRequestRow
        where: list[ColumnElement[bool]] = [col(r.site_id) == self._ctx.site_id]
        if status is not None:
            where.append(col(r.status) == status.value)
        if item_id is not None:
            where.append(col(r.item_id) == item_id)
        if zone_id is not None:
            where.append(col(r.zone_id) == zone_id)
        with session(self._ctx.engine) as s:
            total = s.exec(select(func.count()).select_from(r).where(*where)).one()
            rows = s.exec(
                select(r)
                .where(*where)
                .order_by(col(r.requested_at).desc(), col(r.id))
                .offset(offset)
                .limit(limit)
            ).all()
            return list(rows), int(total)

    # --- store work: inspections --------------------------------------------------------------

    def _inspect(self, actor: Actor, i: Inspection) -> tuple[MediaInspectionRow, Staged]:
        """Judge and store an inspection (moving the item when it passes) and its records."""
        now = self._ctx.clock()
        policy = self._ctx.policy(i.zone_id)
        if i.door_id is not None and all(
            d.id != i.door_id or d.zone != i.zone_id for d in self._ctx.site.doors
        ):
            raise Invalid("door_id", f"not a door of zone {i.zone_id}")
        tag = normal_tag(i.tag)
        if not tag:
            raise Invalid("tag", "must not be blank")
        with session(self._ctx.engine) as s:
            try:
                carrier = load_person(s, self._ctx.site_id, i.person_id, "carrier")
            except NotFound:
                raise Invalid("person_id", "no such person") from None
            item = find_item(s, self._ctx.site_id, tag)
            requests = self._requests_of(s, item, i.request_id)
            j = judge(
                facts(item) if item else None,
                direction=i.direction,
                zone_id=i.zone_id,
                carrier_id=carrier.id,
                requests=requests,
                policy=policy,
                passed=i.passed,
                now=now,
                named_request=i.request_id,
            )
            ins = MediaInspectionRow(
                site_id=self._ctx.site_id,
                item_id=item.id if item else None,
                tag_seen=tag[:64],
                direction=i.direction.value,
                zone_id=i.zone_id,
                door_id=i.door_id,
                person_id=carrier.id,
                request_id=j.request_id or i.request_id,
                result="pass" if i.passed else "fail",
                outcome=j.outcome.value,
                refusal=j.refusal.value if j.refusal else None,
                notes=i.notes,
                inspected_by=actor.username,
                inspected_at=now,
            )
            done = self._apply(s, ins, item, carrier, j, actor.username, None, now)
            s.add(ins)
            self._stage_records(s, actor, done, first=True)
            return ins, commit(s)

    def _requests_of(
        self, s: Session, item: MediaItemRow | None, named: str | None
    ) -> list[RequestFacts]:
        """The item's approved requests, and the one the desk named (whatever its item)."""
        found = None
        if named is not None:
            found = s.get(MediaRequestRow, named)
            if found is None or found.site_id != self._ctx.site_id:
                raise Invalid("request_id", "no such media request")
        out = []
        if item is not None:
            r = MediaRequestRow
            rows = s.exec(
                select(r).where(
                    r.site_id == self._ctx.site_id,
                    r.item_id == item.id,
                    r.status == RequestStatus.APPROVED.value,
                )
            ).all()
            out = [request_facts(row) for row in rows]
        if found is not None and all(f.request_id != found.id for f in out):
            out.append(request_facts(found))
        return out

    def _confirm(
        self, actor: Actor, inspection_id: str, passed: bool, notes: str | None
    ) -> tuple[MediaInspectionRow, Staged]:
        """Judge again with the second person's result; store it and its records."""
        now = self._ctx.clock()
        with session(self._ctx.engine) as s:
            ins = self._inspection_row(s, inspection_id)
            if ins.outcome != InspectionOutcome.AWAITING_SECOND.value:
                raise Refused(f"the inspection is {ins.outcome}, not waiting for a second person")
            if actor.username == ins.inspected_by:
                raise NotAllowed("the second person must be someone other than the inspector")
            if actor.is_person(ins.person_id):
                raise NotAllowed("the carrier cannot confirm their own inspection")
            carrier = load_person(s, self._ctx.site_id, ins.person_id or "")
            item = item_row(s, self._ctx.site_id, ins.item_id or "")
            # Judge again: the state may have changed while the second person came.
            j = judge(
                facts(item),
                direction=Direction(ins.direction),
                zone_id=ins.zone_id,
                carrier_id=carrier.id,
                requests=self._requests_of(s, item, ins.request_id),
                policy=self._ctx.policy(ins.zone_id),
                passed=passed,
                now=now,
                named_request=ins.request_id,
                second_person_done=True,
            )
            if j.refusal is Refusal.INSPECTION_FAILED:
                j = Judgement(
                    InspectionOutcome.REFUSED, Refusal.SECOND_PERSON_FAILED, request_id=j.request_id
                )
            ins.second_by = actor.username
            ins.second_at = now
            ins.second_result = "pass" if passed else "fail"
            ins.second_notes = notes
            ins.outcome = j.outcome.value
            ins.refusal = j.refusal.value if j.refusal else None
            done = self._apply(s, ins, item, carrier, j, ins.inspected_by, actor.username, now)
            s.add(ins)
            self._stage_records(s, actor, done, first=False)
            return ins, commit(s)

    def _apply(  # noqa: PLR0917 -- private: the one place a judgement changes the store
        self,
        s: Session,
        ins: MediaInspectionRow,
        item: MediaItemRow | None,
        carrier: Person,
        j: Judgement,
        actor: str,
        second: str | None,
        now: datetime,
    ) -> _Done:
        """Carry out a judgement: move the item, use the request, write the ledger line."""
        if not j.moves or item is None:
            return _Done(ins, item, carrier, j)
        assert j.movement is not None
        assert j.state_to is not None
        state_from = ItemState(item.state)
        req = s.get(MediaRequestRow, j.request_id) if j.request_id else None
        before = location_of(item)
        was_overdue = item.overdue_since is not None
        item.state = j.state_to.value
        if j.movement in (Movement.CARRIED_OUT, Movement.CARRIED_IN):
            assert req is not None
            item.zone_id = ins.zone_id if j.movement is Movement.CARRIED_IN else None
            item.holder_id = carrier.id
            item.request_id = req.id
            item.due_back = req.return_by
            req.status = RequestStatus.USED.value
            req.used_at = now
            s.add(req)
        else:  # back where it belongs: home, or away with its owner
            item.zone_id = item.home_zone if j.state_to is ItemState.HOME else None
            item.holder_id = None
            item.request_id = None
            item.due_back = None
            item.overdue_since = None
        item.updated_at = now
        s.add(item)
        line = add_movement(
            s,
            item,
            j.movement,
            state_from=state_from,
            state_to=j.state_to,
            at=now,
            actor=actor,
            second_actor=second,
            location_from=before,
            location_to=location_of(item, req.destination if req else None),
            zone_id=ins.zone_id,
            person_id=carrier.id,
            request_id=j.request_id,
            inspection_id=ins.id,
            note=ins.notes,
        )
        ins.movement_id = line.id
        return _Done(ins, item, carrier, j, line, was_overdue)

    def _inspection_row(self, s: Session, inspection_id: str) -> MediaInspectionRow:
        """The site's inspection with this id; NotFound otherwise."""
        row = s.get(MediaInspectionRow, inspection_id)
        if row is None or row.site_id != self._ctx.site_id:
            raise NotFound("no such inspection")
        return row

    def _get_inspection(self, inspection_id: str) -> MediaInspectionRow:
        """One inspection."""
        with session(self._ctx.engine) as s:
            return self._inspection_row(s, inspection_id)

    def _find_inspections(
        self, outcome: InspectionOutcome | None, item_id: str | None, offset: int, limit: int
    ) -> tuple[list[MediaInspectionRow], int]:
        """Inspections matching the filters, and how many."""
        m = MediaInspectionRow
        where: list[ColumnElement[bool]] = [col(m.site_id) == self._ctx.site_id]
        if outcome is not None:
            where.append(col(m.outcome) == outcome.value)
        if item_id is not None:
            where.append(col(m.item_id) == item_id)
        with session(self._ctx.engine) as s:
            total = s.exec(select(func.count()).select_from(m).where(*where)).one()
            rows = s.exec(
                select(m)
                .where(*where)
                .order_by(col(m.inspected_at).desc(), col(m.id))
                .offset(offset)
                .limit(limit)
            ).all()
            return list(rows), int(total)
