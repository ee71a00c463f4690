"""The alarm console: records in, alarms out (4-8-7(4)(5)).

The service listens to committed records on the bus (``RecordWritten``) and runs the catalogue
over each: records that raise a type raise (or count a repeat on) the alarm of that type and
source, records that clear it clear it. Operators acknowledge and close. Every transition is
a record (``alarm.*``), a write-through of the ``alarm`` table (so the console survives a
restart) and an ``AlarmChanged`` on the bus. The row is state derived from the records that
raised and cleared it; an operator's acknowledgement or closing is not, so its record is staged
in the row's transaction and written after its commit (``gateway.intents``). An alarm left
unacknowledged past its type's escalation time escalates: ``alarm.escalated`` and a
notification to the chief.

After a restart, an alarm whose condition was active is re-read from the live status the
core publishes (doors, readers, sensors): what has since gone quiet is cleared.

Everything here runs on the core's event loop; other threads hop onto it to call in.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from datetime import datetime
from uuid import uuid4

from sqlalchemy import Engine

from gateway.alarms import machine
from gateway.alarms.catalogue import CATALOGUE, AlarmSpec, Source, source_of
from gateway.alarms.config import AlarmsConfig
from gateway.alarms.model import Alarm, AlarmRefused, AlarmView, Transition, UnknownAlarm
from gateway.alarms.notify import CHIEF, Notifier, write
from gateway.alarms.store import AlarmStore
from gateway.bus import Bus
from gateway.clock import utcnow
from gateway.config.site import SiteConfig
from gateway.core_events import (
    AlarmChanged,
    DoorChanged,
    ReaderChanged,
    RecordWritten,
    SensorChanged,
    StorageChanged,
)
from gateway.domain import DoorState
from gateway.intents import IntentOutbox, Staged
from gateway.recorder import Recorder
from gateway.records import NewRecord, RecordKind

log = logging.getLogger(__name__)

_KIND_OF = {
    Transition.RAISED: RecordKind.ALARM_RAISED,
    Transition.REPEATED: RecordKind.ALARM_REPEATED,
    Transition.ACKNOWLEDGED: RecordKind.ALARM_ACKNOWLEDGED,
    Transition.CLEARED: RecordKind.ALARM_CLEARED,
    Transition.CLOSED: RecordKind.ALARM_CLOSED,
    Transition.ESCALATED: RecordKind.ALARM_ESCALATED,
}
_RECENTLY_CLOSED = 500  # closed alarms kept in memory for get()


def _fallback_spec(type_: str) -> AlarmSpec:
    """A stand-in for a stored alarm whose type the catalogue no longer has."""
    return AlarmSpec(type_, 5, "", "", None, (), (), Source.ZONE, "", written_by="unknown")


class AlarmService:
    """The alarm console of one site."""

    def __init__(
        self,
        site: SiteConfig,
        engine: Engine,
        bus: Bus,
        recorder: Recorder,
        *,
        intents: IntentOutbox,
        notifier: Notifier | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """Index the catalogue for this site; nothing is read or subscribed until ``start``."""
        self._site_id = site.site.id
        self._cfg: AlarmsConfig = site.alarms
        self._door_zone = {d.id: d.zone for d in site.doors}
        self._sensor_zone = {s.id: s.zone for s in site.sensors}
        self._bus = bus
        self._recorder = recorder
        self._intents = intents
        self._clock = clock
        self._store = AlarmStore(engine, self._site_id)
        self._notifier = notifier or Notifier(engine, self._site_id, recorder, bus, clock)
        self._writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="alarm-store")
        self._open: dict[str, Alarm] = {}
        self._key: dict[tuple[str, str], str] = {}  # (type, source) -> id of the open alarm
        self._closed: OrderedDict[str, Alarm] = OrderedDict()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._resync: set[str] = set()  # restored alarms whose condition live status re-reads
        self._tasks: set[asyncio.Task[object]] = set()
        self._unsubscribe: list[Callable[[], None]] = []
        self._raisers: dict[RecordKind, list[AlarmSpec]] = defaultdict(list)
        self._clearers: dict[RecordKind, list[AlarmSpec]] = defaultdict(list)
        for spec in CATALOGUE.values():
            for t in spec.raised_by:
                self._raisers[t.kind].append(spec)
            for t in spec.cleared_by:
                self._clearers[t.kind].append(spec)
        self._started = False

    # --- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the open alarms, listen to the bus and re-arm escalation timers."""
        if self._started:
            return
        loop = asyncio.get_running_loop()
        for alarm in await loop.run_in_executor(self._writer, self._store.open_alarms):
            self._remember(alarm)
            if alarm.condition_active:
                self._resync.add(alarm.alarm_id)
            self._arm(alarm)
        self._unsubscribe = [
            self._bus.subscribe(RecordWritten, self._on_record),
            self._bus.subscribe(DoorChanged, self._on_door),
            self._bus.subscribe(ReaderChanged, self._on_reader),
            self._bus.subscribe(SensorChanged, self._on_sensor),
            self._bus.subscribe(StorageChanged, self._on_storage),
        ]
        self._started = True
        log.info("alarms: %d open alarm(s) restored", len(self._open))

    async def stop(self) -> None:
        """Stop listening, cancel timers and wait until every table write is done."""
        if not self._started:
            return
        self._started = False
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: self._writer.shutdown(wait=True)
        )

    # --- what callers ask -----------------------------------------------------------------------

    def active(self) -> list[AlarmView]:
        """Every alarm not closed, most urgent first, then oldest first."""
        alarms = sorted(self._open.values(), key=lambda a: (a.priority, a.raised_at))
        return [self._view(a) for a in alarms]

    def get(self, alarm_id: str) -> AlarmView:
        """One alarm, open or closed; UnknownAlarm (a KeyError) when there is none."""
        return self._view(self._find(alarm_id))

    def lookup(self, alarm_id: str) -> AlarmView | None:
        """An open or recently closed alarm from memory; None when not there. Never blocks."""
        alarm = self._open.get(alarm_id) or self._closed.get(alarm_id)
        return None if alarm is None else self._view(alarm)

    def stored(self, alarm_id: str) -> AlarmView | None:
        """An alarm from the table, closed or not; blocking: call from a worker thread."""
        alarm = self._store.get(alarm_id)
        return None if alarm is None else self._view(alarm)

    def history(self, *, since: datetime | None = None, limit: int = 100) -> list[AlarmView]:
        """Alarms newest first, closed ones included; blocking: call from a worker thread."""
        return [self._view(a) for a in self._store.history(since=since, limit=limit)]

    def spec(self, type_: str) -> AlarmSpec:
        """The catalogue entry of a type (a stand-in for a type no longer in the catalogue)."""
        return CATALOGUE.get(type_) or _fallback_spec(type_)

    def catalogue(self) -> list[tuple[AlarmSpec, int, float | None, dict[str, str]]]:
        """Every type with this site's priority, escalation seconds and instructions."""
        return [
            (s, self._cfg.priority(s), self._cfg.escalation_s(s), self._cfg.instructions(s))
            for s in CATALOGUE.values()
        ]

    async def acknowledge(self, alarm_id: str, actor: str, note: str | None) -> AlarmView:
        """An operator takes the alarm on; returns it once the record is durably written."""
        alarm = self._find_open(alarm_id)
        spec = self.spec(alarm.type)
        new, transition = machine.acknowledge(
            alarm, actor, note, at=self._clock(), momentary=spec.momentary
        )
        await self._commit_durably(new, transition, actor=actor)
        return self._view(new)

    async def close(self, alarm_id: str, actor: str, note: str | None) -> AlarmView:
        """Close an acknowledged, cleared alarm; AlarmRefused otherwise."""
        alarm = self._find_open(alarm_id)
        new, transition = machine.close(alarm, actor, note, at=self._clock())
        await self._commit_durably(new, transition, actor=actor)
        return self._view(new)

    # --- records in ---------------------------------------------------------------------------

    def _on_record(self, event: RecordWritten) -> None:
        """Run the catalogue over one committed record."""
        rec = event.record
        for spec in self._clearers.get(rec.kind, ()):
            if any(t.matches(rec) for t in spec.cleared_by):
                self._clear(spec, source_of(spec.source, rec), event.seq, rec)
        for spec in self._raisers.get(rec.kind, ()):
            if any(t.matches(rec) for t in spec.raised_by):
                self._raise(spec, rec, event.seq)

    def _on_storage(self, event: StorageChanged) -> None:
        """The record log failing: raise the storage alarm now, not when records flow again."""
        if event.failing_since is None:
            return  # cleared by the storage_recovered record, in order with the held ones
        detail: dict[str, object] = {"event": "storage_unavailable", "error": event.error}
        rec = NewRecord(RecordKind.SYSTEM, event.failing_since, detail=detail)
        for spec in self._raisers.get(rec.kind, ()):
            if any(t.matches(rec) for t in spec.raised_by):
                self._raise(spec, rec, None)

    def _raise(self, spec: AlarmSpec, rec: NewRecord, seq: int | None) -> None:
        """Raise a new alarm, or count a repeat on the open one of this type and source."""
        source = source_of(spec.source, rec)
        escalation_s = self._cfg.escalation_s(spec)
        alarm_id = self._key.get((spec.type, source))
        if alarm_id is not None:
            self._resync.discard(alarm_id)
            new, transition = machine.repeat(
                self._open[alarm_id], escalation_s=escalation_s, at=rec.ts
            )
        else:
            new, transition = machine.open_alarm(
                uuid4().hex,
                self._site_id,
                spec,
                priority=self._cfg.priority(spec),
                escalation_s=escalation_s,
                source=source,
                zone_id=self._zone_of(rec),
                door_id=rec.door_id,
                at=rec.ts,
            )
        self._commit(new, transition, trigger=(seq, rec.kind.value))
        if transition is Transition.RAISED:
            for role in spec.notify:
                self._tell(role, new, f"Alarm: {new.type} at {new.source}")

    def _clear(
        self, spec: AlarmSpec, source: str, seq: int | None, rec: NewRecord, *, resync: bool = False
    ) -> None:
        """Clear the open alarm of this type and source, if there is one and it is active."""
        alarm_id = self._key.get((spec.type, source))
        if alarm_id is None or (resync and alarm_id not in self._resync):
            return
        self._resync.discard(alarm_id)
        step = machine.clear(self._open[alarm_id])
        if step is not None:
            trigger = (seq, rec.kind.value) if seq is not None else (None, "live status")
            self._commit(*step, trigger=trigger)

    def _zone_of(self, rec: NewRecord) -> str | None:
        """The zone of the record, else of its door, else of its sensor."""
        if rec.zone_id:
            return rec.zone_id
        if rec.door_id and rec.door_id in self._door_zone:
            return self._door_zone[rec.door_id]
        sensor = rec.detail.get("sensor")
        return self._sensor_zone.get(sensor) if isinstance(sensor, str) else None

    # --- live status re-read after a restart ----------------------------------------------------

    def _resync_with(self, rec: NewRecord) -> None:
        """Clear restored alarms that a status-derived record says are over."""
        if not self._resync:
            return
        for spec in self._clearers.get(rec.kind, ()):
            if any(t.matches(rec) for t in spec.cleared_by):
                self._clear(spec, source_of(spec.source, rec), None, rec, resync=True)

    def _on_door(self, event: DoorChanged) -> None:
        """A door shut and answering again: its restored alarms may be over."""
        s = event.status
        now = self._clock()
        if s.contact_open is False:
            self._resync_with(NewRecord(RecordKind.DOOR_CLOSED, now, door_id=s.door_id))
        if s.state is not DoorState.FAULT:
            self._resync_with(NewRecord(RecordKind.DOOR_FAULT_CLEARED, now, door_id=s.door_id))

    def _on_reader(self, event: ReaderChanged) -> None:
        """A reader online and untampered: its restored alarms may be over."""
        s = event.status
        now = self._clock()
        if s.online:
            self._resync_with(NewRecord(RecordKind.READER_ONLINE, now, reader_id=s.reader_id))
        if not s.tamper:
            self._resync_with(
                NewRecord(RecordKind.READER_TAMPER_CLEARED, now, reader_id=s.reader_id)
            )

    def _on_sensor(self, event: SensorChanged) -> None:
        """A sensor's current state: its restored alarms may be over."""
        detail: dict[str, object] = {
            "sensor": event.sensor_id,
            "sensor_kind": event.kind.value,
            "state": event.state.value,
        }
        self._resync_with(NewRecord(RecordKind.SENSOR_STATE, self._clock(), detail=detail))

    # --- escalation ---------------------------------------------------------------------------

    def _arm(self, alarm: Alarm) -> None:
        """(Re)schedule the escalation of ``alarm``, or cancel it when none is due."""
        timer = self._timers.pop(alarm.alarm_id, None)
        if timer is not None:
            timer.cancel()
        if alarm.escalate_at is None or alarm.closed or alarm.acknowledged or alarm.escalated:
            return
        delay = max(0.0, (alarm.escalate_at - self._clock()).total_seconds())
        self._timers[alarm.alarm_id] = asyncio.get_running_loop().call_later(
            delay, self._escalate_due, alarm.alarm_id
        )

    def _escalate_due(self, alarm_id: str) -> None:
        """An escalation timer fired: escalate and tell the chief, unless acknowledged since."""
        self._timers.pop(alarm_id, None)
        alarm = self._open.get(alarm_id)
        if alarm is None:
            return
        step = machine.escalate(alarm, at=self._clock())
        if step is None:
            self._arm(alarm)  # woke a little early (clock adjustment): wait again
            return
        new, transition = step
        self._commit(new, transition, trigger=(None, "escalation"))
        self._tell(CHIEF, new, f"Alarm not acknowledged: {new.type} at {new.source}")

    def _tell(self, role: str, alarm: Alarm, subject: str) -> None:
        """Notify ``role`` about ``alarm`` in the background (a record and a bus event)."""
        task = asyncio.get_running_loop().create_task(
            self._notifier.notify(role, alarm.zone_id, subject, f"alarm:{alarm.alarm_id}")
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- transitions out ----------------------------------------------------------------------

    def _commit(
        self,
        alarm: Alarm,
        transition: Transition,
        *,
        actor: str | None = None,
        trigger: tuple[int | None, str] | None = None,
    ) -> tuple[NewRecord, concurrent.futures.Future[Staged | None]]:
        """Keep the new alarm, write its row and record, announce it; returns both writes."""
        self._remember(alarm)
        rec = self._record(alarm, transition, actor, trigger)
        saved = self._writer.submit(self._save, alarm, rec if actor is not None else None)
        self._arm(alarm)
        self._bus.publish(AlarmChanged(self._view(alarm)))
        return rec, saved

    async def _commit_durably(self, alarm: Alarm, transition: Transition, *, actor: str) -> None:
        """Commit an operator's transition: its row and staged record, then the record."""
        rec, saved = self._commit(alarm, transition, actor=actor)
        staged = await asyncio.wrap_future(saved)
        if staged is not None:
            await self._intents.write_all(staged)
            return
        try:  # the row was not written: the record goes straight to the log
            await self._recorder.append(rec)
        except Exception as exc:  # noqa: BLE001 -- kept for retry: an operator's act is never lost
            log.warning("alarm record kept for retry: %s", exc)
            self._recorder.keep(rec)

    def _save(self, alarm: Alarm, rec: NewRecord | None) -> Staged | None:
        """Write one alarm row, staging ``rec`` with it (writer thread); None when it failed."""
        try:
            return self._store.save(alarm, rec)
        except Exception:  # logged; the next transition rewrites the whole row
            log.exception("alarm %s: table write failed", alarm.alarm_id)
            return None

    def _record(
        self,
        alarm: Alarm,
        transition: Transition,
        actor: str | None,
        trigger: tuple[int | None, str] | None,
    ) -> NewRecord:
        """The ``alarm.*`` record of a transition; written now unless an operator made it."""
        detail: dict[str, object] = {
            "alarm_id": alarm.alarm_id,
            "type": alarm.type,
            "priority": alarm.priority,
            "source": alarm.source,
            "state": alarm.state.value,
            "count": alarm.count,
        }
        if trigger is not None:
            detail["trigger_seq"], detail["trigger"] = trigger
        if actor is not None and alarm.note:
            detail["note"] = alarm.note
        if transition is Transition.ESCALATED:
            detail["notify"] = CHIEF
        reader = (
            alarm.source.removeprefix("reader:") if alarm.source.startswith("reader:") else None
        )
        rec = NewRecord(
            _KIND_OF[transition],
            self._clock(),
            door_id=alarm.door_id,
            zone_id=alarm.zone_id,
            reader_id=reader,
            actor=actor,
            detail=detail,
        )
        if actor is None:
            write(self._recorder, rec)
        return rec

    # --- bookkeeping --------------------------------------------------------------------------

    def _remember(self, alarm: Alarm) -> None:
        """Put the alarm where lookups find it (open, or among the recently closed)."""
        key = (alarm.type, alarm.source)
        if alarm.closed:
            self._open.pop(alarm.alarm_id, None)
            if self._key.get(key) == alarm.alarm_id:
                del self._key[key]
            self._resync.discard(alarm.alarm_id)
            self._closed[alarm.alarm_id] = alarm
            while len(self._closed) > _RECENTLY_CLOSED:
                self._closed.popitem(last=False)
        else:
            self._open[alarm.alarm_id] = alarm
            self._key[key] = alarm.alarm_id

    def _find(self, alarm_id: str) -> Alarm:
        """An alarm by id from memory, else from the table (blocking, rare)."""
        alarm = self._open.get(alarm_id) or self._closed.get(alarm_id)
        if alarm is None:
            alarm = self._store.get(alarm_id)
        if alarm is None:
            raise UnknownAlarm(f"no alarm {alarm_id!r}")
        return alarm

    def _find_open(self, alarm_id: str) -> Alarm:
        """An open alarm; AlarmRefused for a closed one, UnknownAlarm for none."""
        alarm = self._open.get(alarm_id)
        if alarm is not None:
            return alarm
        if self._find(alarm_id).closed:
            raise AlarmRefused(f"alarm {alarm_id} is closed")
        raise UnknownAlarm(f"no alarm {alarm_id!r}")  # pragma: no cover - open ones are in memory

    def _view(self, alarm: Alarm) -> AlarmView:
        """The public view with this site's instructions for the type."""
        return alarm.view(self._cfg.instructions(self.spec(alarm.type)))
