"""Runs one door: feeds its state machine, drives its strike, writes its records.

Clause 4-8-7(4): locks with door-forced and held-open alarms; a door whose module is lost is a
fault and denies every badge (fail-secure).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

from gateway import door as sm
from gateway.bus import Bus
from gateway.config.site import DoorConfig
from gateway.core_api import DoorStatus
from gateway.core_events import DoorChanged
from gateway.domain import DoorMode, DoorState
from gateway.ports import DeviceFault, IOModule
from gateway.recorder import Recorder
from gateway.records import NewRecord

log = logging.getLogger(__name__)


class DoorController:
    """One door: state machine, strike output, timers and door records."""

    def __init__(
        self,
        cfg: DoorConfig,
        module: IOModule | None,
        recorder: Recorder,
        bus: Bus,
        utcnow: Callable[[], datetime],
        *,
        on_event: Callable[[DoorController, sm.Emit], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self._module = module
        self._recorder = recorder
        self._bus = bus
        self._utcnow = utcnow
        self._timings = sm.DoorTimings(
            cfg.strike_time_s, cfg.held_open_s, cfg.prealarm_s, cfg.rex_strike
        )
        self._door = sm.Door()
        self._since_utc = utcnow()
        self._written: bool | None = None  # last strike level the module confirmed
        self._write_lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._on_event = on_event
        self._mode = cfg.mode  # set by the desk or a lockdown (persisted by the runtime)
        self._scheduled_free = False  # the unlock schedule holds the door free now

    @property
    def state(self) -> DoorState:
        """The state machine's current state."""
        return self._door.state

    @property
    def mode(self) -> DoorMode:
        """The door mode in force: the desk's, else unlocked by schedule, else access."""
        if self._mode is not DoorMode.ACCESS:
            return self._mode
        return DoorMode.UNLOCKED if self._scheduled_free else DoorMode.ACCESS

    @property
    def desk_mode(self) -> DoorMode:
        """The mode set from the desk or by a lockdown (ACCESS when none)."""
        return self._mode

    @property
    def closed_and_locked(self) -> bool:
        """Closed with the strike relocked (what an interlock asks of the other doors)."""
        return self._door.state is DoorState.LOCKED and not self._door.strike

    def set_mode(self, mode: DoorMode) -> None:
        """Change the desk mode; free modes hold the strike released."""
        self._mode = mode
        self._refresh_free()

    def set_scheduled_free(self, free: bool) -> None:
        """The door's unlock schedule starts or ends (applies in access mode only)."""
        if free != self._scheduled_free:
            self._scheduled_free = free
            self._refresh_free()

    def _refresh_free(self) -> None:
        free = self.mode in (DoorMode.UNLOCKED, DoorMode.LOCKED_OPEN)
        self._spawn(self._apply(sm.set_free(self._door, self._timings, free, self._now())))
        self._bus.publish(DoorChanged(self.status()))

    @property
    def available(self) -> bool:
        """True when the lock can be driven (module reachable)."""
        return self._door.state is not DoorState.FAULT

    def status(self) -> DoorStatus:
        """Live status for the API."""
        return DoorStatus(
            door_id=self.cfg.id,
            name=self.cfg.name,
            zone_id=self.cfg.zone,
            state=self._door.state,
            mode=self.mode,
            auth=self.cfg.auth,
            contact_open=self._door.contact_open,
            strike_released=self._door.strike,
            since=self._since_utc,
        )

    async def release(self, kind: sm.ReleaseKind, passages: tuple[sm.Passage, ...] = ()) -> None:
        """Release the strike and wait until the module has taken the write."""
        await self._apply(sm.release(self._door, self._timings, kind, self._now(), passages))

    def contact(self, is_open: bool) -> None:
        """The door position switch changed."""
        self._spawn(self._apply(sm.contact(self._door, self._timings, is_open, self._now())))

    def rex(self) -> None:
        """Request-to-exit pressed."""
        release = self.mode is not DoorMode.DOUBLE_LOCKED  # double-locked: the strike stays shut
        self._spawn(self._apply(sm.rex(self._door, self._timings, self._now(), release)))

    def link_lost(self, detail: str) -> None:
        """The module went offline."""
        self._written = None
        self._spawn(self._apply(sm.link_lost(self._door, self._timings, self._now(), detail)))

    def close(self) -> None:
        """Stop timers and pending work."""
        if self._timer is not None:
            self._timer.cancel()
        for t in self._tasks:
            t.cancel()

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _tick(self) -> None:
        self._timer = None
        self._spawn(self._apply(sm.tick(self._door, self._timings, self._now())))

    async def _apply(self, step: sm.Step) -> None:
        before = self._door
        self._door = step.door
        loop = asyncio.get_running_loop()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if step.deadline is not None:
            self._timer = loop.call_at(step.deadline, self._tick)
        if step.door.state is not before.state:
            # ``since`` in UTC: the wall clock now, less how long ago (monotonic) it happened.
            ago = max(0.0, self._now() - step.door.since)
            self._since_utc = self._utcnow() - timedelta(seconds=ago)
        write = any(isinstance(e, sm.SetStrike) for e in step.effects)
        for effect in step.effects:
            if isinstance(effect, sm.Emit):
                self._recorder.submit(self._record(effect))
                if self._on_event is not None:
                    self._on_event(self, effect)
        if step.door != before:
            self._bus.publish(DoorChanged(self.status()))
        if write:
            await self._sync_strike()

    async def _sync_strike(self) -> None:
        """Bring the coil to the machine's current wish (always the latest, so order is safe)."""
        if self._module is None:
            return
        async with self._write_lock:
            want = self._door.strike
            if self._written == want or self._door.state is DoorState.FAULT:
                return
            level = (
                want if self.cfg.fail_secure else not want
            )  # fail-safe locks hold when energised
            try:
                await self._module.write_output(self.cfg.strike_output, level)
            except DeviceFault as exc:
                self._written = None
                log.warning("door %s: strike write failed: %s", self.cfg.id, exc)
                return
            self._written = want

    def _record(self, e: sm.Emit) -> NewRecord:
        p = e.passage
        detail: dict[str, object] = dict(e.detail)
        if p is not None:
            detail["decision_seq"] = p.decision_seq
            if p.escorted_by is not None:
                detail["escorted_by"] = p.escorted_by
        return NewRecord(
            kind=e.kind,
            ts=self._utcnow(),
            door_id=self.cfg.id,
            zone_id=self.cfg.zone,
            person_id=p.person_id if p else None,
            person_kind=p.person_kind if p else None,
            credential=p.credential if p else None,
            direction=p.direction if p else None,
            detail=detail,
        )
