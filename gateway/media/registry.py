"""The media registry, its ledger, and disposal (4-8-5(6)(8)(9)).

Every item has a kind, an asset tag (or serial), an owner, a classification, whether it is
encrypted, and a home location (a vault shelf, a safe) in a home zone; an outside item (a
contractor's laptop) has no home and lives "away" until carried in. Registration, each
relocation and the disposal are ledger lines and records. Disposal needs a witness, a camera
photo or the disposal contractor's certificate (stored as received, its SHA-256 recorded).
Each change's records are staged in its own transaction and written after its commit
(``gateway.intents``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from gateway.custody import (
    Actor,
    Invalid,
    NotFound,
    Refused,
    in_thread,
    iso,
    load_person,
    session,
    stage,
)
from gateway.domain import CardId, PersonKind
from gateway.intents import Staged, commit
from gateway.media.model import Classification, DisposalMethod, ItemState, MediaKind, Movement
from gateway.media.store import (
    MediaContext,
    add_movement,
    item_row,
    location_of,
    movement_detail,
)
from gateway.records import RecordKind
from gateway.storage.models import (
    MediaCertificateRow,
    MediaDisposalRow,
    MediaItemRow,
    MediaMovementRow,
)

MAX_CERTIFICATE_BYTES = 10 * 1024 * 1024  # a scanned certificate with photos


@dataclass(frozen=True, slots=True)
class NewItem:
    """An item entering the registry."""

    kind: MediaKind
    tag: str
    classification: Classification
    encrypted: bool
    owner_id: str | None = None
    serial: str | None = None
    rfid: str | None = None  # card key of a tag a reader reads (e.g. EM4100:10:123)
    description: str = ""
    home_zone: str | None = None  # None: an outside item
    home_location: str | None = None


@dataclass(frozen=True, slots=True)
class Certificate:
    """A disposal contractor's certificate file as received."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Disposal:
    """How and by whom an item was destroyed, and the evidence (4-8-5(8))."""

    method: DisposalMethod
    performed_by: str  # staff member or the disposal contractor
    disposed_at: datetime
    method_detail: str | None = None
    witness_id: str | None = None
    photo_evidence_seq: int | None = None  # a camera snapshot's record (issue 7)
    photo_sha256: str | None = None
    certificate: Certificate | None = None


_EDITABLE = (
    "description",
    "owner_id",
    "classification",
    "encrypted",
    "serial",
    "rfid",
    "home_zone",
    "home_location",
)


class MediaRegistry:
    """Items, their ledger and their disposal."""

    def __init__(self, ctx: MediaContext) -> None:
        """Work in the media services' shared context."""
        self._ctx = ctx

    async def register(self, actor: Actor, new: NewItem) -> MediaItemRow:
        """Add an item (``media.registered``; the ledger's first line)."""
        async with self._ctx.lock:
            row, staged = await in_thread(self._register, actor, new)
            await self._ctx.intents.write_all(staged)
            return row

    async def update(self, actor: Actor, item_id: str, changes: dict[str, object]) -> MediaItemRow:
        """Change an item's details; a new home is a ``relocated`` ledger line."""
        async with self._ctx.lock:
            row, staged = await in_thread(self._update, actor, item_id, changes)
            await self._ctx.intents.write_all(staged)
            return row

    async def get(self, item_id: str) -> MediaItemRow:
        """One item."""
        return await in_thread(self._get, item_id)

    async def find(
        self,
        *,
        kind: MediaKind | None = None,
        state: ItemState | None = None,
        zone_id: str | None = None,
        text: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[MediaItemRow], int]:
        """Items by tag, filtered; and how many match."""
        return await in_thread(
            self._find,
            kind=kind,
            state=state,
            zone_id=zone_id,
            text=text,
            offset=offset,
            limit=limit,
        )

    async def overdue(self) -> list[MediaItemRow]:
        """Items past their return date and not back, earliest due first."""
        return await in_thread(self._overdue, self._ctx.clock())

    async def ledger(
        self,
        *,
        item_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        offset: int = 0,
        limit: int = 1000,
    ) -> tuple[list[tuple[MediaMovementRow, str]], int]:
        """Ledger lines (with each item's tag), oldest first; and how many match."""
        return await in_thread(self._ledger, item_id, since, until, offset, limit)

    async def dispose(self, actor: Actor, item_id: str, d: Disposal) -> MediaDisposalRow:
        """Record an item's destruction with its evidence (``media.disposed``)."""
        async with self._ctx.lock:
            disposal, staged = await in_thread(self._dispose, actor, item_id, d)
            await self._ctx.intents.write_all(staged)
            return disposal

    async def disposal(self, item_id: str) -> MediaDisposalRow:
        """The disposal record of an item (NotFound when it was not disposed)."""
        return await in_thread(self._disposal, item_id)

    async def certificate(self, item_id: str) -> MediaCertificateRow:
        """The certificate file of an item's disposal (NotFound when there is none)."""
        return await in_thread(self._certificate, item_id)

    # --- store work ---------------------------------------------------------------------------

    def _check(self, s: Session, row: MediaItemRow) -> None:
        """Refuse inconsistent details (unknown zone or owner, malformed reader tag)."""
        if not row.tag.strip():
            raise Invalid("tag", "must not be blank")
        if row.home_zone is not None:
            self._ctx.policy(row.home_zone, "home_zone")
        if row.home_location is not None and row.home_zone is None:
            raise Invalid("home_location", "an item with a home location needs its home_zone")
        if row.owner_id is not None:
            try:
                load_person(s, self._ctx.site_id, row.owner_id, "owner")
            except NotFound:
                raise Invalid("owner_id", "no such person") from None
        if row.rfid is not None:
            try:
                row.rfid = CardId.parse(row.rfid).key
            except ValueError as exc:
                raise Invalid("rfid", str(exc)) from None

    def _register(self, actor: Actor, new: NewItem) -> tuple[MediaItemRow, Staged]:
        """Store a new item, its first ledger line and its record."""
        now = self._ctx.clock()
        state = ItemState.HOME if new.home_zone is not None else ItemState.AWAY
        row = MediaItemRow(
            site_id=self._ctx.site_id,
            kind=new.kind.value,
            tag=new.tag.strip(),
            serial=new.serial,
            rfid=new.rfid,
            description=new.description,
            owner_id=new.owner_id,
            classification=new.classification.value,
            encrypted=new.encrypted,
            home_zone=new.home_zone,
            home_location=new.home_location,
            state=state.value,
            zone_id=new.home_zone,
            registered_by=actor.username,
            registered_at=now,
            updated_at=now,
        )
        with session(self._ctx.engine) as s:
            self._check(s, row)
            s.add(row)
            try:
                s.flush()
            except IntegrityError:
                raise Refused("an item with this tag or reader tag is registered already") from None
            line = add_movement(
                s,
                row,
                Movement.REGISTERED,
                state_to=state,
                at=now,
                actor=actor.username,
                location_to=location_of(row),
                zone_id=row.home_zone,
                person_id=row.owner_id,
            )
            stage(
                s,
                self._ctx.site_id,
                RecordKind.MEDIA_REGISTERED,
                self._ctx.clock(),
                actor=actor,
                zone_id=row.home_zone,
                detail={**_item_detail(row), "movement_id": line.id},
            )
            return row, commit(s)

    def _update(
        self, actor: Actor, item_id: str, changes: dict[str, object]
    ) -> tuple[MediaItemRow, Staged]:
        """Store changes to an item and their records; a new home is a ledger line."""
        unknown = set(changes) - set(_EDITABLE)
        if unknown:
            raise Invalid(sorted(unknown)[0], "cannot be changed here")
        now = self._ctx.clock()
        with session(self._ctx.engine) as s:
            row = item_row(s, self._ctx.site_id, item_id)
            state = ItemState(row.state)
            if state is ItemState.DISPOSED:
                raise Refused("a disposed item is not changed")
            before = location_of(row)
            diff: dict[str, object] = {}
            for key, new in changes.items():
                value = new.value if isinstance(new, Classification) else new
                if getattr(row, key) != value:
                    diff[key] = {"from": getattr(row, key), "to": value}
                    setattr(row, key, value)
            moved = "home_zone" in diff or "home_location" in diff
            if moved and state is not ItemState.HOME:
                raise Refused("an item's home changes only while it is at home")
            if "home_zone" in diff and (row.home_zone is None) != (state is ItemState.AWAY):
                raise Refused("an item cannot become an outside item, or the other way round")
            self._check(s, row)
            try:
                s.flush()
            except IntegrityError:
                raise Refused("another item has this serial or reader tag") from None
            line = None
            if moved:
                row.zone_id = row.home_zone
                line = add_movement(
                    s,
                    row,
                    Movement.RELOCATED,
                    state_from=state,
                    state_to=state,
                    at=now,
                    actor=actor.username,
                    location_from=before,
                    location_to=location_of(row),
                    zone_id=row.home_zone,
                )
            if not diff:
                return row, []
            row.updated_at = now
            s.add(row)
            stage(
                s,
                self._ctx.site_id,
                RecordKind.MEDIA_UPDATED,
                self._ctx.clock(),
                actor=actor,
                zone_id=row.home_zone,
                detail={"item_id": row.id, "tag": row.tag, "changes": diff},
            )
            if line is not None:
                stage(
                    s,
                    self._ctx.site_id,
                    RecordKind.MEDIA_MOVED,
                    line.at,
                    actor=actor,
                    zone_id=row.home_zone,
                    detail=movement_detail(line, row.tag),
                )
            return row, commit(s)

    def _get(self, item_id: str) -> MediaItemRow:
        """One item."""
        with session(self._ctx.engine) as s:
            return item_row(s, self._ctx.site_id, item_id)

    def _find(
        self,
        *,
        kind: MediaKind | None,
        state: ItemState | None,
        zone_id: str | None,
        text: str | None,
        offset: int,
        limit: int,
    ) -> tuple[list[MediaItemRow], int]:
        """Items matching the filters, and how many."""
        i = MediaItemRow
        where: list[ColumnElement[bool]] = [col(i.site_id) == self._ctx.site_id]
        if kind is not None:
            where.append(col(i.kind) == kind.value)
        if state is not None:
            where.append(col(i.state) == state.value)
        if zone_id is not None:
            where.append((col(i.home_zone) == zone_id) | (col(i.zone_id) == zone_id))
        if text:
            pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append(
                col(i.tag).ilike(pattern, escape="\\")
                | col(i.serial).ilike(pattern, escape="\\")
                | col(i.description).ilike(pattern, escape="\\")
            )
        with session(self._ctx.engine) as s:
            total = s.exec(select(func.count()).select_from(i).where(*where)).one()
            rows = s.exec(
                select(i).where(*where).order_by(col(i.tag), col(i.id)).offset(offset).limit(limit)
            ).all()
            return list(rows), int(total)

    def _overdue(self, now: datetime) -> list[MediaItemRow]:
        """Items past their return date and not back."""
        i = MediaItemRow
        with session(self._ctx.engine) as s:
            rows = s.exec(
                select(i)
                .where(
                    i.site_id == self._ctx.site_id,
                    col(i.state).in_([ItemState.OUT.value, ItemState.INSIDE.value]),
                    col(i.due_back) <= now,
                )
                .order_by(col(i.due_back), col(i.id))
            ).all()
            return list(rows)

    def _ledger(
        self,
        item_id: str | None,
        since: datetime | None,
        until: datetime | None,
        offset: int,
        limit: int,
    ) -> tuple[list[tuple[MediaMovementRow, str]], int]:
        """Ledger lines with their items' tags, and how many."""
        m, i = MediaMovementRow, MediaItemRow
        where: list[ColumnElement[bool]] = [col(m.site_id) == self._ctx.site_id]
        if item_id is not None:
            where.append(col(m.item_id) == item_id)
        if since is not None:
            where.append(col(m.at) >= since)
        if until is not None:
            where.append(col(m.at) < until)
        with session(self._ctx.engine) as s:
            total = s.exec(select(func.count()).select_from(m).where(*where)).one()
            rows = s.exec(
                select(m, i.tag)
                .join(i, col(i.id) == col(m.item_id))
                .where(*where)
                .order_by(col(m.line))
                .offset(offset)
                .limit(limit)
            ).all()
            return [(line, tag) for line, tag in rows], int(total)

    def _dispose(self, actor: Actor, item_id: str, d: Disposal) -> tuple[MediaDisposalRow, Staged]:
        """Store a disposal, its certificate, its ledger line and their records."""
        if (
            d.witness_id is None
            and d.certificate is None
            and d.photo_sha256 is None
            and (d.photo_evidence_seq is None)
        ):
            raise Invalid(
                "witness_id", "a disposal needs a witness, a photo, or the contractor's certificate"
            )
        if not d.performed_by.strip():
            raise Invalid("performed_by", "must not be blank")
        if d.certificate is not None and not d.certificate.data:
            raise Invalid("certificate", "the file is empty")
        if d.certificate is not None and len(d.certificate.data) > MAX_CERTIFICATE_BYTES:
            raise Invalid("certificate", f"larger than {MAX_CERTIFICATE_BYTES} bytes")
        now = self._ctx.clock()
        if d.disposed_at > now:
            raise Invalid("disposed_at", "a disposal cannot be recorded ahead of time")
        with session(self._ctx.engine) as s:
            row = item_row(s, self._ctx.site_id, item_id)
            state = ItemState(row.state)
            if state is not ItemState.HOME:
                raise Refused(f"the item is {state.value}: only an item at home is disposed of")
            if d.witness_id is not None:
                try:
                    witness = load_person(s, self._ctx.site_id, d.witness_id, "witness")
                except NotFound:
                    raise Invalid("witness_id", "no such person") from None
                if witness.kind is not PersonKind.STAFF:
                    raise Invalid("witness_id", "the witness must be a member of staff")
            cert = None
            if d.certificate is not None:
                cert = MediaCertificateRow(
                    site_id=self._ctx.site_id,
                    item_id=row.id,
                    sha256=hashlib.sha256(d.certificate.data).hexdigest(),
                    filename=d.certificate.filename[:200],
                    content_type=d.certificate.content_type[:100],
                    size=len(d.certificate.data),
                    data=d.certificate.data,
                    stored_by=actor.username,
                    stored_at=now,
                )
                s.add(cert)
            disposal = MediaDisposalRow(
                item_id=row.id,
                site_id=self._ctx.site_id,
                method=d.method.value,
                method_detail=d.method_detail,
                performed_by=d.performed_by.strip(),
                witness_id=d.witness_id,
                photo_evidence_seq=d.photo_evidence_seq,
                photo_sha256=d.photo_sha256,
                certificate_id=cert.id if cert else None,
                certificate_sha256=cert.sha256 if cert else None,
                disposed_at=d.disposed_at,
                recorded_by=actor.username,
                recorded_at=now,
            )
            s.add(disposal)
            line = add_movement(
                s,
                row,
                Movement.DISPOSED,
                state_from=state,
                state_to=ItemState.DISPOSED,
                at=now,
                actor=actor.username,
                location_from=location_of(row),
                location_to="disposed",
                zone_id=row.home_zone,
                person_id=d.witness_id,
                note=f"{d.method.value} by {d.performed_by.strip()}",
            )
            row.state = ItemState.DISPOSED.value
            row.zone_id = None
            row.updated_at = now
            s.add(row)
            stage(
                s,
                self._ctx.site_id,
                RecordKind.MEDIA_MOVED,
                line.at,
                actor=actor,
                zone_id=row.home_zone,
                detail=movement_detail(line, row.tag),
            )
            stage(
                s,
                self._ctx.site_id,
                RecordKind.MEDIA_DISPOSED,
                self._ctx.clock(),
                actor=actor,
                zone_id=row.home_zone,
                detail={
                    "item_id": row.id,
                    "tag": row.tag,
                    "method": disposal.method,
                    "performed_by": disposal.performed_by,
                    "witness_id": disposal.witness_id,
                    "photo_evidence_seq": disposal.photo_evidence_seq,
                    "photo_sha256": disposal.photo_sha256,
                    "certificate_sha256": disposal.certificate_sha256,
                    "disposed_at": iso(disposal.disposed_at),
                },
            )
            return disposal, commit(s)

    def _disposal(self, item_id: str) -> MediaDisposalRow:
        """The disposal of an item."""
        with session(self._ctx.engine) as s:
            item_row(s, self._ctx.site_id, item_id)
            row = s.get(MediaDisposalRow, item_id)
            if row is None:
                raise NotFound("this item has not been disposed of")
            return row

    def _certificate(self, item_id: str) -> MediaCertificateRow:
        """The certificate file of an item's disposal."""
        with session(self._ctx.engine) as s:
            disposal = self._disposal(item_id)
            cert = s.get(MediaCertificateRow, disposal.certificate_id or "")
            if cert is None:
                raise NotFound("this disposal has no certificate file")
            return cert


def _item_detail(row: MediaItemRow) -> dict[str, object]:
    """What records say about an item."""
    return {
        "item_id": row.id,
        "tag": row.tag,
        "kind": row.kind,
        "classification": row.classification,
        "encrypted": row.encrypted,
        "owner_id": row.owner_id,
        "home_zone": row.home_zone,
        "home_location": row.home_location,
        "state": row.state,
    }
