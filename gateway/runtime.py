"""The running gateway: wires device ports, doors, the badge path, the log and the bus.

It is the core's single implementation of ``AccessCore`` (what the API may ask). It imports no
driver: the composition root (``sekisho``) hands it objects that implement the ports.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime

from sqlalchemy import Engine

from gateway import door as sm
from gateway.access_index import AccessIndex
from gateway.badge import BadgeHandler, ReaderPlace
from gateway.bus import Bus
from gateway.clock import utcnow
from gateway.config.site import SiteConfig, ZoneConfig
from gateway.core_api import (
    DoorStatus,
    DoorUnavailable,
    LiveUpdate,
    ReaderStatus,
    UnknownDoor,
    UnknownZone,
)
from gateway.core_events import ReaderChanged
from gateway.decision import ZoneRules
from gateway.domain import Direction, DoorMode
from gateway.door_control import DoorController
from gateway.door_modes import DoorModes
from gateway.events import (
    CardRead,
    CardUnreadable,
    DeviceEvent,
    InputChanged,
    KeypadKeys,
    ModuleLink,
    ReaderLink,
    ReaderTamper,
)
from gateway.intents import IntentOutbox
from gateway.live import LiveFeed
from gateway.occupancy import Occupant
from gateway.pin_state import PinStates
from gateway.ports import DeviceEventSink, IOModule, ReaderBus
from gateway.recertification import RecertificationJob
from gateway.recorder import Recorder, RecordSink
from gateway.records import NewRecord, RecordKind
from gateway.schedule import SiteCalendar
from gateway.storage.record_log import RecordLog
from gateway.zones import ZoneService

log = logging.getLogger(__name__)


class Gateway:
    """One site's access controller."""

    def __init__(
        self,
        site: SiteConfig,
        engine: Engine,
        *,
        readers: Sequence[ReaderBus] = (),
        modules: Sequence[IOModule] = (),
        record_log: RecordSink | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._site = site
        self._engine = engine
        self._clock = clock
        self.bus = Bus()
        self._own_log = record_log is None
        if record_log is None:
            record_log = RecordLog(engine, site.site.id)
        self._log = record_log
        self.recorder = Recorder(record_log, self.bus)
        self.intents = IntentOutbox(engine, site.site.id, self.recorder, self.bus)
        self._live = LiveFeed(self.bus)
        self.index = AccessIndex(site)
        self._pins = PinStates(engine, site.site.id)
        self._modules = {m.module_id: m for m in modules}
        self._reader_buses = list(readers)
        self._reader_of = {rid: bus for bus in readers for rid in bus.reader_ids}
        self._doors: dict[str, DoorController] = {}
        self._reader_state: dict[str, ReaderStatus] = {}
        self._inputs: dict[tuple[str, int], Callable[[bool], None]] = {}
        self.badges: BadgeHandler | None = None
        self.device_taps: list[DeviceEventSink] = []  # also see every device event (sensors)
        # zone → cameras showing a good picture of it now (set by gateway.cameras, issue 7)
        self.camera_watch: Callable[[str], tuple[str, ...]] = lambda zone_id: ()
        self._calendar = SiteCalendar.of(site.site.timezone, site.holidays)
        self.zones = ZoneService(site, engine, self.recorder, self.bus, clock)
        self.modes = DoorModes(
            site,
            engine=engine,
            recorder=self.recorder,
            doors=self._doors,
            zones=self.zones,
            calendar=self._calendar,
            clock=clock,
        )
        self.recertification = RecertificationJob(site, engine, self.recorder, clock=clock)
        self._started = False

    # --- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Load master data, open the log, start every device; returns when all are started."""
        loop = asyncio.get_running_loop()
        if self._own_log:
            self._log.start()
        await loop.run_in_executor(None, self.index.load_all, self._engine)
        await loop.run_in_executor(None, self._pins.load)
        await loop.run_in_executor(None, self.zones.load)
        await loop.run_in_executor(None, self.modes.load)
        self._build_doors()
        self.modes.start()
        self._started = True
        await self.intents.recover()  # operator records a crash left staged go first
        await self.record(
            NewRecord(
                RecordKind.SYSTEM,
                self._clock(),
                detail={"event": "start", "doors": len(self._doors)},
            )
        )
        self.recertification.start()
        for module in self._modules.values():
            await module.start(self._on_device_event)
        for bus in self._reader_buses:
            await bus.start(self._on_device_event)
        log.info(
            "site %s: %d doors, %d readers, %d credentials loaded",
            self._site.site.id,
            len(self._doors),
            len(self._reader_of),
            len(self.index),
        )

    async def stop(self) -> None:
        """Stop devices, write what is pending, close the log."""
        if not self._started:
            return
        self._started = False
        await self.recertification.stop()
        for bus in self._reader_buses:
            await bus.stop()
        for module in self._modules.values():
            await module.stop()
        if self.badges is not None:
            self.badges.close()
        self.modes.stop()
        for d in self._doors.values():
            d.close()
        await loop_run(self.zones.close)
        await self._pins.flush()
        try:
            await self.record(NewRecord(RecordKind.SYSTEM, self._clock(), detail={"event": "stop"}))
        except Exception:  # shutting down: the log says why
            log.exception("stop record not written")
        await self.recorder.close()
        if self._own_log:
            await asyncio.get_running_loop().run_in_executor(None, self._log.close)

    def _build_doors(self) -> None:
        places: dict[str, ReaderPlace] = {}
        for cfg in self._site.doors:
            door = DoorController(
                cfg,
                self._modules.get(cfg.module),
                self.recorder,
                self.bus,
                self._clock,
                on_event=self._on_door_event,
            )
            self._doors[cfg.id] = door
            self._inputs[(cfg.module, cfg.contact_input)] = door.contact
            if cfg.rex_input is not None:
                self._inputs[(cfg.module, cfg.rex_input)] = _on_rising(door.rex)
            for rid, direction in (
                (cfg.entry_reader, Direction.IN),
                (cfg.exit_reader, Direction.OUT),
            ):
                if rid is not None:
                    places[rid] = ReaderPlace(rid, door, direction)
        door_of = {rid: p.door.cfg.id for rid, p in places.items()}
        for r in self._site.readers:
            self._reader_state[r.id] = ReaderStatus(
                r.id, door_of.get(r.id), online=False, secure=False, tamper=False
            )
            if r.tamper_input is not None:
                rid = r.id
                self._inputs[(r.tamper_input.module, r.tamper_input.point)] = (
                    lambda active, rid=rid: self._on_tamper(ReaderTamper(rid, active))  # type: ignore[misc]
                )
        self.badges = BadgeHandler(
            places=places,
            readers=self._reader_of,
            index=self.index,
            calendar=self._calendar,
            recorder=self.recorder,
            pins=self._pins,
            pin_policy=self._site.pin,
            utcnow=self._clock,
            zones=self.zones,
            rules={z.id: zone_rules(z) for z in self._site.zones},
            windows={z.id: zone_window(z) for z in self._site.zones},
            interlock_clear=self.modes.interlock_clear,
            on_supervisor=self.modes.supervisor_entered,
            camera_watch=lambda zone_id: self.camera_watch(zone_id),  # noqa: PLW0108 -- late-bound: set by the camera service
        )

    def _on_door_event(self, door: DoorController, e: sm.Emit) -> None:
        """Passages through doors feed the zones' occupancy."""
        if e.kind is RecordKind.ACCESS_TAKEN and e.passage is not None:
            self.zones.passed(door.cfg.zone, door.cfg.id, e.passage)
        elif e.kind is RecordKind.DOOR_OPENED and ("by", "rex") in e.detail:
            self.zones.rex_exit(door.cfg.zone, door.cfg.id)

    # --- device events (on the loop thread) ---------------------------------------------------

    def _on_device_event(self, ev: DeviceEvent) -> None:
        for tap in self.device_taps:
            tap(ev)
        if isinstance(ev, CardRead | CardUnreadable):
            assert self.badges is not None
            self.badges.on_card(ev)
        elif isinstance(ev, KeypadKeys):
            assert self.badges is not None
            self.badges.on_keys(ev)
        elif isinstance(ev, InputChanged):
            handler = self._inputs.get((ev.module_id, ev.point))
            if handler is not None:
                handler(ev.active)
        elif isinstance(ev, ModuleLink):
            self._on_module_link(ev)
        elif isinstance(ev, ReaderLink):
            self._on_reader_link(ev)
        elif isinstance(ev, ReaderTamper):
            self._on_tamper(ev)

    def _on_module_link(self, ev: ModuleLink) -> None:
        kind = RecordKind.MODULE_ONLINE if ev.online else RecordKind.MODULE_OFFLINE
        self.recorder.submit(
            NewRecord(kind, self._clock(), detail={"module": ev.module_id, "detail": ev.detail})
        )
        if not ev.online:
            for door in self._doors.values():
                if door.cfg.module == ev.module_id:
                    door.link_lost(ev.detail or "module offline")
        # Coming back online is seen through the first InputChanged of each contact.

    def _on_reader_link(self, ev: ReaderLink) -> None:
        old = self._reader_state.get(ev.reader_id)
        if old is None:
            return
        new = ReaderStatus(old.reader_id, old.door_id, ev.online, ev.secure, old.tamper)
        if new == old:
            return
        self._reader_state[ev.reader_id] = new
        self.bus.publish(ReaderChanged(new))
        if new.online != old.online:
            kind = RecordKind.READER_ONLINE if ev.online else RecordKind.READER_OFFLINE
            detail = {"secure": ev.secure, "detail": ev.detail}
            self.recorder.submit(
                NewRecord(
                    kind, self._clock(), door_id=old.door_id, reader_id=ev.reader_id, detail=detail
                )
            )

    def _on_tamper(self, ev: ReaderTamper) -> None:
        old = self._reader_state.get(ev.reader_id)
        if old is None or old.tamper == ev.active:
            return
        new = ReaderStatus(old.reader_id, old.door_id, old.online, old.secure, ev.active)
        self._reader_state[ev.reader_id] = new
        self.bus.publish(ReaderChanged(new))
        kind = RecordKind.READER_TAMPER if ev.active else RecordKind.READER_TAMPER_CLEARED
        self.recorder.submit(
            NewRecord(kind, self._clock(), door_id=old.door_id, reader_id=ev.reader_id)
        )

    # --- AccessCore ---------------------------------------------------------------------------

    @property
    def site(self) -> SiteConfig:
        """The loaded site file."""
        return self._site

    def doors(self) -> list[DoorStatus]:
        """Every door's live status, in site-file order."""
        return [d.status() for d in self._doors.values()]

    def door(self, door_id: str) -> DoorController:
        """The controller of one door; UnknownDoor when there is none."""
        try:
            return self._doors[door_id]
        except KeyError:
            raise UnknownDoor(door_id) from None

    def readers(self) -> list[ReaderStatus]:
        """Every reader's live status, in site-file order."""
        return list(self._reader_state.values())

    async def momentary_unlock(self, door_id: str, actor: str, note: str | None) -> int:
        """Release a door from the desk for its strike time; recorded before the strike moves."""
        door = self.door(door_id)
        if not door.available:
            raise DoorUnavailable(f"door {door_id} is in fault: its lock cannot be driven")
        rec = NewRecord(
            RecordKind.DOOR_UNLOCK,
            self._clock(),
            door_id=door_id,
            zone_id=door.cfg.zone,
            actor=actor,
            detail={"note": note} if note else {},
        )
        seq = await self.record(rec)
        await door.release(sm.ReleaseKind.DESK)
        return seq

    def occupancy(self, zone_id: str) -> list[dict[str, object]]:
        """Who is inside a zone now, in order of entry (UnknownZone when there is none)."""
        try:
            z = self.zones.occupancy(zone_id)
        except KeyError:
            raise UnknownZone(zone_id) from None
        return [_occupant(o) for o in z.occupants]

    async def set_door_mode(
        self, door_id: str, mode: DoorMode, actor: str, reason: str | None
    ) -> int:
        """Set a door's mode from the desk; returns the record's seq (ModeRefused when unsafe)."""
        self.door(door_id)
        return await self.modes.set_mode(door_id, mode, actor, reason)

    async def lockdown(self, zone_id: str, actor: str, reason: str | None) -> int:
        """Lock down every entrance of a zone; returns the record's seq."""
        try:
            return await self.modes.lockdown(zone_id, actor, reason)
        except KeyError:
            raise UnknownZone(zone_id) from None

    async def release_lockdown(self, zone_id: str, actor: str, reason: str | None) -> int:
        """End a zone's lockdown; returns the record's seq."""
        try:
            return await self.modes.release_lockdown(zone_id, actor, reason)
        except KeyError:
            raise UnknownZone(zone_id) from None

    async def forgive_passback(
        self, zone_id: str, person_id: str, actor: str, note: str | None
    ) -> int:
        """Reset a person's anti-passback state in a zone; returns the record's seq."""
        try:
            return await self.zones.forgive(zone_id, person_id, actor, note)
        except KeyError:
            raise UnknownZone(zone_id) from None

    async def reload_person(self, person_id: str) -> None:
        """Refresh the decision index for one person after the API changed their data."""
        pins = {e.credential_id: e.pin_hash for e in self.index.entries_of(person_id)}
        await asyncio.get_running_loop().run_in_executor(
            None, self.index.reload_person, self._engine, person_id
        )
        for e in self.index.entries_of(person_id):
            if e.credential_id in pins and pins[e.credential_id] != e.pin_hash:
                self._pins.reset(e.credential_id)  # a new PIN starts with a clean count

    async def record(self, rec: NewRecord) -> int:
        """Append a record durably; returns its seq."""
        return await self.recorder.append(rec)

    async def record_intent(self, rec: NewRecord) -> int | None:
        """Append an operator record staged in the outbox; None when held for retry."""
        return await self.intents.write(rec)

    def live(self) -> AsyncIterator[LiveUpdate]:
        """Updates for dashboards."""
        return self._live.updates()


def zone_rules(z: ZoneConfig) -> ZoneRules:
    """The decision's view of a zone's rules."""
    return ZoneRules(
        zone_id=z.id,
        anti_passback=z.anti_passback,
        passback_timeout_s=z.passback_timeout_s,
        require_purpose=z.require_purpose,
        require_training=z.require_training,
        recertify_days=z.recertify_days,
        escort_required=z.escort.required,
        contractors_escorted=z.escort.contractors,
        two_person=z.two_person,
        camera_monitored=z.escort.monitored_by_camera,
    )


def zone_window(z: ZoneConfig) -> float:
    """How long a person waits at a zone's door for an escort or a second person."""
    return z.two_person_window_s if z.two_person else z.escort.window_s


def _occupant(o: Occupant) -> dict[str, object]:
    return {
        "person_id": o.person_id,
        "person_kind": o.person_kind,
        "since": o.since,
        "escorted_by": o.escorted_by,
        "entry_seq": o.entry_seq,
    }


async def loop_run(fn: Callable[[], None]) -> None:
    """Run a blocking call in a worker thread."""
    await asyncio.get_running_loop().run_in_executor(None, fn)


def _on_rising(action: Callable[[], None]) -> Callable[[bool], None]:
    def handler(active: bool) -> None:
        if active:
            action()

    return handler
