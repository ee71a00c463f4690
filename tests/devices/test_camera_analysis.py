"""The camera driver's parts without a stream: ring buffer, line counter, picture check,
and motion analysis on frames the simulated camera renders (the same scene it serves)."""

from __future__ import annotations

import itertools
import time

import cv2
import numpy as np
import pytest

from devices.camera.motion import MotionAnalyzer
from devices.camera.picture import PictureCheck
from devices.camera.ring import BufferedFrame, FrameRing
from devices.camera.settings import AnalysisSettings, PictureSettings
from devices.camera.tracker import LineCounter
from gateway.events import CameraCondition
from sekisho_sim.camera import SimCamera, SimCameraSpec

MS = 1_000_000
IMG = np.zeros((4, 4, 3), np.uint8)


def frame(t_ms: int) -> BufferedFrame:
    """A buffered frame read at ``t_ms``."""
    return BufferedFrame(t_ms * MS, t_ms / 1000, IMG)


def test_the_ring_keeps_the_last_seconds_thinned_to_its_rate() -> None:
    ring = FrameRing(seconds=1.0, max_fps=10)
    kept = [ring.push(frame(t)) for t in range(0, 3000, 20)]  # 50 fps in
    assert kept.count(True) <= 3000 // 80 + 1  # thinned to about 10 fps
    times = [f.frame_ns // MS for f in ring.between(0, 10**12)]
    assert times[-1] - times[0] <= 1000  # only the last second
    assert all(b - a >= 80 for a, b in itertools.pairwise(times))


def nearest_ms(ring: FrameRing, at_ms: int) -> int:
    """The time (ms) of the buffered frame nearest ``at_ms``."""
    found = ring.nearest(at_ms * MS)
    assert found is not None
    return found.frame_ns // MS


def test_the_ring_answers_the_nearest_frame_and_intervals() -> None:
    ring = FrameRing(seconds=10.0, max_fps=10)
    for t in (0, 100, 200, 300, 400):
        ring.push(frame(t))
    assert nearest_ms(ring, 140) == 100
    assert nearest_ms(ring, 160) == 200
    assert nearest_ms(ring, -5000) == 0
    assert nearest_ms(ring, 9000) == 400
    assert [f.frame_ns // MS for f in ring.between(100 * MS, 300 * MS)] == [100, 200, 300]
    ring.clear()
    assert ring.nearest(0) is None and len(ring) == 0


def counter() -> LineCounter:
    """A horizontal line at y=60 (zone above it: smaller y is inside)."""
    return LineCounter(vertical=False, at_px=60, inside_is_greater=False, band_px=5, max_jump_px=30)


def test_a_person_walking_up_through_the_line_is_one_inward_crossing() -> None:
    c = counter()
    seen = [c.update([(80.0, y)]) for y in range(110, 0, -8)]
    assert [x for xs in seen for x in xs] == [True]


def test_dithering_in_the_doorway_counts_once() -> None:
    c = counter()
    path = [100, 80, 66, 58, 63, 57, 64, 50, 62, 40, 20]  # in and out of the dead band
    crossings = [x for y in path for x in c.update([(80.0, float(y))])]
    assert crossings == [True]


def test_walking_back_out_is_an_outward_crossing() -> None:
    c = counter()
    crossings = [x for y in (20, 40, 52, 68, 90, 110) for x in c.update([(80.0, float(y))])]
    assert crossings == [False]


def test_two_people_one_behind_the_other_are_two_crossings() -> None:
    c = counter()
    crossings = []
    for step in range(30):
        a, b = 110 - 8 * step, 150 - 8 * step
        blobs = [(80.0, float(y)) for y in (a, b) if 0 <= y <= 120]
        crossings += c.update(blobs)
    assert crossings == [True, True]


def test_a_blob_that_jumps_too_far_is_someone_new() -> None:
    c = counter()
    c.update([(80.0, 100.0)])
    assert c.update([(80.0, 20.0)]) == []  # 80 px away: not the same person, no crossing
    assert c.tracks == 2


def grey(value: float, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """A 120x160 grey frame around ``value``."""
    rng = np.random.default_rng(seed)
    return np.clip(value + rng.normal(0, noise, (120, 160)), 0, 255).astype(np.uint8)


def scene(seed: int) -> np.ndarray:
    """A frame with structure (contrast) and sensor noise."""
    base = np.tile(np.linspace(60, 200, 160), (120, 1))
    rng = np.random.default_rng(seed)
    return np.clip(base + rng.normal(0, 2, base.shape), 0, 255).astype(np.uint8)


SETTINGS = PictureSettings(frozen_after_s=2.0, blinded_after_s=1.0, clear_after_s=0.5)


def test_a_live_scene_is_ok_after_the_clear_time() -> None:
    check = PictureCheck(SETTINGS)
    verdicts = [check.feed(scene(i), i * 0.1).condition for i in range(10)]
    assert verdicts[0] is None  # not judged before clear_after_s
    assert verdicts[-1] is CameraCondition.OK


def test_a_black_picture_is_blinded_only_after_a_while() -> None:
    check = PictureCheck(SETTINGS)
    for i in range(10):
        check.feed(scene(i), i * 0.1)
    assert check.feed(grey(3, 1, 1), 1.0).condition is CameraCondition.OK  # one dark frame
    for i in range(2, 12):
        v = check.feed(grey(3, 1, i), 1.0 + i * 0.1)
    assert v.condition is CameraCondition.BLINDED and "black" in v.detail


def test_a_featureless_bright_picture_is_blinded_too() -> None:
    check = PictureCheck(SETTINGS)
    for i in range(20):
        v = check.feed(grey(170, 1.5, i), i * 0.1)
    assert v.condition is CameraCondition.BLINDED and "contrast" in v.detail


def test_a_picture_that_never_changes_is_frozen() -> None:
    check = PictureCheck(SETTINGS)
    still = scene(1)
    for i in range(30):
        v = check.feed(still, i * 0.1)
    assert v.condition is CameraCondition.FROZEN
    for i in range(30, 40):
        v = check.feed(scene(i), i * 0.1)
    assert v.condition is CameraCondition.OK


def test_the_check_starts_over_after_a_reset() -> None:
    check = PictureCheck(SETTINGS)
    for i in range(10):
        check.feed(scene(i), i * 0.1)
    check.reset()
    assert check.verdict.condition is None


@pytest.fixture
def sim() -> SimCamera:
    """The simulated camera's scene (rendered directly, not served)."""
    return SimCamera(SimCameraSpec("sr-cam", seed=3))


def analyse(sim: SimCamera, start: float, seconds: float) -> list[tuple[float, tuple[bool, ...]]]:
    """Render and analyse ``seconds`` of the scene at 10 fps; (level, crossings) per frame."""
    analyzer = MotionAnalyzer(AnalysisSettings(door_line=0.5), 160, 120)
    out = []
    for i in range(int(seconds * 10)):
        image = sim.render(start + i * 0.1)
        small = np.asarray(
            cv2.cvtColor(cv2.resize(image, (160, 120)), cv2.COLOR_BGR2GRAY), np.uint8
        )
        f = analyzer.feed(small)
        out.append((f.level, f.crossings))
    return out


def test_the_empty_scene_shows_no_motion(sim: SimCamera) -> None:
    frames = analyse(sim, 1000.0, 4.0)
    assert max(level for level, _ in frames[12:]) == 0.0


def test_two_people_walking_in_are_two_inward_crossings(sim: SimCamera) -> None:
    now = time.monotonic()
    sim.walk(2)  # starts now; render() is given the times explicitly
    frames = analyse(sim, now - 1.0, 6.0)  # 1 s of empty scene to learn the background first
    crossings = [c for _, cs in frames for c in cs]
    assert crossings == [True, True]
    assert max(level for level, _ in frames) > 0.01
