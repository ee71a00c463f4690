"""Is the picture still a picture? Frozen and blinded (covered, black, sprayed) detection.

Fed one small grey frame at a time with its time; says FROZEN after the picture has not changed
at all for ``frozen_after_s`` (a live sensor always shows some noise), BLINDED after it has been
black or featureless for ``blinded_after_s``, and OK after a good picture for
``clear_after_s``. In between it keeps its last verdict, so a hand passing the lens or one odd
frame does not flap the alarm (4-8-7(4)).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from devices.camera.settings import PictureSettings
from gateway.events import CameraCondition


@dataclass(frozen=True, slots=True)
class Verdict:
    """The picture check's current judgement and the figures behind it."""

    condition: CameraCondition | None  # None: not judged yet
    detail: str


class PictureCheck:
    """Tracks how long the picture has been frozen, blinded or good."""

    def __init__(self, settings: PictureSettings) -> None:
        """Nothing judged yet."""
        self._s = settings
        self._previous: NDArray[np.uint8] | None = None
        self._frozen_since: float | None = None
        self._blinded_since: float | None = None
        self._good_since: float | None = None
        self._verdict = Verdict(None, "")

    @property
    def verdict(self) -> Verdict:
        """The current judgement."""
        return self._verdict

    def reset(self) -> None:
        """Forget the history (the stream was reopened): judge afresh."""
        self._previous = None
        self._frozen_since = self._blinded_since = self._good_since = None
        self._verdict = Verdict(None, "")

    def feed(self, grey: NDArray[np.uint8], now_s: float) -> Verdict:
        """Judge one small grey frame taken at ``now_s`` (monotonic seconds)."""
        mean, std = (float(v[0][0]) for v in cv2.meanStdDev(grey))
        diff = None
        if self._previous is not None and self._previous.shape == grey.shape:
            diff = float(cv2.norm(grey, self._previous, cv2.NORM_L1)) / grey.size
        self._previous = grey
        frozen = diff is not None and diff <= self._s.frozen_diff
        blinded = mean < self._s.dark_level or std < self._s.min_contrast
        self._frozen_since = (self._frozen_since or now_s) if frozen else None
        self._blinded_since = (self._blinded_since or now_s) if blinded else None
        good = not frozen and not blinded and diff is not None
        self._good_since = (self._good_since or now_s) if good else None
        figures = f"mean {mean:.1f}, contrast {std:.1f}" + (
            f", change {diff:.2f}" if diff is not None else ""
        )
        if self._blinded_since is not None and now_s - self._blinded_since >= (
            self._s.blinded_after_s
        ):
            what = "black (lens covered?)" if mean < self._s.dark_level else "no contrast"
            self._verdict = Verdict(CameraCondition.BLINDED, f"picture {what}: {figures}")
        elif self._frozen_since is not None and now_s - self._frozen_since >= (
            self._s.frozen_after_s
        ):
            held = now_s - self._frozen_since
            self._verdict = Verdict(
                CameraCondition.FROZEN, f"picture unchanged for {held:.1f} s: {figures}"
            )
        elif self._good_since is not None and now_s - self._good_since >= self._s.clear_after_s:
            self._verdict = Verdict(CameraCondition.OK, figures)
        return self._verdict
