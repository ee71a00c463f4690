"""Sekisho on the MQTT bus: state and events out, Home Assistant discovery, commands and sensors in.

Out (topic scheme in ``docs/mqtt.md``): the gateway's status (retained, last will ``offline``),
door, zone, reader and sensor state (retained, latest wins, re-sent on every connection), and
records and alarm transitions as events (QoS 1, not retained). Both are durable before they
are sent and delivered in order, at least once, each with its original time: records are in
the record log already, so a cursor (``gateway.mqtt.cursor``) says how far the broker has them
and the rest are sent from memory while the stream keeps up, else read back from the log
(``gateway.mqtt.stream``); alarm transitions go through the outbox table first and are deleted
once delivered. In: commands (``gateway.mqtt.commands``), Home Assistant's birth message
(re-announce), and MQTT sensors (``gateway.mqtt.sensors``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
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
from gateway.mqtt.cursor import RecordCursor
from gateway.mqtt.discovery import announcements
from gateway.mqtt.link import (
    BatchBroken,
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
from gateway.mqtt.stream import Fold, RecordStream
from gateway.mqtt.tasks import cancel_and_wait
from gateway.mqtt.topics import OFFLINE, ONLINE, Topics
from gateway.ports import DeviceFault
from gateway.records import NewRecord, RecordKind
from gateway.storage.queries import StoredRecord

log = logging.getLogger(__name__)

BATCH = 200  # outbox rows sent per round
RECORD_BATCH = 256  # record events per round: one completion; ~4 ms of paho calls on the loop
INLINE_PAYLOADS = 32  # up to this many record payloads are made on the loop, more in a thread
LIVE_MAX = 20_000  # records kept in memory for sending; beyond, they are read from the log
GAP_S = 0.5  # a seq the bus has not announced for this long is read from the log
CURSOR_SAVE_S = 0.5  # the cursor is stored at most this often (a crash re-sends up to this)
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
    backlog: int  # events not yet acknowledged: records after the cursor, alarm events
    delivered: int  # events the broker acknowledged since start
    dropped: int  # events not kept (not sent) because the backlog was full
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
        self._outbox = Outbox(engine, site.site.id)  # alarm transitions
        self._cursor = RecordCursor(engine, site.site.id)  # records: read from the log
        self._stream = RecordStream(0, 0, 0)  # replaced at start
        self._saved_cursor = 0
        self._saved_at = 0.0
        self._gap_since: float | None = None  # when the stream first waited on a missing seq
        self._older_rows = 0  # outbox rows from before this start: they go before any record
        self._gate = CommandGate(self._cfg.commands, self.topics)
        self._runner = CommandRunner(core, frozenset(z.id for z in site.zones), zones, alarms)
        self._sensors: SensorWatch | None = None
        self._pending: deque[OutboxEvent] = deque()  # alarm events not yet in the outbox
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
        self._wake_records: asyncio.Event | None = None
        self._wake_outbox: asyncio.Event | None = None
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
        self._wake_records, self._wake_outbox = asyncio.Event(), asyncio.Event()
        self._wake_state = asyncio.Event()
        self._sensors = SensorWatch(self._cfg.sensors, loop.time())
        self._stored = await loop.run_in_executor(None, self._outbox.count)
        self._older_rows = self._stored
        cursor, head = await loop.run_in_executor(None, self._cursor.open)
        in_log = await loop.run_in_executor(None, self._cursor.count_published, cursor, head)
        self._stream = RecordStream(cursor, head, in_log)
        self._saved_cursor, self._saved_at = cursor, loop.time()
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
            loop.create_task(self._pump_records(), name="mqtt-records"),
            loop.create_task(self._pump_outbox(), name="mqtt-outbox"),
            loop.create_task(self._publish_state(), name="mqtt-state"),
            loop.create_task(self._handle_commands(), name="mqtt-commands"),
            loop.create_task(self._tick(), name="mqtt-tick"),
        ]
        if self._stored or in_log:
            log.info(
                "MQTT: %d records (after seq %d) and %d outbox events from before wait for "
                "the broker",
                in_log,
                cursor,
                self._stored,
            )
        await self._link.start(self._on_link, self._plan())

    async def stop(self) -> None:
        """Store what is pending, deliver what can be in a moment, say offline, disconnect."""
        if self._stopping or self._wake_records is None or self._wake_outbox is None:
            return
        loop = asyncio.get_running_loop()
        self._stopping = True
        self._drain_until = loop.time() + DRAIN_S
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        pumps, others = self._workers[:2], self._workers[2:]
        await cancel_and_wait(others, 5.0)
        self._wake_records.set()  # the pumps store what is pending and drain for DRAIN_S
        self._wake_outbox.set()
        _, running = await asyncio.wait(pumps, timeout=DRAIN_S + PUBACK_TIMEOUT_S)
        if running:
            log.warning("MQTT: stopped while storing or sending; events may be sent twice")
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
        if self._stream.backlog:
            log.info(
                "MQTT: %d records after seq %d wait in the record log for the next start",
                self._stream.backlog,
                self._saved_cursor,
            )

    def status(self) -> MqttStatus:
        """Counters and the link state."""
        return MqttStatus(
            self._link.connected,
            self._backlog(),
            self._delivered,
            self._dropped,
            self._done,
            self._refused,
        )

    def _backlog(self) -> int:
        """Events not yet acknowledged: records after the cursor, alarm events."""
        return self._stream.backlog + self._stored + len(self._pending)

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
        """A committed record: kept in memory for the pump (its payload is made there)."""
        self._stream.announce(e.seq, e.record, published=payloads.publishes(e.record.kind.value))
        if self._wake_records is not None:  # even one not sent: the ones after it wait for it
            self._wake_records.set()

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
        if self._wake_outbox is not None:
            self._wake_outbox.set()

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
        assert self._wake_records is not None
        assert self._wake_outbox is not None
        if isinstance(ev, LinkUp):
            loop = asyncio.get_running_loop()
            self._sensors.link_up(loop.time())
            self._record(
                NewRecord(
                    RecordKind.MQTT_CONNECTED,
                    self._clock(),
                    detail={
                        "broker": f"{self._cfg.host}:{self._cfg.port}",
                        "backlog": self._backlog(),
                        "refused_subscriptions": list(ev.refused),
                    },
                )
            )
            self._spawn(self._announce())
            self._wake_records.set()
            self._wake_outbox.set()
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

    async def _pump_records(self) -> None:
        """Send record events whenever woken; storage trouble is retried, never fatal."""
        assert self._wake_records is not None
        await self._pump(self._wake_records, self._records_once, self._records_wake, "records")

    async def _pump_outbox(self) -> None:
        """Store and send alarm events whenever woken (on their own: the outbox's database
        round trips never hold the records up)."""
        assert self._wake_outbox is not None
        await self._pump(self._wake_outbox, self._outbox_once, lambda _now: None, "outbox")

    async def _pump(
        self,
        wake: asyncio.Event,
        once: Callable[[], Coroutine[Any, Any, bool]],
        wake_in: Callable[[float], float | None],
        what: str,
    ) -> None:
        """Run ``once`` whenever ``wake`` is set (or ``wake_in`` seconds have passed) until
        stopping; failures are logged and retried a second later."""
        loop = asyncio.get_running_loop()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wake_in(loop.time())):
                    await wake.wait()
            wake.clear()
            again = False
            try:
                again = await once()
            except Exception:  # storage trouble: keep the events and try again
                log.exception("MQTT %s: storing or sending failed; retrying in 1 s", what)
                again = True
            if self._stopping and not wake.is_set():  # (set: stop() came during ``once``)
                return
            if again and not self._stopping:  # a slow broker or storage trouble: once more soon
                await asyncio.sleep(1.0)
                wake.set()

    def _records_wake(self, now: float) -> float | None:
        """Seconds until the records' pump must look again by itself (a gap, a cursor to
        store)."""
        waits = []
        if self._stream.cursor != self._saved_cursor:
            waits.append(self._saved_at + CURSOR_SAVE_S - now)
        if self._stream.gap():
            since = now if self._gap_since is None else self._gap_since
            waits.append(since + GAP_S - now)
        return max(0.0, min(waits)) if waits else None

    async def _records_once(self) -> bool:
        """Keep the record backlog bounded, send the records after the cursor while the link is
        up, then store the cursor if it is due (always when stopping).

        True when records are left although the link is up (the broker did not answer in time).
        """
        try:
            return await self._send_records_while_up()
        finally:
            await self._save_cursor(force=self._stopping)

    async def _send_records_while_up(self) -> bool:
        """See :meth:`_records_once`."""
        loop = asyncio.get_running_loop()
        while True:
            await self._bound_records()
            if not self._link.connected or self._older_rows > 0:
                return False  # (woken when the outbox's older rows are out)
            if self._stopping and loop.time() > self._drain_until:
                return False
            sent, broken = await self._send_records()
            if broken is not None:
                log.info("MQTT: %d records wait for the broker (%s)", self._stream.backlog, broken)
                return self._link.connected
            if sent:
                self._gap_since = None
                continue
            if not self._stream.gap():
                self._gap_since = None
                return False
            # The next seq was not announced (yet): records in memory wait behind it. After
            # GAP_S it is read from the log, with every record announced so far.
            now = loop.time()
            if self._gap_since is None:
                self._gap_since = now
            if now - self._gap_since < GAP_S and not self._stopping:
                return False  # woken again by the next record, or when GAP_S is over
            self._gap_since = None
            await self._fold(why=f"record {self._stream.cursor + 1} not announced in {GAP_S} s")

    async def _outbox_once(self) -> bool:
        """Store the pending alarm events, then send the outbox's rows while the link is up.

        True when rows are left although the link is up (the broker did not answer in time).
        """
        loop = asyncio.get_running_loop()
        while True:
            await self._store_pending()
            if not self._link.connected or self._stored == 0:
                return False
            if self._stopping and loop.time() > self._drain_until:
                return False
            sent, broken = await self._send_outbox()
            if broken is not None:
                log.info("MQTT outbox: %d events wait for the broker (%s)", self._stored, broken)
                return self._link.connected
            if not sent:
                return False

    async def _send_outbox(self) -> tuple[int, BaseException | None]:
        """Send the oldest outbox rows; how many were delivered, and why not all."""
        loop = asyncio.get_running_loop()
        rows = await loop.run_in_executor(None, self._outbox.head, BATCH)
        if len(rows) < BATCH:
            self._stored = len(rows)  # exact again, whatever happened before
        if not rows:
            self._older_delivered(0)
            return 0, None
        answered, broken = await self._send_batch(
            [Outgoing(r.topic, r.payload, qos=1, retain=False) for r in rows]
        )
        if answered:
            gone = await loop.run_in_executor(
                None, self._outbox.remove_through, rows[answered - 1].id
            )
            self._stored = max(0, self._stored - gone)
            self._delivered += gone
            self._older_delivered(gone)
        return answered, broken

    def _older_delivered(self, gone: int) -> None:
        """``gone`` of the oldest outbox rows were delivered: when those from before this start
        are all out, the records' turn has come."""
        if self._older_rows <= 0:
            return
        self._older_rows = 0 if self._stored == 0 else max(0, self._older_rows - gone)
        if self._older_rows == 0 and self._wake_records is not None:
            self._wake_records.set()

    async def _send_records(self) -> tuple[int, BaseException | None]:
        """Send the records after the cursor (from memory, or read back from the log)."""
        loop = asyncio.get_running_loop()
        stream = self._stream
        from_log = stream.reading_log
        batch: list[tuple[int, str, bytes]]  # (seq, topic, payload) of the published ones
        if from_log:
            records = await loop.run_in_executor(
                None, self._cursor.read, stream.cursor, stream.boundary, RECORD_BATCH
            )
            if not records:  # nothing in the log where records should be: do not spin on it
                log.error(
                    "MQTT: records %d..%d not found in the record log; skipped",
                    stream.cursor + 1,
                    stream.boundary,
                )
                stream.acknowledged(stream.boundary, 0, from_log=True)
                return 0, None
            through, covered = records[-1].seq, len(records)
            batch = await loop.run_in_executor(None, self._events, records)
        else:
            taken = stream.take_live(RECORD_BATCH)
            if not taken:
                return 0, None
            through, covered = taken[-1][0], len(taken)
            live = [(seq, rec) for seq, rec in taken if rec is not None]
            if len(live) <= INLINE_PAYLOADS:
                batch = self._events(live)
            else:
                batch = await loop.run_in_executor(None, self._events, live)
        if not batch:  # only records that are not published: nothing to send
            stream.acknowledged(through, 0, from_log=from_log)
            return covered, None
        answered, broken = await self._send_batch(
            [Outgoing(topic, body, qos=1, retain=False) for _, topic, body in batch]
        )
        if answered == len(batch):
            stream.acknowledged(through, answered, from_log=from_log)
        elif answered:
            # up to just before the first unanswered one (records not published included)
            stream.acknowledged(batch[answered][0] - 1, answered, from_log=from_log)
        self._delivered += answered
        if broken is not None and not from_log:
            await self._fold(through, "not acknowledged")  # taken from memory: read again
        return answered, broken

    def _events(self, records: Sequence[tuple[int, NewRecord] | StoredRecord]) -> list[_Event]:
        """``(seq, topic, payload)`` of the published ones among ``records`` (any thread)."""
        site = self._site.site.id
        event_topic = self.topics.event
        out: list[_Event] = []
        for item in records:
            rec: payloads.RecordFields
            if isinstance(item, StoredRecord):
                seq, rec, kind = item.seq, item, item.kind
                if not payloads.publishes(kind):
                    continue
            else:
                seq, rec = item
                kind = item[1].kind.value
            out.append((seq, event_topic(kind), payloads.record_event(site, seq, rec)))
        return out

    async def _fold(self, through: int | None = None, why: str = "") -> None:
        """Read records up to ``through`` (default: all announced) from the log from now on."""
        fold = self._stream.fold(through)
        if fold is None:
            return
        log.info(
            "MQTT: records %d..%d are read from the log (%s)", fold.after + 1, fold.through, why
        )
        await self._count_fold(fold)

    async def _count_fold(self, fold: Fold) -> None:
        """Count the published records a fold handed to the log."""
        try:
            n = await asyncio.get_running_loop().run_in_executor(
                None, self._cursor.count_published, fold.after, fold.through
            )
        except Exception:
            self._stream.fold_failed(fold)
            raise
        self._stream.folded(fold, n)

    async def _bound_records(self) -> None:
        """Keep memory and the backlog bounded.

        Beyond LIVE_MAX records in memory (the broker away, or slower than the records), they
        are read from the log instead. Beyond ``outbox_max_rows`` records waiting, the oldest
        are skipped down to 90 % of it (not one by one: each skip stores the cursor): counted
        as dropped, logged, and one ``system`` record per episode.
        """
        stream = self._stream
        cap = self._cfg.outbox_max_rows
        if len(stream.live) > LIVE_MAX:
            await self._fold(why="too many in memory")
        if stream.backlog <= cap:
            if self._backlog() < cap // 2:
                self._full_noted = False
            return
        await self._fold(why="backlog full")  # all the log's: the oldest can be skipped
        excess = stream.in_log - (cap - cap // 10)
        if stream.in_log <= cap or excess <= 0:
            return
        loop = asyncio.get_running_loop()
        seq = await loop.run_in_executor(
            None, self._cursor.nth_published, stream.cursor, stream.boundary, excess
        )
        if seq is None:  # counted more than there are: count again
            n = await loop.run_in_executor(
                None, self._cursor.count_published, stream.cursor, stream.boundary
            )
            stream.in_log = n
            return
        stream.skip(seq, excess)
        self._outbox_full(excess, what="records", through=seq)
        await self._save_cursor(force=True)

    async def _save_cursor(self, *, force: bool = False) -> None:
        """Store the cursor when it moved, at most every CURSOR_SAVE_S (unless ``force``)."""
        loop = asyncio.get_running_loop()
        cursor = self._stream.cursor
        if cursor == self._saved_cursor:
            return
        if not force and loop.time() - self._saved_at < CURSOR_SAVE_S:
            return
        try:
            await loop.run_in_executor(None, self._cursor.save, cursor)
        except Exception as exc:  # noqa: BLE001 -- storage trouble: sending goes on, saved later
            log.warning("MQTT: record cursor %d not stored (%s); tried again shortly", cursor, exc)
            self._saved_at = loop.time()
            return
        self._saved_cursor, self._saved_at = cursor, loop.time()

    async def _send_batch(self, msgs: list[Outgoing]) -> tuple[int, BaseException | None]:
        """Publish ``msgs`` as one batch: how many leading ones the broker answered, and why
        the rest were not (None: all were). Refused messages are dropped with a warning."""
        fut = self._link.publish_batch(msgs)
        broken: BaseException | None
        try:
            async with asyncio.timeout(PUBACK_TIMEOUT_S):
                result = await asyncio.shield(fut)
        except BatchBroken as exc:
            answered, refused, broken = exc.answered, exc.refused, exc
        except (DeviceFault, TimeoutError) as exc:
            fut.add_done_callback(_consume)  # fails with the link; the outcome is not needed
            answered, refused, broken = 0, (), exc
        else:
            answered, refused, broken = len(msgs), result.refused, None
        for index, reason in refused:
            log.warning("MQTT broker refused event %s (%s): dropped", msgs[index].topic, reason)
        return answered, broken

    async def _store_pending(self) -> None:
        """Write the pending alarm events to the outbox in one transaction (up to the cap)."""
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
            self._outbox_full(len(batch) - len(keep), what="alarm events", through=None)

    def _outbox_full(self, dropped: int, *, what: str, through: int | None) -> None:
        """Count events not kept; record the first time in an episode."""
        self._dropped += dropped
        log.error(
            "MQTT backlog full (%d %s waiting, at most %d): %d not kept",
            self._stream.backlog if through is not None else self._stored,
            what,
            self._cfg.outbox_max_rows,
            dropped,
        )
        if not self._full_noted:
            self._full_noted = True
            detail: dict[str, object] = {
                "event": "mqtt outbox full",
                "rows": self._stored,
                "records": self._stream.backlog,
                "dropped": dropped,
            }
            if through is not None:
                detail["skipped_through_seq"] = through
            self._record(NewRecord(RecordKind.SYSTEM, self._clock(), detail=detail))

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


_Event = tuple[int, str, bytes]  # a record event: seq, topic, payload


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


def _consume(fut: asyncio.Future[Any]) -> None:
    """Retrieve a future's outcome so that an unneeded failure is not reported as unhandled."""
    if not fut.cancelled():
        fut.exception()
