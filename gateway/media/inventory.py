"""Vault inventories and their schedule (4-8-12(2) 点検).

An inventory of a zone is started at the desk; each item present is scanned, its tag typed at
the desk or read at one of the zone's ``media.scan_readers`` (a read that is nobody's badge);
on completion the scans are reconciled with the ledger (``gateway.media.model.reconcile``):
missing, unexpected and overdue items become findings, each a ``media.finding`` record. A zone
with ``media.inventory_every_days`` wants one that often; a missed one is itself a finding,
recorded once per due date. Each step's records are staged in its own transaction and written
after its commit (``gateway.intents``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from gateway.custody import (
    Actor,
    Invalid,
    NotFound,
    Refused,
    aware,
    in_thread,
    iso,
    new_record,
    session,
    stage,
)
from gateway.events import CardRead, DeviceEvent
from gateway.intents import Staged, commit
from gateway.intents import stage as stage_record
from gateway.media.model import FindingKind, ItemState, reconcile
from gateway.media.store import MediaContext, facts, find_item, normal_tag
from gateway.records import NewRecord, RecordKind
from gateway.storage.models import (
    MediaInventoryPlanRow,
    MediaInventoryRow,
    MediaInventoryScanRow,
    MediaItemRow,
)

log = logging.getLogger(__name__)

OPEN, COMPLETED = "open", "completed"


class MediaInventory:
    """Inventories of the site's zones."""

    def __init__(self, ctx: MediaContext, is_credential: Callable[[str], bool]) -> None:
        """Work in the media services' shared context; ``is_credential`` tells badges from tags."""
        self._ctx = ctx
        self._is_credential = is_credential
        self._open: dict[str, str] = {}  # zone → its open inventory
        self._scan_zone = {r: z.id for z in ctx.site.zones for r in z.media.scan_readers}
        self._tasks: set[asyncio.Task[None]] = set()

    async def load(self) -> None:
        """Find the inventories left open (at start)."""
        self._open = await in_thread(self._load)

    async def stop(self) -> None:
        """Drop scans in progress."""
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def start(self, actor: Actor, zone_id: str) -> MediaInventoryRow:
        """Open an inventory of a zone (``media.inventory`` started)."""
        self._ctx.policy(zone_id)
        async with self._ctx.lock:
            if zone_id in self._open:
                raise Refused("an inventory of this zone is open already: complete it first")
            row = MediaInventoryRow(
                site_id=self._ctx.site_id,
                zone_id=zone_id,
                status=OPEN,
                started_by=actor.username,
                started_at=self._ctx.clock(),
                findings={},
            )
            rec = new_record(
                RecordKind.MEDIA_INVENTORY,
                self._ctx.clock(),
                actor=actor,
                zone_id=zone_id,
                detail={"inventory_id": row.id, "event": "started"},
            )
            staged = await in_thread(self._save, row, rec)
            self._open[zone_id] = row.id
            await self._ctx.intents.write_all(staged)
            return row

    async def scan(
        self, actor: Actor | None, inventory_id: str, tag: str, *, reader_id: str | None = None
    ) -> MediaInventoryScanRow:
        """One tag seen in the zone (``media.inventory_scan``); a repeat returns the first scan."""
        by = actor.username if actor is not None else f"reader:{reader_id}"
        async with self._ctx.lock:
            scan, staged = await in_thread(self._scan, inventory_id, tag, by, reader_id)
            await self._ctx.intents.write_all(staged)
            return scan

    async def complete(self, actor: Actor, inventory_id: str) -> MediaInventoryRow:
        """Reconcile the scans with the ledger; each finding is a ``media.finding`` record."""
        async with self._ctx.lock:
            row, staged = await in_thread(self._complete, actor, inventory_id)
            self._open.pop(row.zone_id, None)
            await self._ctx.intents.write_all(staged)
            return row

    async def get(self, inventory_id: str) -> tuple[MediaInventoryRow, list[MediaInventoryScanRow]]:
        """One inventory and its scans."""
        return await in_thread(self._get, inventory_id)

    async def find(
        self, *, zone_id: str | None = None, offset: int = 0, limit: int = 100
    ) -> tuple[list[MediaInventoryRow], int]:
        """Inventories, newest first; and how many match."""
        return await in_thread(self._find, zone_id, offset, limit)

    async def check_missed(self) -> list[str]:
        """Record each zone whose scheduled inventory is overdue, once per due date."""
        now = self._ctx.clock()
        async with self._ctx.lock:
            missed = await in_thread(self._missed, now)
            for zone_id, due, last in missed:
                rec = new_record(
                    RecordKind.MEDIA_FINDING,
                    now,
                    zone_id=zone_id,
                    detail={
                        "finding": FindingKind.INVENTORY_MISSED.value,
                        "due": iso(due),
                        "last_completed": iso(last),
                    },
                )
                staged = await in_thread(self._mark_missed, zone_id, due, rec)
                await self._ctx.intents.write_all(staged)
            return [z for z, _, _ in missed]

    # --- readers ------------------------------------------------------------------------------

    def on_device_event(self, ev: DeviceEvent) -> None:
        """A card read at a scan reader during an open inventory is a scan (not a badge)."""
        if not isinstance(ev, CardRead):
            return
        zone = self._scan_zone.get(ev.reader_id)
        inventory = self._open.get(zone) if zone else None
        if inventory is None or self._is_credential(ev.card.key):
            return
        self._spawn(self._reader_scan(inventory, ev.card.key, ev.reader_id))

    async def _reader_scan(self, inventory_id: str, key: str, reader_id: str) -> None:
        """A scan from a reader; a failure is logged, never raised into the event path."""
        try:
            await self.scan(None, inventory_id, key, reader_id=reader_id)
        except asyncio.CancelledError:
            raise
        except Exception:  # the inventory may have closed meanwhile; the log says why
            log.exception("inventory scan at reader %s not recorded", reader_id)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a scan in a task that ``stop`` can cancel."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- store work ---------------------------------------------------------------------------

    def _load(self) -> dict[str, str]:
        """Zone → the inventory open there."""
        with session(self._ctx.engine) as s:
            rows = s.exec(
                select(MediaInventoryRow).where(
                    MediaInventoryRow.site_id == self._ctx.site_id,
                    MediaInventoryRow.status == OPEN,
                )
            ).all()
            return {r.zone_id: r.id for r in rows}

    def _save(self, row: MediaInventoryRow, rec: NewRecord) -> Staged:
        """Store a new inventory with its record."""
        with session(self._ctx.engine) as s:
            s.add(row)
            stage_record(s, self._ctx.site_id, rec)
            return commit(s)

    def _row(self, s: Session, inventory_id: str) -> MediaInventoryRow:
        """The site's inventory with this id; NotFound otherwise."""
        row = s.get(MediaInventoryRow, inventory_id)
        if row is None or row.site_id != self._ctx.site_id:
            raise NotFound("no such inventory")
        return row

    def _scan(
        self, inventory_id: str, tag: str, by: str, reader_id: str | None
    ) -> tuple[MediaInventoryScanRow, Staged]:
        """Store a scan (and its record) unless scanned already; returns it."""
        t = normal_tag(tag)
        if not t or len(t) > 64:
            raise Invalid("tag", "give the tag as printed or read (1-64 characters)")
        with session(self._ctx.engine) as s:
            inv = self._row(s, inventory_id)
            if inv.status != OPEN:
                raise Refused("the inventory is completed: start a new one")
            item = find_item(s, self._ctx.site_id, t)
            sc = MediaInventoryScanRow
            same = col(sc.item_id) == item.id if item else col(sc.tag) == t
            earlier = s.exec(select(sc).where(sc.inventory_id == inv.id, same)).first()
            if earlier is not None:
                return earlier, []
            scan = MediaInventoryScanRow(
                site_id=self._ctx.site_id,
                inventory_id=inv.id,
                at=self._ctx.clock(),
                tag=t,
                item_id=item.id if item else None,
                source="reader" if reader_id else "typed",
                reader_id=reader_id,
                scanned_by=by,
            )
            s.add(scan)
            stage(
                s,
                self._ctx.site_id,
                RecordKind.MEDIA_INVENTORY_SCAN,
                scan.at,
                actor=by,
                zone_id=inv.zone_id,
                detail={
                    "inventory_id": inventory_id,
                    "tag": scan.tag,
                    "known": scan.item_id is not None,
                    "source": scan.source,
                    "reader_id": reader_id,
                    **({"item_id": scan.item_id} if scan.item_id else {}),
                },
            )
            return scan, commit(s)

    def _complete(self, actor: Actor, inventory_id: str) -> tuple[MediaInventoryRow, Staged]:
        """Reconcile and store the findings, each with its record, and the completion's."""
        now = self._ctx.clock()
        with session(self._ctx.engine) as s:
            inv = self._row(s, inventory_id)
            if inv.status != OPEN:
                raise Refused("the inventory is completed already")
            scans = s.exec(
                select(MediaInventoryScanRow).where(MediaInventoryScanRow.inventory_id == inv.id)
            ).all()
            scanned = {sc.item_id for sc in scans if sc.item_id}
            unknown = [sc.tag for sc in scans if sc.item_id is None]
            i = MediaItemRow
            items = s.exec(
                select(i).where(
                    i.site_id == self._ctx.site_id,
                    or_(
                        col(i.home_zone) == inv.zone_id,
                        col(i.zone_id) == inv.zone_id,
                        col(i.id).in_(scanned or {""}),
                    ),
                )
            ).all()
            found = reconcile(inv.zone_id, [facts(r) for r in items], scanned, unknown, now)
            expected = sum(
                1 for r in items if r.state == ItemState.HOME.value and r.home_zone == inv.zone_id
            )
            counts = {k.value: sum(1 for f in found if f.kind is k) for k in FindingKind}
            counts.pop(FindingKind.INVENTORY_MISSED.value)
            inv.findings = {
                "counts": {"expected": expected, "scanned": len(scans), **counts},
                "items": [
                    {"finding": f.kind.value, "item_id": f.item_id, "tag": f.tag, "why": f.why}
                    for f in found
                ],
            }
            inv.status = COMPLETED
            inv.completed_by = actor.username
            inv.completed_at = now
            s.add(inv)
            at = self._ctx.clock()
            for f in found:
                stage(
                    s,
                    self._ctx.site_id,
                    RecordKind.MEDIA_FINDING,
                    at,
                    actor=actor,
                    zone_id=inv.zone_id,
                    detail={
                        "inventory_id": inv.id,
                        "finding": f.kind.value,
                        "tag": f.tag,
                        "why": f.why,
                        **({"item_id": f.item_id} if f.item_id else {"item": f"tag:{f.tag}"}),
                    },
                )
            stage(
                s,
                self._ctx.site_id,
                RecordKind.MEDIA_INVENTORY,
                at,
                actor=actor,
                zone_id=inv.zone_id,
                detail={"inventory_id": inv.id, "event": "completed", **inv.findings["counts"]},
            )
            return inv, commit(s)

    def _get(self, inventory_id: str) -> tuple[MediaInventoryRow, list[MediaInventoryScanRow]]:
        """An inventory and its scans."""
        with session(self._ctx.engine) as s:
            inv = self._row(s, inventory_id)
            scans = s.exec(
                select(MediaInventoryScanRow)
                .where(MediaInventoryScanRow.inventory_id == inv.id)
                .order_by(col(MediaInventoryScanRow.at), col(MediaInventoryScanRow.id))
            ).all()
            return inv, list(scans)

    def _find(
        self, zone_id: str | None, offset: int, limit: int
    ) -> tuple[list[MediaInventoryRow], int]:
        """Inventories matching the filters, and how many."""
        m = MediaInventoryRow
        where: list[ColumnElement[bool]] = [col(m.site_id) == self._ctx.site_id]
        if zone_id is not None:
            where.append(col(m.zone_id) == zone_id)
        with session(self._ctx.engine) as s:
            total = s.exec(select(func.count()).select_from(m).where(*where)).one()
            rows = s.exec(
                select(m)
                .where(*where)
                .order_by(col(m.started_at).desc(), col(m.id))
                .offset(offset)
                .limit(limit)
            ).all()
            return list(rows), int(total)

    def _missed(self, now: datetime) -> list[tuple[str, datetime, datetime | None]]:
        """Zones whose scheduled inventory is overdue past the grace, not yet recorded."""
        out = []
        with session(self._ctx.engine) as s:
            for z in self._ctx.site.zones:
                every = z.media.inventory_every_days
                if every is None:
                    continue
                plan = s.get(MediaInventoryPlanRow, (self._ctx.site_id, z.id))
                if plan is None:
                    plan = MediaInventoryPlanRow(site_id=self._ctx.site_id, zone_id=z.id, since=now)
                    s.add(plan)
                    s.commit()
                m = MediaInventoryRow
                last = aware(
                    s.exec(
                        select(func.max(m.completed_at)).where(
                            m.site_id == self._ctx.site_id, m.zone_id == z.id, m.status == COMPLETED
                        )
                    ).one()
                )
                since = aware(plan.since)
                assert since is not None
                due = (last or since) + timedelta(days=every)
                late = due + timedelta(days=z.media.inventory_grace_days)
                if now < late or aware(plan.missed_due) == due:
                    continue
                out.append((z.id, due, last))
        return out

    def _mark_missed(self, zone_id: str, due: datetime, rec: NewRecord) -> Staged:
        """Mark a zone's missed inventory and stage its record, in one transaction."""
        with session(self._ctx.engine) as s:
            plan = s.get(MediaInventoryPlanRow, (self._ctx.site_id, zone_id))
            if plan is not None:
                plan.missed_due = due
                s.add(plan)
            stage_record(s, self._ctx.site_id, rec)
            return commit(s)
