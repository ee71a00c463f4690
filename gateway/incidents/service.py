"""Incidents (4-8-11): opened from an alarm or by an operator, carried to closure.

- (1) whoever notices opens an incident; the zone's protection manager is notified at once,
  then the chief (``incidents.notify_chief_after_s`` later; 0: right after the manager);
- (2) containment actions are recorded; a zone lockdown calls ``Gateway.lockdown`` when the
  core has it;
- (3)(4) investigation notes; every step is time-stamped, kept on the timeline and in the log;
- (5) closing needs a root cause and recurrence-prevention measures;
- (6)(7) when held personal information is involved, the legal reporting steps (a preliminary
  report promptly, a final report later) are due from the moment that was known; a step past
  its due time writes ``incident.step_overdue``, which the alarm catalogue raises as an alarm
  (cleared by ``incident.step_done``). An incident with a legal step still open cannot close.

Everything runs on the core's event loop; table work runs on one worker thread, in order. Each
step's record is staged in the step's own transaction and written after its commit through the
gateway's outbox (``gateway.intents``): a crash in between never loses it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Engine

from gateway.alarms.model import UnknownAlarm
from gateway.alarms.notify import CHIEF, MANAGER, Notifier
from gateway.alarms.service import AlarmService
from gateway.bus import Bus
from gateway.clock import utcnow
from gateway.config.site import SiteConfig
from gateway.incidents.model import (
    IncidentRefused,
    IncidentView,
    StepKind,
)
from gateway.incidents.store import IncidentStore, Loaded
from gateway.intents import IntentOutbox
from gateway.intents import stage as stage_record
from gateway.recorder import Recorder
from gateway.records import NewRecord, RecordKind
from gateway.storage.models import IncidentDeadlineRow, IncidentRow, IncidentStepRow

log = logging.getLogger(__name__)

T = TypeVar("T")
Lockdown = Callable[[str, str, str], Any]  # Gateway.lockdown(zone_id, actor, reason)
TEXT_MAX = 4000
LOCKDOWN = "lockdown"


def _text(value: str | None, what: str, *, required: bool = False) -> str | None:
    """Trimmed text within TEXT_MAX; IncidentRefused when required and blank."""
    if value is None or not value.strip():
        if required:
            raise IncidentRefused(f"{what} is required")
        return None
    value = value.strip()
    if len(value) > TEXT_MAX:
        raise IncidentRefused(f"{what} is longer than {TEXT_MAX} characters")
    return value


class IncidentService:
    """The incidents of one site."""

    def __init__(
        self,
        site: SiteConfig,
        engine: Engine,
        bus: Bus,
        recorder: Recorder,
        alarms: AlarmService,
        *,
        intents: IntentOutbox,
        notifier: Notifier | None = None,
        lockdown: Lockdown | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """Prepare the service; timers are armed by ``start``."""
        self._site = site
        self._site_id = site.site.id
        self._cfg = site.incidents
        self._zones = {z.id for z in site.zones}
        self._intents = intents
        self._alarms = alarms
        self._notifier = notifier or Notifier(engine, self._site_id, recorder, bus, clock)
        self._lockdown = lockdown
        self._clock = clock
        self._store = IncidentStore(engine, self._site_id, site.incidents)
        self._worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="incidents")
        self._timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[object]] = set()
        self._started = False

    # --- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Arm the timers of every legal step still pending."""
        if self._started:
            return
        self._started = True
        for incident_id, step, due_at in await self._run(self._store.pending_deadlines):
            self._arm(incident_id, step, due_at)

    async def stop(self) -> None:
        """Cancel timers, finish pending notifications and table work."""
        if not self._started:
            return
        self._started = False
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in self._tasks:
            task.cancel()  # delayed notifications and overdue checks; table work still finishes
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: self._worker.shutdown(wait=True)
        )

    # --- reading (blocking: call from a worker thread, or through ``view``) ---------------------

    def get(self, incident_id: str) -> IncidentView:
        """One incident; UnknownIncident when there is none. Blocking."""
        return self._store.view(incident_id)

    def recent(self, *, open_only: bool = False, limit: int = 100) -> list[IncidentView]:
        """Incidents newest first. Blocking."""
        return self._store.recent(open_only=open_only, limit=limit)

    async def view(self, incident_id: str) -> IncidentView:
        """One incident, read on the worker thread."""
        return await self._run(self._store.view, incident_id)

    # --- steps ----------------------------------------------------------------------------------

    async def open(
        self,
        title: str | None,
        actor: str,
        *,
        zone_id: str | None = None,
        alarm_id: str | None = None,
        description: str | None = None,
        personal_data: bool = False,
    ) -> IncidentView:
        """Open an incident (from an alarm when ``alarm_id``); notify the zone's manager."""
        if alarm_id is not None:
            try:
                alarm = self._alarms.get(alarm_id)
            except UnknownAlarm:
                raise IncidentRefused(f"no alarm {alarm_id!r} to open an incident from") from None
            zone_id = zone_id or alarm.zone_id
            title = title or f"{alarm.type} at {alarm.source}"
        if zone_id is not None and zone_id not in self._zones:
            raise IncidentRefused(f"no zone {zone_id!r} on this site")
        title_text = _text(title, "a title", required=True)
        assert title_text is not None
        if len(title_text) > 200:
            raise IncidentRefused("a title is at most 200 characters")
        now = self._clock()
        row = IncidentRow(
            site_id=self._site_id,
            title=title_text,
            description=_text(description, "the description"),
            zone_id=zone_id,
            alarm_id=alarm_id,
            opened_at=now,
            opened_by=actor,
        )
        step = self._step(row.id, now, StepKind.OPENED, actor, row.description, alarm_id=alarm_id)
        rec = self._record(
            RecordKind.INCIDENT_OPENED, row, now, actor, title=row.title, alarm_id=alarm_id
        )
        await self._intents.write_all(await self._run(self._store.create, row, step, rec))
        await self._notify(row.id, MANAGER, zone_id, f"Incident opened: {row.title}")
        if self._cfg.notify_chief_after_s <= 0:
            await self._notify(row.id, CHIEF, zone_id, f"Incident opened: {row.title}")
        else:
            self._later(
                self._cfg.notify_chief_after_s,
                self._notify(row.id, CHIEF, zone_id, f"Incident opened: {row.title}"),
            )
        if personal_data:
            return await self.mark_personal_data(row.id, actor, "personal data involved at opening")
        return await self.view(row.id)

    async def contain(
        self, incident_id: str, actor: str, action: str, text: str | None
    ) -> IncidentView:
        """Record a containment action; ``lockdown`` also locks the zone down when it can."""
        action = action.strip()
        if not action or len(action) > 64:
            raise IncidentRefused("a containment action is a name of 1-64 characters")
        note = _text(text, "the text")
        incident = await self.view(incident_id)
        if incident.closed_at is not None:
            raise IncidentRefused(f"incident {incident_id} is closed")
        detail: dict[str, object] = {"action": action}
        if action == LOCKDOWN:
            detail.update(await self._lock_zone(incident.zone_id, actor, incident.title))
        return await self._add(incident_id, StepKind.CONTAINMENT, actor, note, detail)

    async def note(self, incident_id: str, actor: str, text: str) -> IncidentView:
        """Add an investigation note."""
        note = _text(text, "a note", required=True)
        return await self._add(incident_id, StepKind.NOTE, actor, note, {})

    async def mark_personal_data(
        self, incident_id: str, actor: str, text: str | None
    ) -> IncidentView:
        """Personal data is involved: the legal steps are due from now (4-8-11(6)(7))."""
        now = self._clock()
        note = _text(text, "the text")
        due = {s.id: now + timedelta(seconds=s.due_after_s) for s in self._cfg.legal_steps}

        def change(x: Loaded) -> list[IncidentStepRow]:
            """Set the flag and add the deadlines, unless closed or marked already."""
            self._refuse_closed(x)
            if x.incident.personal_data:
                raise IncidentRefused(f"incident {incident_id} is already marked")
            x.incident.personal_data = True
            x.incident.personal_data_at = now
            for step_id, due_at in due.items():
                x.session.add(
                    IncidentDeadlineRow(
                        incident_id=incident_id, step=step_id, site_id=self._site_id, due_at=due_at
                    )
                )
            detail = {"due": {k: v.isoformat() for k, v in due.items()}}
            self._stage(x, RecordKind.INCIDENT_PERSONAL_DATA, now, actor, **detail)
            return [self._step(incident_id, now, StepKind.PERSONAL_DATA, actor, note, **detail)]

        await self._intents.write_all(await self._run(self._store.change, incident_id, change))
        view = await self.view(incident_id)
        for step_id, due_at in due.items():
            self._arm(incident_id, step_id, due_at)
        return view

    async def complete_step(
        self, incident_id: str, step: str, actor: str, text: str | None
    ) -> IncidentView:
        """A legal step is done (the report sent, the notice given)."""
        now = self._clock()
        note = _text(text, "the text")

        def change(x: Loaded) -> list[IncidentStepRow]:
            """Mark the step done, unless closed, unknown or done already."""
            self._refuse_closed(x)
            d = x.deadline(step)
            if d is None:
                raise IncidentRefused(f"incident {incident_id} has no legal step {step!r}")
            if d.done_at is not None:
                raise IncidentRefused(f"legal step {step} was done already by {d.done_by}")
            d.done_at, d.done_by = now, actor
            x.session.add(d)
            self._stage(x, RecordKind.INCIDENT_STEP_DONE, now, actor, step=step)
            return [self._step(incident_id, now, StepKind.LEGAL_STEP_DONE, actor, note, step=step)]

        staged = await self._run(self._store.change, incident_id, change)
        view = await self.view(incident_id)
        timer = self._timers.pop((incident_id, step), None)
        if timer is not None:
            timer.cancel()
        await self._intents.write_all(staged)
        return view

    async def close(
        self, incident_id: str, actor: str, root_cause: str, measures: str
    ) -> IncidentView:
        """Close with a root cause and recurrence-prevention measures (4-8-11(5))."""
        now = self._clock()
        cause = _text(root_cause, "a root cause", required=True)
        prevent = _text(measures, "recurrence-prevention measures", required=True)

        def change(x: Loaded) -> list[IncidentStepRow]:
            """Close, unless closed already or a legal step is still open."""
            self._refuse_closed(x)
            pending = [d.step for d in sorted(x.deadlines, key=lambda d: d.due_at) if not d.done_at]
            if pending:
                raise IncidentRefused(
                    f"incident {incident_id} has legal steps not done: {', '.join(pending)}"
                )
            x.incident.root_cause, x.incident.measures = cause, prevent
            x.incident.closed_at, x.incident.closed_by = now, actor
            self._stage(x, RecordKind.INCIDENT_CLOSED, now, actor)
            return [self._step(incident_id, now, StepKind.CLOSED, actor, cause, measures=prevent)]

        staged = await self._run(self._store.change, incident_id, change)
        view = await self.view(incident_id)
        await self._intents.write_all(staged)
        return view

    # --- deadlines ------------------------------------------------------------------------------

    def _arm(self, incident_id: str, step: str, due_at: datetime) -> None:
        """Call ``_overdue`` when ``step`` falls due."""
        old = self._timers.pop((incident_id, step), None)
        if old is not None:
            old.cancel()
        delay = max(0.0, (due_at - self._clock()).total_seconds())
        self._timers[(incident_id, step)] = asyncio.get_running_loop().call_later(
            delay, lambda: self._spawn(self._overdue(incident_id, step))
        )

    async def _overdue(self, incident_id: str, step: str) -> None:
        """Mark a legal step overdue and write the record that raises the alarm."""
        self._timers.pop((incident_id, step), None)
        now = self._clock()

        def change(x: Loaded) -> list[IncidentStepRow]:
            """Flag the step overdue once, unless it was done (or the incident closed) meanwhile."""
            d = x.deadline(step)
            if d is None or d.done_at is not None or d.overdue or x.incident.closed_at:
                return []
            d.overdue = True
            x.session.add(d)
            self._stage(x, RecordKind.INCIDENT_STEP_OVERDUE, now, None, step=step)
            detail = {"step": step, "due_at": d.due_at.isoformat()}
            return [self._step(incident_id, now, StepKind.LEGAL_STEP_OVERDUE, None, None, **detail)]

        await self._intents.write_all(await self._run(self._store.change, incident_id, change))

    # --- helpers --------------------------------------------------------------------------------

    async def _add(
        self,
        incident_id: str,
        kind: StepKind,
        actor: str,
        text: str | None,
        detail: dict[str, object],
    ) -> IncidentView:
        """Add one step to an open incident and record it."""
        now = self._clock()

        record_kind = {
            StepKind.CONTAINMENT: RecordKind.INCIDENT_CONTAINMENT,
            StepKind.NOTE: RecordKind.INCIDENT_NOTE,
        }[kind]

        def change(x: Loaded) -> list[IncidentStepRow]:
            """Add the step and stage its record, unless the incident is closed."""
            self._refuse_closed(x)
            self._stage(x, record_kind, now, actor, **detail)
            return [self._step(incident_id, now, kind, actor, text, **detail)]

        staged = await self._run(self._store.change, incident_id, change)
        view = await self.view(incident_id)
        await self._intents.write_all(staged)
        return view

    async def _lock_zone(self, zone_id: str | None, actor: str, reason: str) -> dict[str, object]:
        """Lock the incident's zone down through the core, if the core can; say what happened."""
        if zone_id is None:
            return {"lockdown": "no zone on this incident"}
        if self._lockdown is None:
            return {"zone": zone_id, "lockdown": "not available in this version"}
        try:
            result = self._lockdown(zone_id, actor, reason)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:  # recorded on the step; the desk acts by hand
            log.exception("lockdown of %s failed", zone_id)
            return {"zone": zone_id, "lockdown": f"failed: {exc}"[:200]}
        return {"zone": zone_id, "lockdown": "done"}

    async def _notify(self, incident_id: str, role: str, zone_id: str | None, subject: str) -> None:
        """Notify ``role`` and put it on the timeline."""
        sent = await self._notifier.notify(role, zone_id, subject, f"incident:{incident_id}")
        now = sent.ts
        step = self._step(
            incident_id,
            now,
            StepKind.NOTIFIED,
            None,
            None,
            role=role,
            recipients=list(sent.recipients),
        )

        def change(x: Loaded) -> list[IncidentStepRow]:
            """Add the notification step (also to a closed incident: it happened)."""
            return [step]

        try:
            await self._run(self._store.change, incident_id, change)
        except Exception:  # the notification itself is recorded already
            log.exception("incident %s: notification step not stored", incident_id)

    @staticmethod
    def _record(
        kind: RecordKind, incident: IncidentRow, ts: datetime, actor: str | None, **detail: object
    ) -> NewRecord:
        """The record of an incident's step (``detail`` without its None values)."""
        return NewRecord(
            kind,
            ts,
            zone_id=incident.zone_id,
            actor=actor,
            detail={"incident": incident.id, **{k: v for k, v in detail.items() if v is not None}},
        )

    def _stage(
        self, x: Loaded, kind: RecordKind, ts: datetime, actor: str | None, **detail: object
    ) -> None:
        """Stage the record of a step in the step's transaction (written after its commit)."""
        stage_record(x.session, self._site_id, self._record(kind, x.incident, ts, actor, **detail))

    def _step(
        self,
        incident_id: str,
        at: datetime,
        kind: StepKind,
        actor: str | None,
        text: str | None,
        **detail: object,
    ) -> IncidentStepRow:
        """A timeline row."""
        return IncidentStepRow(
            site_id=self._site_id,
            incident_id=incident_id,
            at=at,
            kind=kind.value,
            actor=actor,
            text=text,
            detail={k: v for k, v in detail.items() if v is not None},
        )

    @staticmethod
    def _refuse_closed(x: Loaded) -> None:
        """Nothing is added to a closed incident."""
        if x.incident.closed_at is not None:
            raise IncidentRefused(f"incident {x.incident.id} is closed")

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        """Run table work on the worker thread."""
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)

    def _later(self, delay: float, coro: Awaitable[None]) -> None:
        """Run ``coro`` after ``delay`` seconds (cancelled by ``stop``)."""

        async def wait_then() -> None:
            """Sleep, then run."""
            await asyncio.sleep(delay)
            await coro

        self._spawn(wait_then())

    def _spawn(self, coro: Awaitable[None]) -> None:
        """Run ``coro`` as a task that ``stop`` waits for."""

        async def run() -> None:
            """Run, logging any failure."""
            try:
                await coro
            except Exception:  # a timer's failure is logged, never lost silently
                log.exception("incident timer failed")

        task: asyncio.Task[object] = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
