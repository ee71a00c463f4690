"""Door modes at run time: the desk's modes, zone lockdown, unlock schedules with
first-person-in, and interlocks (mantraps).

Clauses 4-8-7(2) (designated entrances; interlocked doors) and 4-8-11(2) (contain at once: a
zone lockdown from the desk). Every change is recorded with who and why, and survives a restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine, delete, insert, select

from gateway.config.site import SiteConfig
from gateway.domain import DoorMode
from gateway.door_control import DoorController
from gateway.recorder import Recorder
from gateway.records import NewRecord, RecordKind
from gateway.schedule import CompiledSchedule, SiteCalendar
from gateway.storage.models import DOOR_MODE_TABLE
from gateway.zones import ZoneService

log = logging.getLogger(__name__)

SCHEDULE_TICK_S = 5.0


class ModeRefused(ValueError):
    """A door mode cannot be set now; the message says why."""


class DoorModes:
    """Modes, lockdowns, unlock schedules and interlocks of every door of the site."""

    def __init__(
        self,
        site: SiteConfig,
        *,
        engine: Engine,
        recorder: Recorder,
        doors: dict[str, DoorController],
        zones: ZoneService,
        calendar: SiteCalendar,
        clock: Callable[[], datetime],
    ) -> None:
        self._site_id = site.site.id
        self._engine = engine
        self._recorder = recorder
        self._doors = doors
        self._zones = zones
        self._calendar = calendar
        self._clock = clock
        self._lockdown: set[str] = set()  # doors locked down by a zone lockdown
        self._saved: list[tuple[str, DoorMode, bool]] = []
        self._others: dict[str, tuple[str, ...]] = {}
        for group in site.interlocks:
            for d in group.doors:
                self._others[d] = tuple(o for o in group.doors if o != d)
        self._schedules: dict[str, CompiledSchedule] = {}
        for cfg in site.doors:
            if cfg.unlock_schedule is not None:
                self._schedules[cfg.id] = CompiledSchedule.compile(
                    site.schedule(cfg.unlock_schedule)
                )
        self._fpi_open: set[str] = set()  # first-person-in doors a supervisor has opened this span
        self._task: asyncio.Task[None] | None = None

    # --- life cycle ---------------------------------------------------------------------

    def load(self) -> None:
        """Read saved modes (at start; runs in a worker thread)."""
        t = DOOR_MODE_TABLE.c
        with self._engine.connect() as conn:
            rows = conn.execute(select(DOOR_MODE_TABLE).where(t.site_id == self._site_id)).all()
        self._saved = [(r.door_id, DoorMode(r.mode), r.lockdown) for r in rows]

    def start(self) -> None:
        """Apply saved modes and start following the unlock schedules."""
        for door_id, mode, lockdown in self._saved:
            door = self._doors.get(door_id)
            if door is not None:
                door.set_mode(mode)
                if lockdown:
                    self._lockdown.add(door_id)
        if self._schedules:
            self._evaluate()
            self._task = asyncio.get_running_loop().create_task(self._follow_schedules())

    def stop(self) -> None:
        """Stop following schedules."""
        if self._task is not None:
            self._task.cancel()

    # --- what the desk asks -----------------------------------------------------------

    async def set_mode(self, door_id: str, mode: DoorMode, actor: str, reason: str | None) -> int:
        """Set one door's mode from the desk; recorded before it takes effect."""
        door = self._doors[door_id]
        if mode is DoorMode.LOCKED_DOWN:
            raise ModeRefused("locked_down is set by a zone lockdown, not door by door")
        if mode is DoorMode.DOUBLE_LOCKED and self._zones.occupancy(door.cfg.zone).count:
            raise ModeRefused(
                f"zone {door.cfg.zone} is occupied: double-locking could trap someone"
            )
        if door_id in self._lockdown and mode is not DoorMode.LOCKED_OPEN:
            raise ModeRefused(f"door {door_id} is locked down: release the zone's lockdown first")
        seq = await self._record(RecordKind.DOOR_MODE, door, actor, reason, mode)
        self._lockdown.discard(door_id)
        self._apply(door, mode, actor, reason, lockdown=False)
        return seq

    async def lockdown(self, zone_id: str, actor: str, reason: str | None) -> int:
        """Lock down every entrance of a zone (4-8-11(2) containment)."""
        doors = self._entrances(zone_id)
        seq = await self._recorder.append(
            NewRecord(
                RecordKind.ZONE_LOCKDOWN,
                self._clock(),
                zone_id=zone_id,
                actor=actor,
                detail={"reason": reason, "doors": [d.cfg.id for d in doors]},
            )
        )
        for door in doors:
            if door.desk_mode is DoorMode.LOCKED_OPEN:
                continue  # an emergency opening (fire) is not overridden by a lockdown
            self._lockdown.add(door.cfg.id)
            self._apply(door, DoorMode.LOCKED_DOWN, actor, reason, lockdown=True)
            self._recorder.submit(
                _mode_record(door, DoorMode.LOCKED_DOWN, actor, reason, self._clock())
            )
        return seq

    async def release_lockdown(self, zone_id: str, actor: str, reason: str | None) -> int:
        """End a zone's lockdown: its doors go back to access mode."""
        doors = [d for d in self._entrances(zone_id) if d.cfg.id in self._lockdown]
        if not doors:
            raise ModeRefused(f"zone {zone_id} is not locked down")
        seq = await self._recorder.append(
            NewRecord(
                RecordKind.ZONE_LOCKDOWN_RELEASED,
                self._clock(),
                zone_id=zone_id,
                actor=actor,
                detail={"reason": reason, "doors": [d.cfg.id for d in doors]},
            )
        )
        for door in doors:
            self._lockdown.discard(door.cfg.id)
            self._apply(door, DoorMode.ACCESS, actor, reason, lockdown=False)
            self._recorder.submit(_mode_record(door, DoorMode.ACCESS, actor, reason, self._clock()))
        return seq

    def locked_down(self, zone_id: str) -> bool:
        """True while a lockdown holds any entrance of the zone."""
        return any(d.cfg.id in self._lockdown for d in self._entrances(zone_id))

    # --- interlocks and first-person-in ------------------------------------------------

    def interlock_clear(self, door_id: str) -> bool:
        """True when every other door of this door's interlock is closed and locked."""
        return all(self._doors[o].closed_and_locked for o in self._others.get(door_id, ()))

    def supervisor_entered(self, door: DoorController) -> None:
        """A supervisor went in: a first-person-in door may now follow its unlock schedule."""
        if door.cfg.first_person_in and door.cfg.id not in self._fpi_open:
            self._fpi_open.add(door.cfg.id)
            self._evaluate()

    # --- internals ---------------------------------------------------------------------

    def _entrances(self, zone_id: str) -> list[DoorController]:
        doors = [d for d in self._doors.values() if d.cfg.zone == zone_id]
        if not doors:
            raise KeyError(zone_id)
        return doors

    async def _follow_schedules(self) -> None:
        while True:
            await asyncio.sleep(SCHEDULE_TICK_S)
            self._evaluate()

    def _evaluate(self) -> None:
        now = self._clock()
        for door_id, schedule in self._schedules.items():
            door = self._doors[door_id]
            in_span = self._calendar.admits(schedule, now)
            if not in_span:
                self._fpi_open.discard(door_id)  # the next span waits for a supervisor again
            free = in_span and (not door.cfg.first_person_in or door_id in self._fpi_open)
            was_free = door.mode is DoorMode.UNLOCKED and door.desk_mode is DoorMode.ACCESS
            if free != was_free and door.desk_mode is DoorMode.ACCESS:
                self._recorder.submit(
                    _mode_record(
                        door,
                        DoorMode.UNLOCKED if free else DoorMode.ACCESS,
                        "schedule",
                        door.cfg.unlock_schedule,
                        now,
                    )
                )
            door.set_scheduled_free(free)

    async def _record(
        self, kind: RecordKind, door: DoorController, actor: str, reason: str | None, mode: DoorMode
    ) -> int:
        return await self._recorder.append(
            _mode_record(door, mode, actor, reason, self._clock(), kind=kind)
        )

    def _apply(
        self,
        door: DoorController,
        mode: DoorMode,
        actor: str,
        reason: str | None,
        *,
        lockdown: bool,
    ) -> None:
        door.set_mode(mode)
        row: dict[str, object] = {
            "site_id": self._site_id,
            "door_id": door.cfg.id,
            "mode": mode.value,
            "lockdown": lockdown,
            "set_by": actor,
            "set_at": self._clock(),
            "reason": reason,
        }
        loop = asyncio.get_running_loop()
        loop.run_in_executor(None, self._save, row)

    def _save(self, row: dict[str, object]) -> None:
        t = DOOR_MODE_TABLE.c
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    delete(DOOR_MODE_TABLE).where(
                        t.site_id == row["site_id"], t.door_id == row["door_id"]
                    )
                )
                conn.execute(insert(DOOR_MODE_TABLE).values(**row))
        except Exception:  # the mode holds in memory; the next change saves again
            log.exception("saving the mode of door %s failed", row["door_id"])


def _mode_record(
    door: DoorController,
    mode: DoorMode,
    actor: str,
    reason: str | None,
    now: datetime,
    *,
    kind: RecordKind = RecordKind.DOOR_MODE,
) -> NewRecord:
    return NewRecord(
        kind,
        now,
        door_id=door.cfg.id,
        zone_id=door.cfg.zone,
        actor=actor,
        detail={"mode": mode.value, "was": door.mode.value, "reason": reason},
    )
