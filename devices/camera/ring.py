"""A ring buffer of the last seconds of decoded frames, shared by the reader and the core.

The reader thread pushes; evidence workers look up the frame nearest a moment or the frames of
an interval. Nobody waits for the camera: a lookup answers from what is buffered now.
"""

from __future__ import annotations

import bisect
import threading
from collections import deque
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Image = NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class BufferedFrame:
    """One decoded frame and when it was read."""

    frame_ns: int  # time.perf_counter_ns() when it was read
    wall: float  # time.time() when it was read
    image: Image  # BGR, never modified after it is buffered


class FrameRing:
    """The frames of the last ``seconds``, at most ``max_fps`` of them per second."""

    def __init__(self, seconds: float, max_fps: float) -> None:
        """An empty ring keeping ``seconds`` of frames, thinned to ``max_fps``."""
        self._span_ns = int(seconds * 1e9)
        self._gap_ns = int(0.8e9 / max_fps)  # 80%: a stream at exactly max_fps has jitter
        self._frames: deque[BufferedFrame] = deque()
        self._lock = threading.Lock()

    def push(self, frame: BufferedFrame) -> bool:
        """Keep a frame unless it follows the last kept one too closely; True when kept."""
        with self._lock:
            if self._frames and frame.frame_ns - self._frames[-1].frame_ns < self._gap_ns:
                return False
            self._frames.append(frame)
            oldest = frame.frame_ns - self._span_ns
            while self._frames and self._frames[0].frame_ns < oldest:
                self._frames.popleft()
            return True

    def nearest(self, at_ns: int) -> BufferedFrame | None:
        """The buffered frame read nearest to ``at_ns`` (None when empty)."""
        with self._lock:
            frames = list(self._frames)
        if not frames:
            return None
        i = bisect.bisect_left([f.frame_ns for f in frames], at_ns)
        candidates = frames[max(0, i - 1) : i + 1]
        return min(candidates, key=lambda f: abs(f.frame_ns - at_ns))

    def between(self, from_ns: int, to_ns: int) -> list[BufferedFrame]:
        """Buffered frames read in ``[from_ns, to_ns]``, oldest first."""
        with self._lock:
            return [f for f in self._frames if from_ns <= f.frame_ns <= to_ns]

    def latest(self) -> BufferedFrame | None:
        """The newest buffered frame."""
        with self._lock:
            return self._frames[-1] if self._frames else None

    def clear(self) -> None:
        """Forget every frame (the stream was lost: old frames say nothing about now)."""
        with self._lock:
            self._frames.clear()

    def __len__(self) -> int:
        """Frames held now."""
        with self._lock:
            return len(self._frames)
