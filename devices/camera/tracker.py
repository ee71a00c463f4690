"""Counting people across a door line: blobs matched frame to frame, crossings counted.

Pure Python, no OpenCV: fed the centroids of the moving blobs of each frame (in analysis
pixels), it keeps short tracks and reports a crossing when a track passes from one side of the
line to the other. A dead band either side of the line stops a person standing in the doorway
from being counted twice; a blob that jumps further than ``max_jump`` is someone new.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

OUTSIDE = -1
UNKNOWN = 0
INSIDE = 1


@dataclass(slots=True)
class _Track:
    """One moving blob followed from frame to frame."""

    x: float
    y: float
    side: int  # OUTSIDE, INSIDE, or UNKNOWN while it has only been seen in the band
    missed: int = 0


class LineCounter:
    """Tracks blobs and counts their crossings of one straight door line."""

    def __init__(
        self,
        *,
        vertical: bool,
        at_px: float,
        inside_is_greater: bool,
        band_px: float,
        max_jump_px: float,
        max_missed: int = 3,
    ) -> None:
        """A line at ``at_px`` on the y axis (or x when ``vertical``)."""
        self._vertical = vertical
        self._at = at_px
        self._inside_greater = inside_is_greater
        self._band = band_px
        self._max_jump = max_jump_px
        self._max_missed = max_missed
        self._tracks: list[_Track] = []

    @property
    def tracks(self) -> int:
        """Blobs being followed now."""
        return len(self._tracks)

    def reset(self) -> None:
        """Forget every track (the picture was lost)."""
        self._tracks = []

    def _side(self, x: float, y: float) -> int:
        """Which side of the line a point is on; UNKNOWN inside the dead band."""
        offset = (x if self._vertical else y) - self._at
        if abs(offset) <= self._band:
            return UNKNOWN
        return INSIDE if (offset > 0) == self._inside_greater else OUTSIDE

    def update(self, centroids: list[tuple[float, float]]) -> list[bool]:
        """Match this frame's blobs to tracks; each crossing as True (inward) or False."""
        pairs = sorted(
            (math.dist((t.x, t.y), c), ti, ci)
            for ti, t in enumerate(self._tracks)
            for ci, c in enumerate(centroids)
        )
        matched_t: set[int] = set()
        matched_c: set[int] = set()
        crossings: list[bool] = []
        for dist, ti, ci in pairs:
            if dist > self._max_jump or ti in matched_t or ci in matched_c:
                continue
            matched_t.add(ti)
            matched_c.add(ci)
            track = self._tracks[ti]
            track.x, track.y = centroids[ci]
            track.missed = 0
            side = self._side(track.x, track.y)
            if side != UNKNOWN:
                if track.side not in (UNKNOWN, side):
                    crossings.append(side == INSIDE)
                track.side = side
        kept = []
        for ti, track in enumerate(self._tracks):
            if ti not in matched_t:
                track.missed += 1
            if track.missed <= self._max_missed:
                kept.append(track)
        for ci, (x, y) in enumerate(centroids):
            if ci not in matched_c:
                kept.append(_Track(x, y, self._side(x, y)))
        self._tracks = kept
        return crossings
