"""The cameras of a site at run time: evidence, tailgating, intrusion, coverage, faults.

Clauses 4-8-7(1) (entries recorded; outsiders escorted or watched by surveillance), 4-8-7(4)
(surveillance against intrusion), 4-8-6(10) (pictures encrypted at rest), 4-8-6(3) (pictures
are personal data: retention applies). The service listens to the core's bus and to its
cameras' events, all on the event loop:

- every access decision and every alarm raised at a watched door or zone gets a snapshot (and,
  as configured, a clip) taken afterwards in a worker thread from the ring buffer: the frame
  nearest the record's time. The badge → strike path does nothing but schedule it;
- each door opening's inward door-line crossings are counted against its grants: more
  crossings than grants → ``access.tailgating`` with the picture of the first extra person;
- motion in a zone nobody is inside (no door open, none just closed) → ``camera.motion_in_empty
  _zone`` with its picture;
- a camera offline, frozen or blinded → ``camera.fault``; back → ``camera.fault_cleared``;
- outsiders let in "monitored by camera" (no escort): which camera covered which minutes of
  their visit → ``camera.coverage`` when they leave.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from gateway.cameras.config import CameraConfig, zone_of
from gateway.cameras.coverage import CoverageBook, Visit
from gateway.cameras.crypto import EvidenceCipher, load_or_create_key
from gateway.cameras.evidence import EvidenceTaker
from gateway.cameras.faults import FaultBook, faults_in_log
from gateway.cameras.port import Camera, Still
from gateway.cameras.retention import purge_evidence
from gateway.cameras.store import EvidenceStore
from gateway.cameras.tailgating import DoorCount, Verdict
from gateway.clock import utcnow
from gateway.core_events import DoorChanged, OccupancyChanged, RecordWritten
from gateway.domain import DoorMode, PersonKind
from gateway.events import CameraCondition, CameraCrossing, CameraEvent, CameraHealth, CameraMotion
from gateway.records import NewRecord, RecordKind
from gateway.runtime import Gateway

log = logging.getLogger(__name__)

K = RecordKind
_FREE_MODES = (DoorMode.UNLOCKED, DoorMode.LOCKED_OPEN)
_OWN_EVIDENCE = frozenset({K.ACCESS_TAILGATING.value, K.CAMERA_MOTION_EMPTY.value})
_SWEEP_EVERY_S = 6 * 3600.0
_SWEEP_AFTER_PURGE_S = (2.0, 60.0)
_STOP_WAIT_S = 15.0


class UnknownCamera(LookupError):
    """The id names no camera of this site."""


class NoPicture(RuntimeError):
    """The camera has no picture to give now (offline since start, or never delivered)."""


@dataclass(frozen=True, slots=True)
class CameraStatus:
    """One camera as the desk sees it."""

    camera_id: str
    name: str
    door_id: str | None
    zone_id: str
    condition: str  # "starting" until judged, then ok / offline / frozen / blinded
    detail: str
    since: datetime
    fps: float
    last_frame: datetime | None
    width: int | None
    height: int | None
    frames: int
    reconnects: int


class CameraService:
    """Every camera of one site, and what the core does with their pictures."""

    def __init__(
        self,
        gateway: Gateway,
        engine: Engine,
        cameras: Sequence[Camera],
        *,
        evidence_dir: Path,
        key_file: Path,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """Index the site's cameras; nothing runs until ``start``."""
        site = gateway.site
        self._gateway = gateway
        self._engine = engine
        self._site_id = site.site.id
        self._clock = clock
        self._cfg: dict[str, CameraConfig] = {c.id: c for c in site.cameras}
        self._cams: dict[str, Camera] = {c.camera_id: c for c in cameras}
        unknown = set(self._cams) - set(self._cfg)
        if unknown:
            raise UnknownCamera(f"drivers for cameras the site file lacks: {sorted(unknown)}")
        door_zone = {d.id: d.zone for d in site.doors}
        self._zone: dict[str, str] = {c.id: zone_of(c, door_zone) for c in site.cameras}
        self._zone_doors: dict[str, list[str]] = {}
        for d in site.doors:
            self._zone_doors.setdefault(d.zone, []).append(d.id)
        self._door_cams: dict[str, list[str]] = {}
        self._zone_cams: dict[str, list[str]] = {}
        for c in site.cameras:
            if c.id not in self._cams:
                continue
            if c.door is not None:
                self._door_cams.setdefault(c.door, []).append(c.id)
            self._zone_cams.setdefault(self._zone[c.id], []).append(c.id)
        self._counts: dict[str, list[DoorCount]] = {}
        for c in site.cameras:
            if c.id in self._cams and c.door is not None and c.tailgating.enabled:
                settle_ns = int(c.tailgating.settle_s * 1e9)
                self._counts.setdefault(c.door, []).append(DoorCount(c.door, c.id, settle_ns))
        self._escort = {z.id: z.escort for z in site.zones if z.escort.monitored_by_camera}
        self._coverage = CoverageBook({z: self._zone_cams.get(z, []) for z in self._escort})
        self._evidence_dir = evidence_dir
        self._key_file = key_file
        self._max_offset_s = site.camera_evidence.max_offset_s
        self._taker: EvidenceTaker | None = None
        self._store: EvidenceStore | None = None
        self._condition: dict[str, CameraCondition | None] = dict.fromkeys(self._cams)
        self._faults = FaultBook(self._cams)
        self._door_open: dict[str, bool] = {}
        self._door_closed_ns: dict[str, int] = {}
        self._last_intrusion_ns: dict[str, int] = {}
        self.verdicts: deque[Verdict] = deque(maxlen=100)  # recent judged door openings
        self._pool = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="camera-evidence")
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._unsubscribe: list[Callable[[], None]] = []
        self._started = False

    # --- life cycle ---------------------------------------------------------------------------

    @property
    def store(self) -> EvidenceStore:
        """The evidence store (after ``start``)."""
        if self._store is None:
            raise RuntimeError("the camera service is not started")
        return self._store

    @property
    def site_id(self) -> str:
        """The site's id."""
        return self._site_id

    @property
    def engine(self) -> Engine:
        """The store the record log lives in."""
        return self._engine

    async def start(self) -> None:
        """Open the key (created on first use), subscribe, start every camera."""
        if self._started:
            return
        loop = asyncio.get_running_loop()
        key = await loop.run_in_executor(self._pool, load_or_create_key, self._key_file)
        self._store = EvidenceStore(self._evidence_dir, EvidenceCipher(key), self._site_id)
        self._taker = EvidenceTaker(self._store, self._cams, self._max_offset_s)
        self._faults.restore(
            await loop.run_in_executor(self._pool, faults_in_log, self._engine, self._site_id)
        )
        self._unsubscribe = [
            self._gateway.bus.subscribe(RecordWritten, self._on_record),
            self._gateway.bus.subscribe(DoorChanged, self._on_door),
            self._gateway.bus.subscribe(OccupancyChanged, self._on_occupancy),
        ]
        self._gateway.camera_watch = self.watching
        self._started = True
        for zone in self._escort:
            self._track_visits(zone, self._gateway.occupancy(zone))
        for cam in self._cams.values():
            await cam.start(self._on_camera)
        self._later(5.0, self._sweep_periodically)
        log.info("cameras: %d started, evidence in %s", len(self._cams), self._evidence_dir)

    async def stop(self) -> None:
        """Stop the cameras, write coverage of visits in progress, finish pending evidence."""
        if not self._started:
            return
        self._started = False
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        self._gateway.camera_watch = lambda zone_id: ()
        for cam in self._cams.values():
            await cam.stop()
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        now = self._clock()
        for visit in self._coverage.visits():
            closed = self._coverage.left(visit.zone_id, visit.person_id, now)
            if closed is not None:
                self._write_coverage(closed, now, still_inside=True)
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=_STOP_WAIT_S)
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: self._pool.shutdown(wait=True)
        )

    # --- what the core and the API ask ----------------------------------------------------------

    def watching(self, zone_id: str) -> tuple[str, ...]:
        """Cameras of a zone that show a good picture now (for the escort rule)."""
        return tuple(
            c
            for c in self._zone_cams.get(zone_id, ())
            if self._condition.get(c) is CameraCondition.OK
        )

    def statuses(self) -> list[CameraStatus]:
        """Every camera, in site-file order."""
        out = []
        for cam_id, cfg in self._cfg.items():
            cam = self._cams.get(cam_id)
            if cam is None:
                continue
            s = cam.stats()
            out.append(
                CameraStatus(
                    cam_id,
                    cfg.name or cam_id,
                    cfg.door,
                    self._zone[cam_id],
                    s.condition.value if s.condition is not None else "starting",
                    s.detail,
                    s.since,
                    s.fps,
                    s.last_frame,
                    s.width,
                    s.height,
                    s.frames,
                    s.reconnects,
                )
            )
        return out

    def live(self, camera_id: str) -> Still:
        """The newest buffered picture of a camera; thread-safe (call from a worker thread)."""
        cam = self._cams.get(camera_id)
        if cam is None:
            raise UnknownCamera(camera_id)
        still = cam.still(time.perf_counter_ns())
        if still is None:
            raise NoPicture(f"camera {camera_id} has no picture")
        return still

    async def viewed(
        self,
        actor: str,
        camera_id: str | None,
        what: str,
        *,
        evidence_seq: int | None = None,
        sha256: str | None = None,
    ) -> int:
        """Record, durably, that ``actor`` looked at a picture; returns the record's seq."""
        detail: dict[str, object] = {"what": what}
        if camera_id is not None:
            detail["camera"] = camera_id
        if evidence_seq is not None:
            detail["evidence_seq"] = evidence_seq
        if sha256 is not None:
            detail["sha256"] = sha256
        cfg = self._cfg.get(camera_id or "")
        return await self._gateway.recorder.append(
            NewRecord(
                K.CAMERA_VIEWED,
                self._clock(),
                door_id=cfg.door if cfg else None,
                zone_id=self._zone.get(camera_id or ""),
                actor=actor,
                detail=detail,
            )
        )

    # --- bus in -------------------------------------------------------------------------------

    def _on_record(self, event: RecordWritten) -> None:
        """Committed records: decisions and alarms get evidence; grants feed the counts."""
        rec = event.record
        if rec.kind is K.ACCESS:
            self._evidence_for(event.seq, rec, "decisions")
        elif rec.kind is K.ALARM_RAISED:
            if rec.detail.get("trigger") not in _OWN_EVIDENCE:
                self._evidence_for(event.seq, rec, "alarms")
        elif rec.kind is K.ACCESS_TAKEN and rec.direction == "in" and rec.door_id:
            decision = rec.detail.get("decision_seq")
            if isinstance(decision, int):
                for count in self._counts.get(rec.door_id, ()):
                    count.granted(decision)
        elif rec.kind is K.AUDIT_PURGE:
            for delay in _SWEEP_AFTER_PURGE_S:
                self._later(delay, self._sweep)

    def _on_door(self, event: DoorChanged) -> None:
        """A door's contact opened or closed: openings for the counts, closes for intrusion."""
        s = event.status
        is_open = s.contact_open is True
        was_open = self._door_open.get(s.door_id, False)
        if is_open == was_open:
            return
        self._door_open[s.door_id] = is_open
        now_ns = time.perf_counter_ns()
        counts = self._counts.get(s.door_id, ())
        if is_open:
            for count in counts:
                count.opened(now_ns, free=s.mode in _FREE_MODES)
            return
        self._door_closed_ns[s.door_id] = now_ns
        settle = 0.0
        for count in counts:
            count.closed(now_ns)
            settle = max(settle, self._cfg[count.camera_id].tailgating.settle_s)
        if counts:
            self._call_later(settle + 0.05, self._judge, s.door_id)

    def _on_occupancy(self, event: OccupancyChanged) -> None:
        """Who is inside a camera-monitored zone changed: visits start and end."""
        if event.zone_id in self._escort:
            self._track_visits(event.zone_id, list(event.occupants))

    # --- camera events in -----------------------------------------------------------------------

    def _on_camera(self, event: CameraEvent) -> None:
        """An event from a camera driver (on the loop)."""
        if not self._started:
            return
        if isinstance(event, CameraHealth):
            self._on_health(event)
        elif isinstance(event, CameraCrossing):
            for counts in self._counts.values():
                for count in counts:
                    if count.camera_id == event.camera_id:
                        count.crossing(event.frame_ns, inward=event.inward)
        elif isinstance(event, CameraMotion) and event.active:
            self._maybe_intrusion(event)

    def _on_health(self, event: CameraHealth) -> None:
        """Fault and fault-cleared records, once per change; coverage follows the picture."""
        cam = event.camera_id
        if cam not in self._cams:
            return
        self._condition[cam] = event.condition
        now = self._clock()
        self._coverage.camera(cam, event.condition is CameraCondition.OK, now)
        change = self._faults.change(cam, event.condition, event.detail)
        if change is None:
            return
        kind, detail = change
        if kind is K.CAMERA_FAULT:
            uncovered = self._coverage.uncovered(self._zone[cam])
            if uncovered:
                detail["outsiders_unwatched"] = uncovered
        self._gateway.recorder.submit(
            NewRecord(
                kind, now, door_id=self._cfg[cam].door, zone_id=self._zone[cam], detail=detail
            )
        )

    # --- evidence ------------------------------------------------------------------------------

    def _moment_ns(self, rec: NewRecord) -> int:
        """The perf-counter instant of a record's ``ts`` (the clock frames are stamped with)."""
        ago = max(0.0, (self._clock() - rec.ts).total_seconds())
        return time.perf_counter_ns() - int(ago * 1e9)

    def _cameras_for(self, rec: NewRecord, setting: str) -> list[str]:
        """Cameras at the record's door (else in its zone) that keep pictures of ``setting``."""
        cams = self._door_cams.get(rec.door_id or "", [])
        if not cams:
            cams = self._zone_cams.get(rec.zone_id or "", [])
        return [c for c in cams if getattr(self._cfg[c].evidence, setting)]

    def _evidence_for(self, seq: int, rec: NewRecord, setting: str) -> None:
        """Schedule a snapshot (and a clip, as configured) of a committed record."""
        cams = self._cameras_for(rec, setting)
        if not cams:
            return
        at_ns = self._moment_ns(rec)
        for cam in cams:
            clips = self._cfg[cam].evidence.clips
            clip = clips == "all" or (clips == "alarms" and setting == "alarms")
            self._spawn(self._snapshot(cam, seq, rec, at_ns, clip=clip))

    def _for_detail(self, cam: str, for_seq: int, rec: NewRecord) -> dict[str, object]:
        """What every evidence record says of what it is evidence of."""
        return {"for_seq": for_seq, "for_kind": rec.kind.value, "camera": cam}

    async def _snapshot(
        self, cam: str, for_seq: int, rec: NewRecord, at_ns: int, *, clip: bool
    ) -> None:
        """Take and store a still in a worker thread, then write its record."""
        assert self._taker is not None
        ts = self._clock()
        found = await asyncio.get_running_loop().run_in_executor(
            self._pool, self._taker.still, cam, at_ns, K.CAMERA_SNAPSHOT.value, ts
        )
        self._gateway.recorder.submit(
            NewRecord(
                K.CAMERA_SNAPSHOT,
                ts,
                door_id=rec.door_id,
                zone_id=rec.zone_id,
                person_id=rec.person_id,
                person_kind=rec.person_kind,
                detail={**self._for_detail(cam, for_seq, rec), **found},
            )
        )
        if clip:
            self._clip_later(cam, for_seq, rec, at_ns)

    def _clip_later(self, cam: str, for_seq: int, rec: NewRecord, at_ns: int) -> None:
        """A clip around ``at_ns``, once the frames after it are in the ring buffer."""
        ev = self._cfg[cam].evidence
        wait = max(0.0, ev.clip_after_s - (time.perf_counter_ns() - at_ns) / 1e9) + 0.2
        self._later(wait, lambda: self._clip(cam, for_seq, rec, at_ns))

    async def _clip(self, cam: str, for_seq: int, rec: NewRecord, at_ns: int) -> None:
        """Take and store a clip in a worker thread, then write its record."""
        taker = self._taker
        assert taker is not None
        ev = self._cfg[cam].evidence
        ts = self._clock()
        found = await asyncio.get_running_loop().run_in_executor(
            self._pool,
            lambda: taker.clip(
                cam,
                at_ns - int(ev.clip_before_s * 1e9),
                at_ns + int(ev.clip_after_s * 1e9),
                fps=ev.clip_fps,
                kind=K.CAMERA_CLIP.value,
                ts=ts,
            ),
        )
        self._gateway.recorder.submit(
            NewRecord(
                K.CAMERA_CLIP,
                ts,
                door_id=rec.door_id,
                zone_id=rec.zone_id,
                person_id=rec.person_id,
                person_kind=rec.person_kind,
                detail={**self._for_detail(cam, for_seq, rec), **found},
            )
        )

    async def _event_with_picture(self, cam: str, at_ns: int, rec: NewRecord) -> None:
        """Write an event record that carries its own snapshot (tailgating, intrusion)."""
        assert self._taker is not None
        found = await asyncio.get_running_loop().run_in_executor(
            self._pool, self._taker.still, cam, at_ns, rec.kind.value, rec.ts
        )
        full = NewRecord(
            rec.kind,
            rec.ts,
            door_id=rec.door_id,
            zone_id=rec.zone_id,
            detail={**rec.detail, **found},
        )
        try:
            seq = await self._gateway.recorder.append(full)
        except Exception as exc:  # noqa: BLE001 -- any storage failure: kept for retry, no clip
            log.warning("%s record kept for retry: %s", rec.kind.value, exc)
            self._gateway.recorder.keep(full, exc)
            return
        if self._cfg[cam].evidence.clips != "off":
            self._clip_later(cam, seq, full, at_ns)

    # --- tailgating -----------------------------------------------------------------------------

    def _judge(self, door_id: str) -> None:
        """Judge the door's openings whose settle time is over."""
        now_ns = time.perf_counter_ns()
        for count in self._counts.get(door_id, ()):
            for verdict in count.due(now_ns):
                self.verdicts.append(verdict)
                if verdict.tailgating:
                    self._tailgating(verdict, now_ns)
                else:
                    log.debug(
                        "door %s: %d in, %d granted (camera %s)",
                        door_id,
                        verdict.crossed,
                        verdict.granted,
                        verdict.camera_id,
                    )

    def _tailgating(self, verdict: Verdict, now_ns: int) -> None:
        """More people went in than were granted: the record, with the extra person's picture."""
        o = verdict.opening
        now = self._clock()

        def wall(ns: int | None) -> str | None:
            return (
                None if ns is None else (now - timedelta(seconds=(now_ns - ns) / 1e9)).isoformat()
            )

        door = o.door_id
        rec = NewRecord(
            K.ACCESS_TAILGATING,
            now,
            door_id=door,
            zone_id=self._zone[verdict.camera_id],
            direction="in",
            detail={
                "camera": verdict.camera_id,
                "crossings": verdict.crossed,
                "granted": verdict.granted,
                "extra": verdict.crossed - verdict.granted,
                "decision_seqs": list(o.decision_seqs),
                "crossings_out": o.crossings_out,
                "opened_at": wall(o.opened_ns),
                "closed_at": wall(o.closed_ns),
            },
        )
        at_ns = verdict.first_extra_ns
        assert at_ns is not None  # a tailgating verdict has an extra crossing
        log.warning(
            "door %s: %d went in on %d grant(s): tailgating", door, verdict.crossed, verdict.granted
        )
        self._spawn(self._event_with_picture(verdict.camera_id, at_ns, rec))

    # --- intrusion ------------------------------------------------------------------------------

    def _maybe_intrusion(self, event: CameraMotion) -> None:
        """Motion in a zone with nobody inside, no door open and none just closed."""
        cam = event.camera_id
        cfg = self._cfg.get(cam)
        if cfg is None or not cfg.intrusion.enabled:
            return
        zone = self._zone[cam]
        now_ns = time.perf_counter_ns()
        last = self._last_intrusion_ns.get(cam)
        if (
            self._condition.get(cam) is not CameraCondition.OK
            or not self._empty_and_shut(zone, now_ns, int(cfg.intrusion.grace_s * 1e9))
            or (last is not None and now_ns - last < cfg.intrusion.repeat_s * 1e9)
        ):
            return
        self._last_intrusion_ns[cam] = now_ns
        log.warning("camera %s: motion in %s, where nobody is inside", cam, zone)
        rec = NewRecord(
            K.CAMERA_MOTION_EMPTY,
            self._clock(),
            door_id=cfg.door,
            zone_id=zone,
            detail={"camera": cam, "level": event.level, "inside": 0},
        )
        self._spawn(self._event_with_picture(cam, event.frame_ns, rec))

    def _empty_and_shut(self, zone: str, now_ns: int, grace_ns: int) -> bool:
        """Nobody inside, every door of the zone shut and none closed within the grace."""
        try:
            if self._gateway.zones.occupancy(zone).count:
                return False
        except KeyError:
            return False
        for door in self._zone_doors.get(zone, ()):
            closed = self._door_closed_ns.get(door)
            if self._door_open.get(door) or (closed is not None and now_ns - closed < grace_ns):
                return False
        return True

    # --- coverage of outsiders ------------------------------------------------------------------

    def _track_visits(self, zone_id: str, occupants: Sequence[dict[str, object]]) -> None:
        """Start visits of unescorted outsiders who came in; write those of who left."""
        policy = self._escort[zone_id]
        now = self._clock()
        healthy = {c for c, s in self._condition.items() if s is CameraCondition.OK}
        outsiders = [
            o
            for o in occupants
            if not o.get("escorted_by")
            and policy.required
            and (
                o.get("person_kind") == PersonKind.VISITOR.value
                or (o.get("person_kind") == PersonKind.CONTRACTOR.value and policy.contractors)
            )
        ]
        for closed in self._coverage.sync(zone_id, outsiders, healthy, now):
            self._write_coverage(closed, now, still_inside=False)

    def _write_coverage(self, visit: Visit, until: datetime, *, still_inside: bool) -> None:
        """The ``camera.coverage`` record of one visit."""
        detail = visit.report(until)
        if still_inside:
            detail["still_inside"] = True  # the gateway stopped during the visit
        self._gateway.recorder.submit(
            NewRecord(
                K.CAMERA_COVERAGE,
                until,
                zone_id=visit.zone_id,
                person_id=visit.person_id,
                person_kind=visit.person_kind,
                detail=detail,
            )
        )

    # --- retention ------------------------------------------------------------------------------

    async def _sweep(self) -> None:
        """Delete evidence files whose records retention purged; record what went."""
        store = self._store
        if store is None:
            return
        result = await asyncio.get_running_loop().run_in_executor(
            self._pool, purge_evidence, self._engine, self._site_id, store
        )
        if result.files:
            log.info("camera evidence: %d file(s) purged with their records", result.files)
            self._gateway.recorder.submit(
                NewRecord(
                    K.CAMERA_EVIDENCE_PURGED,
                    self._clock(),
                    detail={
                        "files": result.files,
                        "per_kind": result.per_kind,
                        "purge_seq": result.purge_seq,
                    },
                )
            )

    async def _sweep_periodically(self) -> None:
        """A sweep now and every few hours (a purge run by the CLI while we were down)."""
        await self._sweep()
        self._later(_SWEEP_EVERY_S, self._sweep_periodically)

    # --- tasks and timers -----------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a coroutine in the background; its failure is logged, never raised."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        """A background task ended: forget it, log a failure."""
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("camera task failed", exc_info=task.exception())

    def _call_later(self, delay: float, fn: Callable[..., None], *args: object) -> None:
        """Call ``fn`` on the loop after ``delay`` seconds (cancelled at stop)."""
        handle: asyncio.TimerHandle

        def run() -> None:
            self._timers.discard(handle)
            if self._started:
                fn(*args)

        handle = asyncio.get_running_loop().call_later(delay, run)
        self._timers.add(handle)

    def _later(self, delay: float, coro_fn: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Start a coroutine after ``delay`` seconds (not once stopped)."""
        self._call_later(delay, lambda: self._spawn(coro_fn()))
