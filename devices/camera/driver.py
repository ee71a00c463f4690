"""The camera driver: one worker thread reads, buffers and analyses; events go to the loop.

``OpenCvCamera`` implements ``gateway.cameras.port.Camera``. Its thread opens the source,
reads frames (blocking reads never touch the event loop), keeps the last seconds of decoded
frames in a ``FrameRing``, and on a small grey copy of each frame (at most ``max_fps`` a
second) judges the picture (frozen, blinded), the motion in it and door-line crossings. A lost
stream is reopened with exponential backoff. A watchdog on the loop declares the camera
offline when no frame has come for ``offline_after_s``, even while a read is still blocked.

Events reach the sink on the event loop through ``call_soon_threadsafe``; none after ``stop``.
Library errors are caught here (``cv2.error`` → ``LinkError`` or a logged, skipped frame).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import cast

import cv2

from devices.camera.motion import MotionAnalyzer
from devices.camera.picture import PictureCheck
from devices.camera.ring import BufferedFrame, FrameRing, Image
from devices.camera.settings import AnalysisSettings, PictureSettings, StreamSettings
from devices.camera.source import FrameReader, OpenCvReader
from devices.errors import ConfigurationRefused, LinkError
from gateway.cameras.port import CameraEventSink, CameraStats, Still
from gateway.events import CameraCondition, CameraCrossing, CameraEvent, CameraHealth, CameraMotion

_log = logging.getLogger(__name__)
_WATCH_S = 0.25  # how often the loop-side watchdog looks at the age of the newest frame
_MOTION_FRAMES = 2  # analysed frames in a row above the level before motion starts


class OpenCvCamera:
    """Driver for one camera read through OpenCV (or any ``FrameReader``)."""

    def __init__(
        self,
        camera_id: str,
        source: str | FrameReader,
        *,
        stream: StreamSettings | None = None,
        picture: PictureSettings | None = None,
        analysis: AnalysisSettings | None = None,
    ) -> None:
        """Check the settings; nothing is opened until ``start``."""
        self._id = camera_id
        self._stream = stream or StreamSettings()
        self._picture = picture or PictureSettings()
        self._analysis = analysis or AnalysisSettings()
        for settings in (self._stream, self._picture, self._analysis):
            settings.check(camera_id)
        self._reader: FrameReader = (
            OpenCvReader(
                source,
                open_timeout_s=self._stream.open_timeout_s,
                read_timeout_s=self._stream.read_timeout_s,
                loop_file=self._stream.loop_file,
            )
            if isinstance(source, str)
            else source
        )
        self._ring = FrameRing(self._stream.buffer_s, self._stream.buffer_fps)
        self._check = PictureCheck(self._picture)
        self._analyzer: MotionAnalyzer | None = None
        self._small: tuple[int, int] | None = None  # analysis (width, height)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sink: CameraEventSink | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        # --- shared with the thread (under _lock) ---
        self._condition: CameraCondition | None = None
        self._detail = ""
        self._since = datetime.now(UTC)
        self._last_ns: int | None = None
        self._last_wall: float | None = None
        self._size: tuple[int, int] | None = None
        self._frames = 0
        self._reconnects = 0
        self._recent: deque[int] = deque(maxlen=32)
        self._failure = ""
        self._recheck = False
        # --- thread only ---
        self._analysed_ns = 0
        self._motion = False
        self._motion_run = 0
        self._motion_last_ns = 0
        self._started_ns = time.perf_counter_ns()

    @property
    def camera_id(self) -> str:
        """The camera's id in the site file."""
        return self._id

    @property
    def source_name(self) -> str:
        """The source, without credentials."""
        return self._reader.name

    # --- life cycle --------------------------------------------------------------------------

    async def start(self, sink: CameraEventSink) -> None:
        """Start the reader thread and the watchdog; returns at once."""
        if self._thread is not None:
            raise ConfigurationRefused(f"camera {self._id} is already started")
        self._loop = asyncio.get_running_loop()
        self._sink = sink
        self._stop.clear()
        self._started_ns = time.perf_counter_ns()
        self._thread = threading.Thread(target=self._run, name=f"camera:{self._id}", daemon=True)
        self._thread.start()
        self._watchdog = self._loop.call_later(_WATCH_S, self._watch)

    async def stop(self) -> None:
        """Stop the thread (a blocked read ends within ``read_timeout_s``) and release it."""
        self._sink = None
        self._stop.set()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        thread, self._thread = self._thread, None
        if thread is not None:
            limit = self._stream.open_timeout_s + self._stream.read_timeout_s + 5.0
            await asyncio.to_thread(thread.join, limit)
            if thread.is_alive():
                _log.warning("camera %s: reader thread still blocked after stop", self._id)

    # --- what the core asks ------------------------------------------------------------------

    def still(self, at_ns: int) -> Still | None:
        """The buffered frame nearest ``at_ns``, JPEG-encoded; never waits for the camera."""
        frame = self._ring.nearest(at_ns)
        return None if frame is None else self._encode(frame)

    def stills(self, from_ns: int, to_ns: int, max_frames: int) -> list[Still]:
        """Buffered frames between two instants, at most ``max_frames`` evenly spread."""
        frames = self._ring.between(from_ns, to_ns)
        if max_frames <= 0:
            return []
        if len(frames) > max_frames:
            step = len(frames) / max_frames
            frames = [frames[int(i * step)] for i in range(max_frames)]
        out = [self._encode(f) for f in frames]
        return [s for s in out if s is not None]

    def stats(self) -> CameraStats:
        """Condition and stream figures now."""
        with self._lock:
            recent = list(self._recent)
            fps = 0.0
            if len(recent) >= 2 and recent[-1] > recent[0]:
                fps = (len(recent) - 1) / ((recent[-1] - recent[0]) / 1e9)
            return CameraStats(
                condition=self._condition,
                detail=self._detail,
                since=self._since,
                fps=round(fps, 2),
                last_frame=(
                    datetime.fromtimestamp(self._last_wall, UTC) if self._last_wall else None
                ),
                width=self._size[0] if self._size else None,
                height=self._size[1] if self._size else None,
                frames=self._frames,
                reconnects=self._reconnects,
            )

    def _encode(self, frame: BufferedFrame) -> Still | None:
        """A buffered frame as a Still; None (logged) if OpenCV cannot encode it."""
        try:
            ok, buf = cv2.imencode(
                ".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, self._stream.jpeg_quality]
            )
        except cv2.error as exc:
            _log.warning("camera %s: JPEG encoding failed: %s", self._id, exc)
            return None
        if not ok:
            return None
        height, width = frame.image.shape[:2]
        return Still(
            buf.tobytes(), frame.frame_ns, datetime.fromtimestamp(frame.wall, UTC), width, height
        )

    # --- events ------------------------------------------------------------------------------

    def _emit(self, event: CameraEvent) -> None:
        """Hand an event to the loop (from any thread)."""
        loop = self._loop
        if loop is None or self._sink is None:
            return
        with contextlib.suppress(RuntimeError):  # a closing loop: nobody is listening any more
            loop.call_soon_threadsafe(self._deliver, event)

    def _deliver(self, event: CameraEvent) -> None:
        """On the loop: give the event to the sink, unless stopped since."""
        sink = self._sink
        if sink is not None:
            sink(event)

    def _set_condition(self, condition: CameraCondition, detail: str) -> None:
        """Record a new condition and report it, once per change."""
        with self._lock:
            if condition is self._condition:
                return
            self._condition = condition
            self._detail = detail
            self._since = datetime.now(UTC)
        _log.info("camera %s: %s (%s)", self._id, condition.value, detail)
        self._emit(CameraHealth(self._id, condition, detail))

    def _watch(self) -> None:
        """On the loop: no frame for ``offline_after_s`` means offline."""
        self._watchdog = None
        if self._stop.is_set() or self._loop is None:
            return
        with self._lock:
            last = self._last_ns if self._last_ns is not None else self._started_ns
            failure = self._failure
            condition = self._condition
        age = (time.perf_counter_ns() - last) / 1e9
        if age >= self._stream.offline_after_s and condition is not CameraCondition.OFFLINE:
            with self._lock:
                self._recheck = True  # judge the picture afresh when frames come back
            self._set_condition(CameraCondition.OFFLINE, failure or f"no frame for {age:.1f} s")
        self._watchdog = self._loop.call_later(_WATCH_S, self._watch)

    # --- the reader thread -------------------------------------------------------------------

    def _run(self) -> None:
        """Open, read until lost, reopen with backoff; until stopped."""
        backoff = self._stream.backoff_initial_s
        opened_before = False
        while not self._stop.is_set():
            try:
                self._reader.open()
            except LinkError as exc:
                self._note_failure(str(exc))
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self._stream.backoff_max_s)
                continue
            except Exception as exc:  # noqa: BLE001 -- a reader bug must not kill the camera thread
                _log.exception("camera %s: opening failed", self._id)
                self._note_failure(f"open failed: {exc!r}")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self._stream.backoff_max_s)
                continue
            if opened_before:
                with self._lock:
                    self._reconnects += 1
            opened_before = True
            backoff = self._stream.backoff_initial_s
            try:
                self._read_until_lost()
            finally:
                self._reader.close()

    def _note_failure(self, message: str) -> None:
        """Keep why the stream is down (the watchdog reports it)."""
        with self._lock:
            self._failure = message
        _log.debug("camera %s: %s", self._id, message)

    def _read_until_lost(self) -> None:
        """Read frames until the stream ends, fails or the driver stops."""
        while not self._stop.is_set():
            try:
                image = self._reader.read()
            except LinkError as exc:
                self._note_failure(str(exc))
                return
            if image is None:
                self._note_failure(f"{self._reader.name}: stream ended or timed out")
                return
            self._on_frame(image, time.perf_counter_ns(), time.time())

    def _on_frame(self, image: Image, frame_ns: int, wall: float) -> None:
        """Buffer a frame, and analyse it when due."""
        height, width = image.shape[:2]
        with self._lock:
            self._last_ns = frame_ns
            self._last_wall = wall
            self._size = (width, height)
            self._frames += 1
            self._recent.append(frame_ns)
            self._failure = ""
            recheck, self._recheck = self._recheck, False
        self._ring.push(BufferedFrame(frame_ns, wall, image))
        if frame_ns - self._analysed_ns < 0.8e9 / self._analysis.max_fps:  # 80%: jitter
            return
        self._analysed_ns = frame_ns
        if recheck:
            self._check.reset()
        try:
            self._analyse(image, frame_ns)
        except cv2.error as exc:  # one bad frame is skipped, not fatal
            _log.warning("camera %s: frame analysis failed: %s", self._id, exc)

    def _analyse(self, image: Image, frame_ns: int) -> None:
        """Picture check, then motion and crossings on a small grey copy."""
        height, width = image.shape[:2]
        small_w = min(self._analysis.width, width)
        small = (small_w, max(1, round(height * small_w / width)))
        if self._analyzer is None or small != self._small:
            self._small = small
            self._analyzer = MotionAnalyzer(self._analysis, *small)
        resized = cv2.resize(image, small, interpolation=cv2.INTER_AREA)
        grey = cast(Image, cv2.cvtColor(resized, cv2.COLOR_BGR2GRAY))
        before = self._check.verdict.condition
        verdict = self._check.feed(grey, frame_ns / 1e9)
        if verdict.condition is not None:
            with self._lock:
                current = self._condition
            if verdict.condition is not current:
                self._set_condition(verdict.condition, verdict.detail)
        if verdict.condition in (CameraCondition.FROZEN, CameraCondition.BLINDED):
            self._end_motion(frame_ns)
            return
        if before in (CameraCondition.FROZEN, CameraCondition.BLINDED):
            self._analyzer.reset()  # the scene may have changed while it was unseen
        findings = self._analyzer.feed(grey)
        for inward in findings.crossings:
            self._emit(CameraCrossing(self._id, inward, frame_ns))
        if findings.level >= self._analysis.motion_level:
            self._motion_run += 1
            self._motion_last_ns = frame_ns
            if not self._motion and self._motion_run >= _MOTION_FRAMES:
                self._motion = True
                self._emit(
                    CameraMotion(
                        self._id, active=True, level=round(findings.level, 4), frame_ns=frame_ns
                    )
                )
        else:
            self._motion_run = 0
            if self._motion and frame_ns - self._motion_last_ns >= (
                self._analysis.motion_quiet_s * 1e9
            ):
                self._end_motion(frame_ns)

    def _end_motion(self, frame_ns: int) -> None:
        """Motion is over (or the picture is gone)."""
        self._motion_run = 0
        if self._motion:
            self._motion = False
            self._emit(CameraMotion(self._id, active=False, level=0.0, frame_ns=frame_ns))
