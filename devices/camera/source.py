"""Where frames come from: any OpenCV source (RTSP, HTTP MJPEG, a file, a device index).

``open_reader`` turns the site file's ``source`` string into a ``FrameReader``:

- ``rtsp://...``, ``http://...``, ``https://...``: a network stream through FFmpeg, with open
  and read timeouts so that a dead camera never blocks the reader for long;
- ``device:N``: a local capture device (V4L2 index N);
- ``file:PATH`` or a plain path: a video file, read at its own frame rate, looping at its end.

Every ``cv2.error`` is caught here and becomes a ``LinkError``.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, cast

import cv2
import numpy as np
from numpy.typing import NDArray

from devices.errors import ConfigurationRefused, LinkError

Image = NDArray[np.uint8]
_NETWORK = ("rtsp://", "rtsps://", "http://", "https://")

# FFmpeg and OpenCV print every refused connection of a reconnecting camera on stderr; the
# driver logs what matters itself. An operator may still set these to see FFmpeg's own words.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
# Each camera has a thread of its own; OpenCV's own thread pool on top of that only adds
# contention on a small gateway (measured: ~30 % more frames per CPU-second with one thread).
cv2.setNumThreads(1)


class FrameReader(Protocol):
    """A stream of decoded BGR frames, read by one thread."""

    @property
    def name(self) -> str:
        """The source as shown in logs and records (no credentials)."""

    def open(self) -> None:
        """Open the source; LinkError when it cannot be opened."""

    def read(self) -> Image | None:
        """The next frame, waiting for it; None when the stream ended or timed out."""

    def close(self) -> None:
        """Release the source (safe to call twice)."""


def redact(source: str) -> str:
    """The source without a password (``rtsp://user:secret@host`` → ``rtsp://user:***@host``)."""
    scheme, sep, rest = source.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return source
    creds, _, host = rest.partition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


class OpenCvReader:
    """A ``cv2.VideoCapture`` with timeouts, pacing for files and errors translated."""

    def __init__(
        self,
        source: str,
        *,
        open_timeout_s: float = 3.0,
        read_timeout_s: float = 3.0,
        loop_file: bool = True,
    ) -> None:
        """Parse ``source``; ConfigurationRefused when it names nothing usable."""
        self._source = source
        self._open_ms = int(open_timeout_s * 1000)
        self._read_ms = int(read_timeout_s * 1000)
        self._loop = loop_file
        self._cap: cv2.VideoCapture | None = None
        self._pace_s = 0.0
        self._next_at = 0.0
        if source.startswith(_NETWORK):
            self._kind, self._target = "network", source
        elif source.startswith("device:"):
            index = source.removeprefix("device:")
            if not index.isdigit():
                raise ConfigurationRefused(f"camera source {source!r}: device:N needs a number")
            self._kind, self._target = "device", index
        else:
            path = source.removeprefix("file:")
            if not path or "://" in path:
                raise ConfigurationRefused(
                    f"camera source {redact(source)!r}: use rtsp://, http(s)://, device:N or a file"
                )
            self._kind, self._target = "file", path

    @property
    def name(self) -> str:
        """The source without credentials."""
        return redact(self._source)

    def open(self) -> None:
        """Open the capture; LinkError when OpenCV cannot."""
        self.close()
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            self._open_ms,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            self._read_ms,
        ]
        try:
            if self._kind == "device":
                cap = cv2.VideoCapture(int(self._target))
            else:
                if self._kind == "file" and not Path(self._target).is_file():
                    raise LinkError(f"{self.name}: no such file")
                cap = cv2.VideoCapture(self._target, cv2.CAP_FFMPEG, params)
            if not cap.isOpened():
                cap.release()
                raise LinkError(f"{self.name}: cannot be opened")
            fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        except cv2.error as exc:
            raise LinkError(f"{self.name}: {exc.err or exc}") from None
        self._cap = cap
        self._pace_s = 1.0 / fps if self._kind == "file" and 0 < fps <= 240 else 0.0
        self._next_at = time.monotonic()

    def read(self) -> Image | None:
        """The next frame; files are paced to their frame rate and loop at their end."""
        cap = self._cap
        if cap is None:
            raise LinkError(f"{self.name}: not open")
        if self._pace_s:
            delay = self._next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._next_at = max(self._next_at + self._pace_s, time.monotonic() - self._pace_s)
        try:
            ok, frame = cap.read()
            if not ok and self._kind == "file" and self._loop:
                cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, frame = cap.read()
        except cv2.error as exc:
            raise LinkError(f"{self.name}: {exc.err or exc}") from None
        if not ok or frame is None or frame.ndim != 3 or frame.shape[2] != 3:
            return None
        return cast(Image, frame)

    def close(self) -> None:
        """Release the capture."""
        cap, self._cap = self._cap, None
        if cap is not None:
            with contextlib.suppress(cv2.error):  # a broken capture: nothing more to release
                cap.release()


class MemoryReader:
    """Decoded frames from memory at a fixed rate, looping: a camera without video decode.

    For benchmarks of the analysis cost, which must leave decoding out; ``fail()`` makes the
    next reads fail as a lost stream would.
    """

    def __init__(self, frames: Sequence[Image], fps: float, name: str = "memory") -> None:
        """Serve ``frames`` in turn at ``fps``."""
        if not frames or fps <= 0:
            raise ConfigurationRefused("a memory source needs frames and fps > 0")
        self._frames = list(frames)
        self._period = 1.0 / fps
        self._name = name
        self._i = 0
        self._next_at = 0.0
        self._open = False
        self._failed = threading.Event()

    @property
    def name(self) -> str:
        """The name given."""
        return self._name

    def fail(self, failed: bool = True) -> None:
        """Make the source unreachable (or reachable again)."""
        if failed:
            self._failed.set()
        else:
            self._failed.clear()

    def open(self) -> None:
        """Start serving; LinkError while failed."""
        if self._failed.is_set():
            raise LinkError(f"{self._name}: unreachable")
        self._open = True
        self._next_at = time.monotonic()

    def read(self) -> Image | None:
        """The next frame, on time."""
        if not self._open or self._failed.is_set():
            return None
        delay = self._next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self._next_at = max(self._next_at + self._period, time.monotonic() - self._period)
        frame = self._frames[self._i % len(self._frames)]
        self._i += 1
        return frame

    def close(self) -> None:
        """Stop serving."""
        self._open = False
