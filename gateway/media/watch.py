"""Watching media custody as time passes and people leave (4-8-5(6), 4-8-7(1)).

- Overdue: an item away from home (or an outside item still inside) past its return date is
  recorded once as ``media.overdue`` (staged with the item's mark, ``gateway.intents``);
  ``media.returned`` follows when it comes back (the alarm catalogue raises and clears its
  alarm on these).
- Unreconciled exits: the watcher follows the bus; when someone leaves a zone (a
  ``door.access_taken`` out, or a request-to-exit attributed to them) still holding an item they
  carried in, and the desk has not inspected it out within ``custody.media.exit_grace_s``, it
  records ``media.unreconciled_exit`` for each such item. The door is never held shut for this:
  leaving is never refused.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from gateway.bus import Bus
from gateway.core_events import RecordWritten
from gateway.custody import in_thread, iso, new_record, session, write
from gateway.intents import Staged, commit, stage
from gateway.media.model import ItemState
from gateway.media.store import MediaContext
from gateway.records import NewRecord, RecordKind
from gateway.storage.models import MediaItemRow, Person

log = logging.getLogger(__name__)

Occupancy = Callable[[str], list[dict[str, object]]]


class MediaWatch:
    """The overdue check and the unreconciled-exit watcher."""

    def __init__(self, ctx: MediaContext, bus: Bus, occupancy: Occupancy) -> None:
        """Watch ``bus`` for exits; ``occupancy`` tells who is inside a zone."""
        self._ctx = ctx
        self._bus = bus
        self._occupancy = occupancy
        self._grace = ctx.site.custody.media.exit_grace_s
        self._unsubscribe: Callable[[], None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Follow the bus."""
        if self._unsubscribe is None:
            self._unsubscribe = self._bus.subscribe(RecordWritten, self._on_record)

    async def stop(self) -> None:
        """Stop following the bus and drop pending exit checks."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def pending_checks(self) -> int:
        """Exits whose grace has not run out yet."""
        return len(self._tasks)

    # --- overdue ------------------------------------------------------------------------------

    async def check_overdue(self) -> list[str]:
        """Record every item past its return date, once (``media.overdue``); their ids."""
        now = self._ctx.clock()
        async with self._ctx.lock:
            due = await in_thread(self._due, now)
            for row, holder in due:
                rec = new_record(
                    RecordKind.MEDIA_OVERDUE,
                    now,
                    person_id=row.holder_id,
                    person_kind=holder.kind.value if holder else None,
                    zone_id=row.home_zone or row.zone_id,
                    detail={
                        "item_id": row.id,
                        "tag": row.tag,
                        "kind": row.kind,
                        "state": row.state,
                        "due_back": iso(row.due_back),
                        "holder_id": row.holder_id,
                        "request_id": row.request_id,
                    },
                )
                staged = await in_thread(self._mark_overdue, row.id, now, rec)
                await self._ctx.intents.write_all(staged)
            return [row.id for row, _ in due]

    def _due(self, now: datetime) -> list[tuple[MediaItemRow, Person | None]]:
        """Items past their date, with their holders, not yet recorded as overdue."""
        i = MediaItemRow
        with session(self._ctx.engine) as s:
            rows = s.exec(
                select(i).where(
                    i.site_id == self._ctx.site_id,
                    col(i.state).in_([ItemState.OUT.value, ItemState.INSIDE.value]),
                    col(i.overdue_since).is_(None),
                    col(i.due_back) <= now,
                )
            ).all()
            return [(r, s.get(Person, r.holder_id) if r.holder_id else None) for r in rows]

    def _mark_overdue(self, item_id: str, now: datetime, rec: NewRecord) -> Staged:
        """Mark an item overdue and stage its record, in one transaction."""
        with session(self._ctx.engine) as s:
            row = s.get(MediaItemRow, item_id)
            if row is None or row.overdue_since is not None:
                return []
            row.overdue_since = now
            s.add(row)
            stage(s, self._ctx.site_id, rec)
            return commit(s)

    # --- exits --------------------------------------------------------------------------------

    def _on_record(self, e: RecordWritten) -> None:
        """An exit of someone: check what they carried in, in a task of its own."""
        r = e.record
        if r.person_id is None or r.zone_id is None:
            return
        leaving = (r.kind is RecordKind.ACCESS_TAKEN and r.direction == "out") or (
            r.kind is RecordKind.ZONE_EXIT_ATTRIBUTED
        )
        if leaving:
            self._spawn(self._after_exit(r, e.seq))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a check in a task that ``stop`` can cancel."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _after_exit(self, exit_rec: NewRecord, exit_seq: int) -> None:
        """After the grace, record each carried-in item the person still holds."""
        person, zone = exit_rec.person_id, exit_rec.zone_id
        assert person is not None
        assert zone is not None
        try:
            if not await in_thread(self._held, person, zone):
                return
            if self._grace > 0:
                await asyncio.sleep(self._grace)
            if self._inside(person, zone):
                return  # back in: the items are still with them inside
            for item in await in_thread(self._held, person, zone):
                await write(
                    self._ctx.recorder,
                    RecordKind.MEDIA_UNRECONCILED_EXIT,
                    self._ctx.clock(),
                    person_id=person,
                    person_kind=exit_rec.person_kind,
                    zone_id=zone,
                    door_id=exit_rec.door_id,
                    detail={
                        "item_id": item.id,
                        "tag": item.tag,
                        "kind": item.kind,
                        "exit_seq": exit_seq,
                        "request_id": item.request_id,
                    },
                )
        except asyncio.CancelledError:
            raise
        except Exception:  # a failed check must not break the bus; the log says why
            log.exception("unreconciled-exit check of %s in %s failed", person, zone)

    def _held(self, person_id: str, zone_id: str) -> list[MediaItemRow]:
        """Items carried into ``zone_id`` that ``person_id`` still holds."""
        i = MediaItemRow
        with session(self._ctx.engine) as s:
            return list(
                s.exec(
                    select(i).where(
                        i.site_id == self._ctx.site_id,
                        i.state == ItemState.INSIDE.value,
                        i.zone_id == zone_id,
                        i.holder_id == person_id,
                    )
                ).all()
            )

    def _inside(self, person_id: str, zone_id: str) -> bool:
        """True when occupancy has the person inside the zone."""
        try:
            return any(o.get("person_id") == person_id for o in self._occupancy(zone_id))
        except LookupError:
            return False
