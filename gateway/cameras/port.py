"""The port a camera driver implements, and what it hands back (4-8-7(4), 4-8-6(10)).

The core never touches a video library: it asks a ``Camera`` for stills out of the driver's
ring buffer of recent frames (the frame nearest a moment, never waiting on the camera) and
receives typed ``CameraEvent`` s (health, motion, door-line crossings) on the event loop.
Times are ``time.perf_counter_ns()`` values, the clock every driver stamps frames with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from gateway.events import CameraCondition, CameraEvent


@dataclass(frozen=True, slots=True)
class Still:
    """One picture out of a camera's ring buffer, JPEG-encoded."""

    jpeg: bytes
    frame_ns: int  # perf_counter_ns when the frame was read
    ts: datetime  # UTC wall-clock time when the frame was read
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class CameraStats:
    """What a driver knows about its camera now (for the desk and the API)."""

    condition: CameraCondition | None  # None until the driver has judged the picture
    detail: str
    since: datetime  # when ``condition`` began (UTC)
    fps: float  # frames read per second, over the last few seconds
    last_frame: datetime | None  # UTC time of the newest frame
    width: int | None
    height: int | None
    frames: int  # frames read since start
    reconnects: int  # times the stream was opened again after a loss


class CameraEventSink(Protocol):
    """Receives camera events; drivers call it on the event-loop thread only."""

    def __call__(self, event: CameraEvent, /) -> None:
        """Accept one event; must not block."""


class Camera(Protocol):
    """A driver for one camera: a worker thread reads frames into a ring buffer."""

    @property
    def camera_id(self) -> str:
        """The camera's id in the site file."""

    async def start(self, sink: CameraEventSink) -> None:
        """Start reading in the background; returns at once (the stream may not be up)."""

    async def stop(self) -> None:
        """Stop reading and release the stream; no event is delivered after this returns."""

    def still(self, at_ns: int) -> Still | None:
        """The buffered frame nearest ``at_ns``, encoded; None when the buffer is empty.

        Thread-safe and never waits for the camera; encoding costs a few milliseconds, so
        call it from a worker thread.
        """

    def stills(self, from_ns: int, to_ns: int, max_frames: int) -> list[Still]:
        """Buffered frames between two instants (at most ``max_frames``, evenly spread)."""

    def stats(self) -> CameraStats:
        """The camera's condition and stream figures now; never blocks."""
