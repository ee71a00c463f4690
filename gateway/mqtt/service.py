"""Sekisho on the MQTT bus: state and events out, Home Assistant discovery, commands and sensors in.

Out (topic scheme in ``docs/mqtt.md``): the gateway's status (retained, last will ``offline``),
door, zone, reader and sensor state (retained, latest wins, re-sent on every connection), and
records and alarm transitions as events (QoS 1, not retained). Events go through the durable
outbox first, whether or not the broker is up: they are delivered in order once it is, each
with its original time, and deleted then. In: commands (``gateway.mqtt.commands``), Home
Assistant's birth message (re-announce), and MQTT sensors (``gateway.mqtt.sensors``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Engine

from gateway.alarms.model import AlarmState, AlarmView
from gateway.bus import Bus
from gateway.clock import utcnow
from gateway.config.site import SiteConfig
from gateway.core_api import DoorStatus, ReaderStatus
from gateway.core_events import (
    AlarmChanged,
    DoorChanged,
    ReaderChanged,
    RecordWritten,
    SensorChanged,
)
from gateway.environment.model import SensorState
from gateway.mqtt import payloads
from gateway.mqtt.commands import (
    MAX_COMMAND_BYTES,
    AlarmCommands,
    CommandGate,
    CommandRefused,
    CommandRequest,
    CommandRunner,
    DoorCommands,
    Refusal,
    ZoneCommands,
)
from gateway.mqtt.config import MqttConfig
from gateway.mqtt.discovery import announcements
from gateway.mqtt.link import (
    Incoming,
    LinkDown,
    LinkEvent,
    LinkUp,
    MessageRefused,
    MqttLink,
    Outgoing,
    SessionPlan,
    Subscription,
)
from gateway.mqtt.outbox import Outbox, OutboxEvent
from gateway.mqtt.sensors import SensorUpdate, SensorWatch
from gateway.mqtt.tasks import cancel_and_wait
from gateway.mqtt.topics import OFFLINE, ONLINE, Topics
from gateway.ports import DeviceFault
from gateway.records import NewRecord, RecordKind

log = logging.getLogger(__name__)

BATCH = 200  # outbox rows sent per round
PUBACK_TIMEOUT_S = 15.0  # a broker this slow is treated as gone; the event is sent again
DRAIN_S = 3.0  # at stop: how long to keep delivering what is waiting
REPLY_EXPIRY_S = 60
COMMAND_QUEUE = 256  # commands waiting to be handled; beyond, they are refused (busy)
REFRESH_S = 2.0  # how often door, zone and reader states are read from the core
RECORD_TRIES = 30  # a record the log refuses (not started yet) is tried once a second


class MqttCore(DoorCommands, Protocol):
    """What the service needs of the running gateway (``gateway.runtime.Gateway``)."""

    bus: Bus

    @property
    def site(self) -> SiteConfig:
        """The loaded site file."""

    def doors(self) -> list[DoorStatus]:
        """Every door's live status."""

    def readers(self) -> list[ReaderStatus]:
        """Every reader's live status."""

    async def record(self, rec: NewRecord) -> int:
        """Append a record durably."""


class AlarmService(AlarmCommands, Protocol):
    """What the service uses of the alarm console (``gateway.alarms.service``)."""

    def active(self) -> list[AlarmView]:
        """Alarms not yet closed."""


@dataclass(frozen=True, slots=True)
class MqttStatus:
    """How the bus is doing, for health pages and tests."""

    connected: bool
    backlog: int  # events waiting in the outbox (and not yet stored)
    delivered: int  # events the broker acknowledged since start
    dropped: int  # events not kept because the outbox was full
    commands_done: int
    commands_refused: int


class MqttService:
    """One site's MQTT integration."""

    def __init__(
        self,
        core: MqttCore,
        engine: Engine,
        link: MqttLink,
        *,
        alarms: AlarmService | None = None,
        zones: ZoneCommands | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """Wire the service to the core, the database and the broker link (nothing runs yet)."""
        site = core.site
        if site.mqtt is None:
            raise ValueError("the site file has no mqtt: section")
        self._cfg: MqttConfig = site.mqtt
        self._site = site
        self._core = core
        self._link = link
        self._alarms = alarms
        self._clock = clock
        self.topics = Topics(self._cfg.topic_prefix(site.site.id), self._cfg.discovery.prefix)
        self._outbox = Outbox(engine, site.site.id)
        self._gate = CommandGate(self._cfg.commands, self.topics)
        self._runner = CommandRunner(core, frozenset(z.id for z in site.zones), zones, alarms)
        self._sensors: SensorWatch | None = None
        self._pending: deque[OutboxEvent] = deque()  # events not yet in the outbox
        self._stored = 0  # rows in the outbox
        self._retained: dict[str, bytes] = {}  # latest state per retained topic
        self._dirty: dict[str, None] = {}  # retained topics to (re)publish, in order
        self._active: dict[str, AlarmView] = {}
        self._recorded: dict[str, SensorState] = {}  # last sensor state written to the log
        self._refusals: dict[str, _Quota] = {}  # per MQTT user
        self._tasks: set[asyncio.Task[Any]] = set()
        self._workers: list[asyncio.Task[None]] = []
        self._unsubscribe: list[Callable[[], None]] = []
        self._commands: asyncio.Queue[Incoming] | None = None
        self._wake_pump: asyncio.Event | None = None
        self._wake_state: asyncio.Event | None = None
        self._stopping = False
        self._drain_until = 0.0
        self._full_noted = False
        self._delivered = self._dropped = self._done = self._refused = 0

    # --- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on the core's bus and start connecting; returns without waiting for the broker.

        Start it before the gateway so that the gateway's own start-up events are sent too.
        """
        loop = asyncio.get_running_loop()
        self._commands = asyncio.Queue(COMMAND_QUEUE)
        self._wake_pump, self._wake_state = asyncio.Event(), asyncio.Event()
        self._sensors = SensorWatch(self._cfg.sensors, loop.time())
        self._stored = await loop.run_in_executor(None, self._outbox.count)
        bus = self._core.bus
        self._unsubscribe = [
            bus.subscribe(RecordWritten, self._on_record),
            bus.subscribe(DoorChanged, self._on_door),
            bus.subscribe(ReaderChanged, self._on_reader),
            bus.subscribe(AlarmChanged, self._on_alarm),
            bus.subscribe(SensorChanged, self._on_sensor),
        ]
        if self._alarms is not None:
            self._active = {a.alarm_id: a for a in self._alarms.active()}
        self._workers = [
            loop.create_task(self._pump(), name="mqtt-outbox"),
            loop.create_task(self._publish_state(), name="mqtt-state"),
            loop.create_task(self._handle_commands(), name="mqtt-commands"),
            loop.create_task(self._tick(), name="mqtt-tick"),
        ]
        if self._stored:
            log.info("MQTT outbox: %d events from before wait for the broker", self._stored)
        await self._link.start(self._on_link, self._plan())

    async def stop(self) -> None:
        """Store what is pending, deliver what can be in a moment, say offline, disconnect."""
        if self._stopping or self._wake_pump is None:
            return
        loop = asyncio.get_running_loop()
        self._stopping = True
        self._drain_until = loop.time() + DRAIN_S
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        pump, *others = self._workers
        await cancel_and_wait(others, 5.0)
        self._wake_pump.set()  # the pump stores what is pending and drains for DRAIN_S
        _, running = await asyncio.wait({pump}, timeout=DRAIN_S + PUBACK_TIMEOUT_S)
        if running:
            log.warning("MQTT outbox: stopped while storing; events may be sent twice")
            await cancel_and_wait(running, 5.0)
        if self._tasks:  # records and announcements under way: a moment, then give up
            _, late = await asyncio.wait(set(self._tasks), timeout=1.0)
            await cancel_and_wait(late, 2.0)
        if self._link.connected:
            offline = Outgoing(self.topics.status, OFFLINE, qos=1, retain=True)
            with contextlib.suppress(DeviceFault, TimeoutError):
                async with asyncio.timeout(2.0):
                    await self._link.publish(offline)
        await self._link.stop()
        if self._pending:
            log.error("MQTT: %d events could not be stored before stop", len(self._pending))

    def status(self) -> MqttStatus:
        """Counters and the link state."""
        return MqttStatus(
            self._link.connected,
            self._stored + len(self._pending),
            self._delivered,
            self._dropped,
            self._done,
            self._refused,
        )

    def _plan(self) -> SessionPlan:
        """The last will and the subscriptions every connection sets up."""
        subs = [
            # Commands: stored retained ones are never sent to us, and a retain flag is kept
            # so that a retained command published while we listen is refused.
            Subscription(self.topics.commands, qos=1, retained=False, see_retain_flag=True),
        ]
        if self._cfg.discovery.enabled:
            subs.append(Subscription(self.topics.ha_status, qos=1))
        assert self._sensors is not None
        subs += [Subscription(t, qos=1) for t in self._sensors.topics]
        return SessionPlan(Outgoing(self.topics.status, OFFLINE, qos=1, retain=True), subs)

    # --- bus (loop thread, must not block) ----------------------------------------------------

    def _on_record(self, e: RecordWritten) -> None:
        """A committed record: queued for the outbox when its kind is published."""
        kind = e.record.kind.value
        if payloads.publishes(kind):
            body = payloads.record_event(self._site.site.id, e.seq, e.record)
            self._queue(OutboxEvent(self.topics.event(kind), body, e.record.ts))

    def _on_door(self, e: DoorChanged) -> None:
        """A door's status: its retained state, and its zone's."""
        self._set(self.topics.door(e.status.door_id), payloads.door_state(e.status))
        self._set_zone(e.status.zone_id)

    def _on_reader(self, e: ReaderChanged) -> None:
        """A reader's status: its retained state."""
        self._set(self.topics.reader(e.status.reader_id), payloads.reader_state(e.status))

    def _on_alarm(self, e: AlarmChanged) -> None:
        """An alarm transition: queued as an event; the active-alarm summary updated."""
        now = self._clock()
        self._queue(OutboxEvent(self.topics.alarm_event, payloads.alarm_event(e.alarm, now), now))
        if e.alarm.state is AlarmState.CLOSED:
            self._active.pop(e.alarm.alarm_id, None)
        else:
            self._active[e.alarm.alarm_id] = e.alarm
        self._set(self.topics.alarms_active, payloads.alarms_active(self._active.values()))

    def _on_sensor(self, e: SensorChanged) -> None:
        """A sensor's state or value: its retained state."""
        body = payloads.sensor_state(
            sensor_id=e.sensor_id,
            name=e.name,
            kind=e.kind.value,
            zone_id=e.zone_id,
            state=e.state.value,
            value=e.value,
            unit=e.unit,
            ts=self._clock(),
        )
        self._set(self.topics.sensor(e.sensor_id), body)

    def _queue(self, event: OutboxEvent) -> None:
        """Keep an event in memory until the pump stores it (in order)."""
        self._pending.append(event)
        if self._wake_pump is not None:
            self._wake_pump.set()

    def _set(self, topic: str, payload: bytes) -> None:
        """Remember a retained payload; mark it to be sent when it changed."""
        if self._retained.get(topic) == payload:
            return
        self._retained[topic] = payload
        self._dirty[topic] = None
        if self._wake_state is not None:
            self._wake_state.set()

    def _set_zone(self, zone_id: str) -> None:
        """Recompute one zone's retained state from the site file and the live doors."""
        try:
            zone = self._site.zone(zone_id)
        except KeyError:
            return
        doors = [d.id for d in self._site.doors if d.zone == zone.id]
        body = payloads.zone_state(zone.id, zone.name, zone.kind.value, doors, self._core.doors())
        self._set(self.topics.zone(zone.id), body)

    def _refresh(self) -> None:
        """Read every door, zone and reader state from the core; changes are marked to be sent.

        Run at every connection and every few seconds: a state the core did not announce on
        the bus (a door that starts in fault and stays there) still goes out.
        """
        for d in self._core.doors():
            self._set(self.topics.door(d.door_id), payloads.door_state(d))
        for z in self._site.zones:
            self._set_zone(z.id)
        for r in self._core.readers():
            self._set(self.topics.reader(r.reader_id), payloads.reader_state(r))
        self._set(self.topics.alarms_active, payloads.alarms_active(self._active.values()))

    def _snapshot(self) -> None:
        """Every retained state from the core now, all marked to be sent."""
        self._refresh()
        for topic in self._retained:
            self._dirty[topic] = None
        assert self._wake_state is not None
        self._wake_state.set()

    # --- link events (loop thread) -------------------------------------------------------------

    def _on_link(self, ev: LinkEvent) -> None:
        """Link up, link down or a message, on the loop thread."""
        if self._stopping:
            return
        assert self._sensors is not None
        assert self._wake_pump is not None
        if isinstance(ev, LinkUp):
            loop = asyncio.get_running_loop()
            self._sensors.link_up(loop.time())
            self._record(
                NewRecord(
                    RecordKind.MQTT_CONNECTED,
                    self._clock(),
                    detail={
                        "broker": f"{self._cfg.host}:{self._cfg.port}",
                        "backlog": self._stored + len(self._pending),
                        "refused_subscriptions": list(ev.refused),
                    },
                )
            )
            self._spawn(self._announce())
            self._wake_pump.set()
        elif isinstance(ev, LinkDown):
            self._record(
                NewRecord(
                    RecordKind.MQTT_DISCONNECTED,
                    self._clock(),
                    detail={"broker": f"{self._cfg.host}:{self._cfg.port}", "reason": ev.reason},
                )
            )
            self._sensor_updates(self._sensors.link_down())
        else:
            self._on_message(ev)

    def _on_message(self, msg: Incoming) -> None:
        """Route a delivered message: a command, Home Assistant's status, or a sensor."""
        assert self._sensors is not None
        assert self._commands is not None
        if msg.topic.startswith(self.topics.prefix + "/cmd/"):
            try:
                self._commands.put_nowait(msg)
            except asyncio.QueueFull:
                self._spawn(self._refuse(msg, CommandRefused(Refusal.UNAVAILABLE, "busy")))
        elif msg.topic == self.topics.ha_status and self._cfg.discovery.enabled:
            if msg.payload.strip() == ONLINE:
                self._spawn(self._announce())
        else:
            now = asyncio.get_running_loop().time()
            self._sensor_updates(self._sensors.on_message(msg.topic, msg.payload, now))

    async def _announce(self) -> None:
        """Say online, send every discovery config, then every retained state."""
        link = self._link
        futures = [link.publish(Outgoing(self.topics.status, ONLINE, qos=1, retain=True))]
        if self._cfg.discovery.enabled:
            for a in announcements(self._site, self.topics, self._cfg.discovery.command_user):
                body = payloads.dumps(a.config)
                futures.append(link.publish(Outgoing(a.topic, body, qos=1, retain=True)))
        results = await asyncio.gather(*futures, return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            log.warning(
                "MQTT announce: %d of %d not sent (%s)", len(failed), len(results), failed[0]
            )
        self._snapshot()

    # --- outbox ---------------------------------------------------------------------------------

    async def _pump(self) -> None:
        """Store and send events whenever woken; storage trouble is retried, never fatal."""
        assert self._wake_pump is not None
        while True:
            await self._wake_pump.wait()
            self._wake_pump.clear()
            again = False
            try:
                again = await self._pump_once()
            except Exception:  # storage trouble: keep the events in memory and try again
                log.exception("MQTT outbox: storing or sending failed; retrying in 1 s")
                again = True
            if self._stopping:
                return
            if again:  # a slow broker or storage trouble: once more in a second
                await asyncio.sleep(1.0)
                self._wake_pump.set()

    async def _pump_once(self) -> bool:
        """Store what is pending, then send the oldest rows while the link is up.

        True when rows are left although the link is up (the broker did not answer in time).
        """
        loop = asyncio.get_running_loop()
        while True:
            await self._store_pending()
            if not self._link.connected or self._stored == 0:
                return False
            if self._stopping and loop.time() > self._drain_until:
                return False
            rows = await loop.run_in_executor(None, self._outbox.head, BATCH)
            if len(rows) < BATCH:
                self._stored = len(rows)  # exact again, whatever happened before
            if not rows:
                return False
            sent = [
                self._link.publish(Outgoing(r.topic, r.payload, qos=1, retain=False)) for r in rows
            ]
            last_ok: int | None = None
            broken: BaseException | None = None
            for row, fut in zip(rows, sent, strict=True):
                try:
                    async with asyncio.timeout(PUBACK_TIMEOUT_S):
                        await asyncio.shield(fut)
                except (DeviceFault, TimeoutError) as exc:
                    if _refused_by_broker(exc):
                        log.warning("MQTT broker refused event %s (%s): dropped", row.topic, exc)
                    else:
                        broken = exc
                        break
                last_ok = row.id
            for fut in sent:  # the rest fail with the link; their outcome is not needed
                fut.add_done_callback(_consume)
            if last_ok is not None:
                gone = await loop.run_in_executor(None, self._outbox.remove_through, last_ok)
                self._stored = max(0, self._stored - gone)
                self._delivered += gone
            if broken is not None:
                log.info("MQTT outbox: %d events wait for the broker (%s)", self._stored, broken)
                return self._link.connected

    async def _store_pending(self) -> None:
        """Write the pending events to the outbox in one transaction (up to the cap)."""
        if not self._pending:
            return
        batch = list(self._pending)
        room = max(0, self._cfg.outbox_max_rows - self._stored)
        keep = batch[:room]
        await asyncio.get_running_loop().run_in_executor(None, self._outbox.add, keep)
        for _ in batch:
            self._pending.popleft()
        self._stored += len(keep)
        if len(keep) < len(batch):
            self._outbox_full(len(batch) - len(keep))
        elif self._stored < self._cfg.outbox_max_rows // 2:
            self._full_noted = False

    def _outbox_full(self, dropped: int) -> None:
        """Count events not kept; record the first time in an episode."""
        self._dropped += dropped
        log.error("MQTT outbox full (%d rows): %d events not kept", self._stored, dropped)
        if not self._full_noted:
            self._full_noted = True
            self._record(
                NewRecord(
                    RecordKind.SYSTEM,
                    self._clock(),
                    detail={"event": "mqtt outbox full", "rows": self._stored, "dropped": dropped},
                )
            )

    # --- retained state -------------------------------------------------------------------------

    async def _publish_state(self) -> None:
        """Send changed retained states while the link is up (latest wins)."""
        assert self._wake_state is not None
        while True:
            await self._wake_state.wait()
            self._wake_state.clear()
            while self._dirty and self._link.connected:
                topic = next(iter(self._dirty))
                del self._dirty[topic]
                msg = Outgoing(topic, self._retained[topic], qos=1, retain=True)
                try:
                    async with asyncio.timeout(PUBACK_TIMEOUT_S):
                        await self._link.publish(msg)
                except (DeviceFault, TimeoutError) as exc:
                    if not _refused_by_broker(exc):
                        self._dirty[topic] = None  # sent again with the next connection
                        break
                    log.warning("MQTT broker refused state %s (%s)", topic, exc)

    # --- commands -------------------------------------------------------------------------------

    async def _handle_commands(self) -> None:
        """Take commands one at a time, in the order they arrived."""
        assert self._commands is not None
        while True:
            msg = await self._commands.get()
            try:
                await self._command(msg)
            except Exception:  # one bad command must not stop the others
                log.exception("MQTT command on %s failed", msg.topic)

    async def _command(self, msg: Incoming) -> None:
        """Check, carry out and answer one command; refusals are recorded."""
        try:
            req = self._gate.admit(msg, self._clock())
            seq = await self._runner.run(req)
        except CommandRefused as exc:
            await self._refuse(msg, exc)
            return
        self._done += 1
        log.info("MQTT %s %s by %s (seq %s)", req.command.value, req.target, req.actor, seq)
        self._reply(
            user=req.user,
            topic=msg.topic,
            request_id=req.request_id,
            refused=None,
            seq=seq,
            req=req,
        )

    async def _refuse(self, msg: Incoming, exc: CommandRefused) -> None:
        """Record (within the user's quota) and answer a refused command."""
        self._refused += 1
        user = self.topics.command_user(msg.topic)
        where = self.topics.parse_command(msg.topic)
        log.warning("MQTT command refused (%s) on %s", exc, msg.topic[:200])
        held = self._hold_refusal(user or "")
        if held is None:
            return
        door = where.target_id if where is not None and where.target_kind == "door" else None
        zone = where.target_id if where is not None and where.target_kind == "zone" else None
        detail: dict[str, object] = {
            "topic": msg.topic[:200],
            "detail": exc.detail[:200],
            "bytes": len(msg.payload),
            "retained": msg.retain,
        }
        if held:
            detail["refusals_not_recorded"] = held
        rec = NewRecord(
            RecordKind.MQTT_COMMAND_REFUSED,
            self._clock(),
            door_id=door if door in {d.id for d in self._site.doors} else None,
            zone_id=zone if zone in {z.id for z in self._site.zones} else None,
            actor=f"mqtt:{user}"[:64] if user else None,
            reason=exc.reason.value,
            detail=detail,
        )
        try:
            await self._core.record(rec)
        except Exception:  # the log's own trouble is reported there
            log.exception("refused MQTT command not recorded")
        if user is not None and exc.reason is not Refusal.MALFORMED_TOPIC:
            rid = _request_id(msg.payload)
            self._reply(user=user, topic=msg.topic, request_id=rid, refused=exc, seq=None, req=None)

    def _hold_refusal(self, user: str) -> int | None:
        """None: hold this refusal back (the user's per-minute quota is spent); else how many
        were held back before it, to be noted on its record."""
        now = asyncio.get_running_loop().time()
        w = self._refusals.setdefault(user, _Quota(now))
        if now - w.start >= 60.0:
            w.start, w.recorded = now, 0
        if w.recorded >= self._cfg.commands.refusals_per_minute:
            w.held += 1
            return None
        w.recorded += 1
        held, w.held = w.held, 0
        return held

    def _reply(
        self,
        *,
        user: str,
        topic: str,
        request_id: str | None,
        refused: CommandRefused | None,
        seq: int | None,
        req: CommandRequest | None,
    ) -> None:
        """Answer on <prefix>/reply/<user> when connected (never stored, never retried)."""
        if not self._link.connected:
            return
        body = payloads.dumps(
            {
                "id": request_id,
                "topic": topic[:200],
                "ok": refused is None,
                "command": req.command.value if req is not None else None,
                "reason": refused.reason.value if refused is not None else None,
                "detail": refused.detail[:200] if refused is not None else None,
                "seq": seq,
            }
        )
        reply = Outgoing(self.topics.reply(user), body, qos=1, expiry_s=REPLY_EXPIRY_S)
        self._link.publish(reply).add_done_callback(_consume)

    # --- sensors --------------------------------------------------------------------------------

    async def _tick(self) -> None:
        """Sensor silence checks, and a state refresh every REFRESH_S."""
        assert self._sensors is not None
        intervals = [s.interval_s for s in self._cfg.sensors]
        tick = max(0.2, min(1.0, min(intervals) / 4)) if intervals else REFRESH_S
        loop = asyncio.get_running_loop()
        next_refresh = loop.time() + REFRESH_S
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            self._sensor_updates(self._sensors.check_silence(now))
            if now >= next_refresh:
                next_refresh = now + REFRESH_S
                self._refresh()

    def _sensor_updates(self, updates: list[SensorUpdate]) -> None:
        """Publish each change; record each change of state as ``sensor.state``.

        As for module-wired sensors (``gateway.environment``): the alarm catalogue turns the
        records into alarms, NORMAL is assumed until a reading says otherwise, and UNAVAILABLE
        (broker lost) is published but not recorded (``mqtt.disconnected`` says it).
        """
        for u in updates:
            cfg = u.cfg
            self._core.bus.publish(
                SensorChanged(
                    cfg.id, cfg.kind, u.state, u.value, cfg.shown_unit, cfg.zone, cfg.name or cfg.id
                )
            )
            previous = self._recorded.get(cfg.id, SensorState.NORMAL)
            if u.state is SensorState.UNAVAILABLE or u.state is previous:
                continue
            self._recorded[cfg.id] = u.state
            detail: dict[str, object] = {
                "sensor": cfg.id,
                "sensor_kind": cfg.kind.value,
                "state": u.state.value,
                "previous": previous.value,
                "source": "mqtt",
                "topic": cfg.topic,
            }
            if u.value is not None:
                detail["value"] = u.value
                detail["unit"] = cfg.shown_unit
            if u.fault is not None:
                detail["fault"] = u.fault
            if u.junk_count:
                detail["junk_payloads"] = u.junk_count
            self._record(
                NewRecord(RecordKind.SENSOR_STATE, self._clock(), zone_id=cfg.zone, detail=detail)
            )

    # --- helpers --------------------------------------------------------------------------------

    def _record(self, rec: NewRecord) -> None:
        """Write a record in the background (not while stopping)."""
        if self._stopping:
            return
        self._spawn(self._write(rec))

    async def _write(self, rec: NewRecord) -> None:
        """Write a record; while the log does not take it (not started yet), try again."""
        for _ in range(RECORD_TRIES - 1):
            try:
                await self._core.record(rec)
            except Exception as exc:  # noqa: BLE001 -- any log failure: wait and try again
                log.debug("MQTT: record %s not written yet (%s)", rec.kind.value, exc)
                await asyncio.sleep(1.0)
            else:
                return
        try:
            await self._core.record(rec)
        except Exception:  # the log's own trouble is reported there
            log.exception("MQTT: record %s not written", rec.kind.value)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a coroutine as a task that stop() can wait for."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


@dataclass(slots=True)
class _Quota:
    """Refusal records of one MQTT user in the current minute."""

    start: float
    recorded: int = 0
    held: int = 0  # refusals not recorded since the last recorded one


def _request_id(payload: bytes) -> str | None:
    """The ``id`` of a refused command, if its payload is small JSON that has a usable one."""
    if len(payload) > MAX_COMMAND_BYTES:
        return None
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    rid = data.get("id") if isinstance(data, dict) else None
    return rid if isinstance(rid, str) and 0 < len(rid) <= 64 else None


def _refused_by_broker(exc: BaseException) -> bool:
    """True for a broker's refusal of one message (as opposed to a lost link)."""
    return isinstance(exc, MessageRefused)


def _consume(fut: asyncio.Future[None]) -> None:
    """Retrieve a future's outcome so that an unneeded failure is not reported as unhandled."""
    if not fut.cancelled():
        fut.exception()
