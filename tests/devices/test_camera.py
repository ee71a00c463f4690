"""The OpenCV camera driver against the simulated camera's real MJPEG stream on 127.0.0.1.

Worker-thread reading, the ring buffer answering stills, door-line counting, motion, and the
picture checks: covered, sprayed, frozen, and a stream that stops and comes back (4-8-7(4)).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np
import pytest

from devices.camera import (
    AnalysisSettings,
    MemoryReader,
    OpenCvCamera,
    PictureSettings,
    StreamSettings,
)
from devices.errors import ConfigurationRefused
from gateway.events import CameraCondition, CameraCrossing, CameraEvent, CameraHealth, CameraMotion
from sekisho_sim.camera import SimCamera, SimCameraSpec

E = TypeVar("E")
WAIT_S = 20.0  # generous: a loaded 2-core machine
FAST = StreamSettings(
    offline_after_s=1.0,
    open_timeout_s=1.0,
    read_timeout_s=1.0,
    backoff_initial_s=0.1,
    backoff_max_s=0.5,
)
QUICK = PictureSettings(frozen_after_s=1.0, blinded_after_s=1.0, clear_after_s=0.5)
COUNTING = AnalysisSettings(door_line=0.5, motion_quiet_s=0.5)


class Events:
    """A camera event sink that keeps every event and can wait for one."""

    def __init__(self) -> None:
        self.items: list[CameraEvent] = []

    def __call__(self, event: CameraEvent, /) -> None:
        self.items.append(event)

    def of(self, kind: type[E], after: int = 0) -> list[E]:
        """Events of one type, from index ``after`` on."""
        return [e for e in self.items[after:] if isinstance(e, kind)]

    async def wait(
        self, kind: type[E], pred: Callable[[E], bool] = lambda e: True, after: int = 0
    ) -> E:
        """The first event of ``kind`` (from index ``after``) that satisfies ``pred``."""
        deadline = time.monotonic() + WAIT_S
        while True:
            for e in self.of(kind, after):
                if pred(e):
                    return e
            if time.monotonic() > deadline:
                raise AssertionError(f"no {kind.__name__} within {WAIT_S} s: {self.items[-8:]}")
            await asyncio.sleep(0.02)

    async def condition(self, condition: CameraCondition, after: int = 0) -> CameraHealth:
        """The next health event with ``condition``."""
        return await self.wait(CameraHealth, lambda e: e.condition is condition, after)


@pytest.fixture
async def sim() -> AsyncIterator[SimCamera]:
    """A simulated camera serving its doorway scene on a free port."""
    cam = SimCamera(SimCameraSpec("sr-cam", seed=5))
    await cam.start()
    try:
        yield cam
    finally:
        await cam.stop()


@pytest.fixture
async def driven(sim: SimCamera) -> AsyncIterator[tuple[OpenCvCamera, Events]]:
    """The driver reading ``sim``, started, with its picture judged ok."""
    driver = OpenCvCamera("sr-cam", sim.url, stream=FAST, picture=QUICK, analysis=COUNTING)
    events = Events()
    await driver.start(events)
    try:
        await events.condition(CameraCondition.OK)
        yield driver, events
    finally:
        await driver.stop()


async def test_frames_are_buffered_and_stills_come_from_the_buffer(
    driven: tuple[OpenCvCamera, Events],
) -> None:
    driver, _ = driven
    await asyncio.sleep(1.5)  # let the buffer hold a second and more
    stats = driver.stats()
    assert stats.condition is CameraCondition.OK
    assert (stats.width, stats.height) == (320, 240)
    assert stats.fps > 5 and stats.frames > 10
    now = time.perf_counter_ns()
    still = driver.still(now)
    assert still is not None and still.jpeg.startswith(b"\xff\xd8")
    image = cv2.imdecode(np.frombuffer(still.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == (240, 320, 3)
    earlier = driver.still(now - 1_000_000_000)
    assert earlier is not None
    assert abs(earlier.frame_ns - (now - 1_000_000_000)) < 200_000_000  # the nearest frame
    stills = driver.stills(now - 1_000_000_000, now, 4)
    assert 2 <= len(stills) <= 4
    assert [s.frame_ns for s in stills] == sorted(s.frame_ns for s in stills)


async def test_people_through_the_door_are_counted_each_way(
    driven: tuple[OpenCvCamera, Events], sim: SimCamera
) -> None:
    _, events = driven
    start = len(events.items)
    sim.walk(2)
    await sim.wait_idle()
    await events.wait(CameraMotion, lambda e: not e.active, start)
    crossings = events.of(CameraCrossing, start)
    assert [c.inward for c in crossings] == [True, True]
    moving = events.of(CameraMotion, start)
    assert moving[0].active and moving[0].level > 0
    start = len(events.items)
    sim.walk(1, inward=False)
    await sim.wait_idle()
    await events.wait(CameraMotion, lambda e: not e.active, start)
    assert [c.inward for c in events.of(CameraCrossing, start)] == [False]


async def test_motion_without_crossing_is_motion_only(
    driven: tuple[OpenCvCamera, Events], sim: SimCamera
) -> None:
    _, events = driven
    start = len(events.items)
    sim.wander(2.0)
    await events.wait(CameraMotion, lambda e: e.active, start)
    await sim.wait_idle()
    await events.wait(CameraMotion, lambda e: not e.active, start)
    assert events.of(CameraCrossing, start) == []


@pytest.mark.parametrize(
    ("act", "undo", "condition", "words"),
    [
        ("cover", "uncover", CameraCondition.BLINDED, "black"),
        ("spray", "clean", CameraCondition.BLINDED, "contrast"),
        ("freeze", "unfreeze", CameraCondition.FROZEN, "unchanged"),
    ],
)
async def test_a_blinded_or_frozen_picture_is_reported_and_cleared(
    driven: tuple[OpenCvCamera, Events],
    sim: SimCamera,
    act: str,
    undo: str,
    condition: CameraCondition,
    words: str,
) -> None:
    driver, events = driven
    start = len(events.items)
    {"cover": sim.cover, "spray": sim.spray, "freeze": sim.freeze}[act](True)
    fault = await events.condition(condition, start)
    assert words in fault.detail
    assert driver.stats().condition is condition
    {"uncover": sim.cover, "clean": sim.spray, "unfreeze": sim.freeze}[undo](False)
    await events.condition(CameraCondition.OK, start)


async def test_a_stopped_stream_is_offline_and_reconnects_when_back(
    driven: tuple[OpenCvCamera, Events], sim: SimCamera
) -> None:
    driver, events = driven
    start = len(events.items)
    await sim.stop_stream()
    offline = await events.condition(CameraCondition.OFFLINE, start)
    assert offline.detail
    before = driver.still(time.perf_counter_ns())
    assert before is not None  # old frames still answer (the service judges their age)
    await sim.start_stream()
    await events.condition(CameraCondition.OK, start)
    assert driver.stats().reconnects >= 1


def free_port() -> int:
    """A TCP port nobody listens on (now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_camera_that_never_answers_is_offline() -> None:
    driver = OpenCvCamera("gone", f"http://127.0.0.1:{free_port()}/stream.mjpg", stream=FAST)
    events = Events()
    await driver.start(events)
    try:
        offline = await events.condition(CameraCondition.OFFLINE)
        assert "cannot be opened" in offline.detail
        assert driver.still(time.perf_counter_ns()) is None
    finally:
        await driver.stop()


async def test_a_video_file_is_played_at_its_rate_and_loops(tmp_path: Path) -> None:
    path = tmp_path / "doorway.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (320, 240))
    scene = SimCamera(SimCameraSpec("file-src", seed=2))
    for i in range(10):
        writer.write(scene.render(100.0 + i * 0.1))
    writer.release()
    driver = OpenCvCamera("file-cam", f"file:{path}", stream=FAST, picture=QUICK)
    events = Events()
    await driver.start(events)
    try:
        await events.condition(CameraCondition.OK)
        deadline = time.monotonic() + WAIT_S
        while driver.stats().frames <= 15:  # more than the file holds: it looped
            assert time.monotonic() < deadline, driver.stats()
            await asyncio.sleep(0.05)
        assert driver.stats().fps < 15  # paced at the file's 10 fps, not as fast as decoding
    finally:
        await driver.stop()


async def test_memory_frames_feed_the_same_analysis(sim: SimCamera) -> None:
    frames = [sim.render(50.0 + i * 0.1) for i in range(20)]
    reader = MemoryReader(frames, fps=20)
    driver = OpenCvCamera("mem", reader, stream=FAST, picture=QUICK)
    events = Events()
    await driver.start(events)
    try:
        await events.condition(CameraCondition.OK)
        reader.fail()
        start = len(events.items)
        await events.condition(CameraCondition.OFFLINE, start)
        reader.fail(failed=False)
        await events.condition(CameraCondition.OK, start)
    finally:
        await driver.stop()


@pytest.mark.parametrize("source", ["ftp://127.0.0.1/x", "device:first", "file:", "gopher://x"])
def test_sources_opencv_cannot_use_are_refused(source: str) -> None:
    with pytest.raises(ConfigurationRefused):
        OpenCvCamera("bad", source)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"stream": StreamSettings(buffer_s=0)},
        {"stream": StreamSettings(backoff_initial_s=5, backoff_max_s=1)},
        {"picture": PictureSettings(frozen_after_s=0)},
        {"analysis": AnalysisSettings(door_line=1.2)},
        {"analysis": AnalysisSettings(width=8)},
    ],
)
def test_settings_that_cannot_work_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationRefused):
        OpenCvCamera("bad", "device:0", **kwargs)  # type: ignore[arg-type]  # each test passes one


async def test_nothing_is_delivered_after_stop_and_the_thread_ends(sim: SimCamera) -> None:
    driver = OpenCvCamera("sr-cam", sim.url, stream=FAST, picture=QUICK)
    events = Events()
    await driver.start(events)
    await events.condition(CameraCondition.OK)
    await driver.stop()
    seen = len(events.items)
    sim.cover()
    await sim.stop_stream()
    await asyncio.sleep(1.5)  # longer than offline_after_s: a running driver would report
    assert len(events.items) == seen
    assert not any(t.name == "camera:sr-cam" for t in threading.enumerate())
