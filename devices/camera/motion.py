"""Motion and door-line crossings on small grey frames: background model, blobs, tracks.

OpenCV's MOG2 background subtractor separates what moves from the scene; a morphological
opening removes speckle (lighting noise); connected components large enough to be a person are
followed by ``LineCounter``. No people detector is used: OpenCV 5 no longer ships HOG, and an
overhead doorway view is exactly where blob tracking is reliable and cheap (160 px wide frames).
Known limit: two people pressed together form one blob and count once.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from devices.camera.settings import AnalysisSettings, Inside
from devices.camera.tracker import LineCounter

_KERNEL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))


@dataclass(frozen=True, slots=True)
class FrameFindings:
    """What one analysed frame showed."""

    level: float  # share of the picture that moves (0..1)
    blobs: int  # moving blobs large enough to be a person
    crossings: tuple[bool, ...]  # door-line crossings: True inward, False outward
    warming_up: bool  # the background model is still learning: level and crossings are 0


class MotionAnalyzer:
    """Background subtraction, person-sized blobs and door-line counting for one camera."""

    def __init__(self, settings: AnalysisSettings, width: int, height: int) -> None:
        """Set up for analysis frames of ``width`` x ``height`` pixels."""
        self._s = settings
        self._area = float(width * height)
        self._counter: LineCounter | None = None
        if settings.door_line is not None:
            vertical = settings.inside in (Inside.LEFT, Inside.RIGHT)
            extent = width if vertical else height
            self._counter = LineCounter(
                vertical=vertical,
                at_px=settings.door_line * extent,
                inside_is_greater=settings.inside in (Inside.DOWN, Inside.RIGHT),
                band_px=settings.line_band * extent,
                max_jump_px=settings.max_jump * max(width, height),
            )
        self._frames = 0
        self._model = self._new_model()

    def _new_model(self) -> cv2.BackgroundSubtractorMOG2:
        """A fresh background model."""
        return cv2.createBackgroundSubtractorMOG2(
            history=200, varThreshold=self._s.var_threshold, detectShadows=False
        )

    def reset(self) -> None:
        """Learn the background anew (after the picture was lost, covered or frozen)."""
        self._model = self._new_model()
        self._frames = 0
        if self._counter is not None:
            self._counter.reset()

    def feed(self, grey: NDArray[np.uint8]) -> FrameFindings:
        """Analyse one small grey frame."""
        self._frames += 1
        warming = self._frames <= self._s.warmup_frames
        rate = -1.0 if warming else self._s.learning_rate  # -1: learn as fast as it can at first
        mask = self._model.apply(grey, learningRate=rate)
        if warming:
            return FrameFindings(0.0, 0, (), warming_up=True)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, _KERNEL)
        level = cv2.countNonZero(mask) / self._area
        count, _, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
        min_area = self._s.min_blob * self._area
        people = [
            (float(centroids[i][0]), float(centroids[i][1]))
            for i in range(1, count)
            if stats[i, cv2.CC_STAT_AREA] >= min_area
        ]
        crossings = tuple(self._counter.update(people)) if self._counter is not None else ()
        return FrameFindings(level, len(people), crossings, warming_up=False)
