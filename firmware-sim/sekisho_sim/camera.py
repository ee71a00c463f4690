"""A simulated doorway camera: a synthetic overhead scene served as MJPEG over HTTP on loopback.

The scene is a server-room doorway seen from above: floor, the door threshold across the middle
of the picture (the zone is above it), racks inside, lighting that drifts and sensor noise.
People are dark moving figures. Actions (from the control surface and ``sim camera``):

- ``walk N`` people through the doorway (into the zone, or out), one behind the other;
- ``wander`` someone inside the room for a few seconds (motion, no crossing);
- ``cover``/``uncover`` the lens (near-black picture), ``spray``/``clean`` it (no contrast);
- ``freeze``/``unfreeze`` the picture (the same JPEG is sent again and again);
- ``stop``/``start`` the stream (the HTTP server goes away and comes back on the same port).

A renderer thread draws ``fps`` frames a second with OpenCV and numpy; every client of
``GET /stream.mjpg`` gets the newest frame as a ``multipart/x-mixed-replace`` part.
``GET /snapshot.jpg`` answers one frame. Nothing here imports the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

BOUNDARY = b"sekishoframe"
_MAX_HEAD = 8192
_READ_TIMEOUT_S = 5.0


class SimCameraError(ValueError):
    """A camera action cannot be done (bad argument, or the camera is not running)."""


@dataclass(frozen=True, slots=True)
class SimCameraSpec:
    """One simulated camera."""

    camera_id: str
    width: int = 320
    height: int = 240
    fps: float = 10.0
    port: int = 0  # 0 = any free port on 127.0.0.1
    seed: int = 7
    walk_s: float = 2.0  # how long one person takes to cross the picture
    spacing_s: float = 1.0  # how far behind one another people walk
    noise: float = 2.0  # sensor noise, standard deviation in grey levels
    jpeg_quality: int = 80


@dataclass(frozen=True, slots=True)
class _Figure:
    """A person in the scene: where and when they move."""

    start: float  # monotonic seconds
    duration: float
    path: str  # "in", "out" or "wander"
    x: float  # share of the width where they walk (through the doorway)
    shade: int  # grey level of their clothes
    phase: float  # for wandering

    def position(self, now: float, w: int, h: int) -> tuple[int, int] | None:
        """Where the figure is at ``now`` (pixels), None before it starts or after it ends."""
        t = (now - self.start) / self.duration
        if not 0 <= t <= 1:
            return None
        if self.path == "wander":
            x = 0.5 + 0.3 * math.sin(2 * math.pi * t + self.phase)
            y = 0.22 + 0.08 * math.sin(4 * math.pi * t + self.phase)
            return int(x * w), int(y * h)
        margin = 0.2 * h
        top, bottom = -margin, h + margin
        y = bottom + (top - bottom) * t if self.path == "in" else top + (bottom - top) * t
        return int(self.x * w), int(y)


def _background(w: int, h: int, seed: int) -> NDArray[np.float32]:
    """The empty doorway from above: floor, threshold and walls, racks inside."""
    rng = np.random.default_rng(seed)
    floor = np.full((h, w), 150.0, np.float32)
    blotches = cv2.GaussianBlur(rng.normal(0, 18, (h, w)).astype(np.float32), (0, 0), 6)
    floor += blotches
    line = h // 2
    thick = max(3, h // 40)
    left, right = int(w * 0.3), int(w * 0.7)
    floor[line - thick : line + thick, :left] = 70  # wall left of the doorway
    floor[line - thick : line + thick, right:] = 70  # wall right of it
    floor[line - 1 : line + 1, left:right] = 110  # the threshold
    for i in range(4):  # racks inside the room, above the line
        x0 = int(w * (0.05 + 0.24 * i))
        floor[int(h * 0.04) : int(h * 0.14), x0 : x0 + int(w * 0.16)] = 55
    return floor


class SimCamera:
    """One simulated camera: renderer thread plus an asyncio HTTP server."""

    def __init__(self, spec: SimCameraSpec) -> None:
        """Prepare the scene; nothing runs until ``start``."""
        if spec.width < 64 or spec.height < 48 or not 0 < spec.fps <= 60:
            raise SimCameraError("a sim camera needs at least 64x48 pixels and 0 < fps <= 60")
        self.spec = spec
        self._background = _background(spec.width, spec.height, spec.seed)
        self._rng = random.Random(spec.seed)  # noqa: S311 -- scene variety, not secrecy
        self._noise_rng = np.random.default_rng(spec.seed + 1)
        self._lock = threading.Lock()
        self._figures: list[_Figure] = []
        self._covered = False
        self._sprayed = False
        self._frozen = False
        self._walked_in = 0
        self._walked_out = 0
        self._frames = 0
        self._latest: bytes | None = None
        self._stop_render = threading.Event()
        self._renderer: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._new_frame = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()
        self._port = spec.port

    # ------------------------------------------------------------------ life cycle

    @property
    def camera_id(self) -> str:
        """The camera's id."""
        return self.spec.camera_id

    @property
    def port(self) -> int:
        """The TCP port the stream is served on (the bound one once started)."""
        return self._port

    @property
    def url(self) -> str:
        """The MJPEG stream's URL."""
        return f"http://127.0.0.1:{self._port}/stream.mjpg"

    @property
    def streaming(self) -> bool:
        """True while the HTTP server is up."""
        return self._server is not None

    async def start(self) -> None:
        """Start rendering and serving."""
        self._loop = asyncio.get_running_loop()
        self._new_frame = asyncio.Event()
        if self._renderer is None:
            self._stop_render.clear()
            self._renderer = threading.Thread(
                target=self._render_forever, name=f"sim-camera:{self.camera_id}", daemon=True
            )
            self._renderer.start()
        await self.start_stream()

    async def stop(self) -> None:
        """Stop serving and rendering."""
        await self.stop_stream()
        self._stop_render.set()
        renderer, self._renderer = self._renderer, None
        if renderer is not None:
            await asyncio.to_thread(renderer.join, 5.0)

    async def start_stream(self) -> None:
        """Listen again (on the same port once one was bound)."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self._port)
        self._port = int(self._server.sockets[0].getsockname()[1])

    async def stop_stream(self) -> None:
        """Stop listening and drop every client: the camera is gone from the network."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        clients, self._clients = self._clients, set()
        for task in clients:
            task.cancel()
        await asyncio.gather(*clients, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    # ------------------------------------------------------------------ actions

    def walk(
        self, people: int = 1, *, inward: bool = True, spacing_s: float | None = None
    ) -> float:
        """Walk ``people`` through the doorway one behind another; seconds until all are through."""
        if not 1 <= people <= 20:
            raise SimCameraError("walk 1..20 people at a time")
        spacing = self.spec.spacing_s if spacing_s is None else spacing_s
        if not 0.2 <= spacing <= 30:
            raise SimCameraError("spacing must be 0.2..30 s")
        now = time.monotonic()
        with self._lock:
            for i in range(people):
                self._figures.append(
                    _Figure(
                        now + i * spacing,
                        self.spec.walk_s,
                        "in" if inward else "out",
                        0.5 + self._rng.uniform(-0.06, 0.06),
                        self._rng.randint(25, 70),
                        0.0,
                    )
                )
        return (people - 1) * spacing + self.spec.walk_s

    def wander(self, seconds: float = 4.0) -> float:
        """Someone moves about inside the room (no crossing) for ``seconds``."""
        if not 0.5 <= seconds <= 600:
            raise SimCameraError("wander for 0.5..600 s")
        with self._lock:
            self._figures.append(
                _Figure(time.monotonic(), seconds, "wander", 0.5, 40, self._rng.uniform(0, math.pi))
            )
        return seconds

    def cover(self, covered: bool = True) -> None:
        """Cover (or uncover) the lens."""
        with self._lock:
            self._covered = covered

    def spray(self, sprayed: bool = True) -> None:
        """Spray (or clean) the lens: a blurred, washed-out picture."""
        with self._lock:
            self._sprayed = sprayed

    def freeze(self, frozen: bool = True) -> None:
        """Freeze (or unfreeze) the picture: the same JPEG again and again."""
        with self._lock:
            self._frozen = frozen

    @property
    def busy(self) -> bool:
        """True while someone is still walking or wandering in the picture."""
        with self._lock:
            return bool(self._figures)

    async def wait_idle(self, within: float = 60.0) -> None:
        """Wait until every figure has left the picture."""
        deadline = time.monotonic() + within
        while self.busy:
            if time.monotonic() > deadline:
                raise SimCameraError(f"camera {self.camera_id}: figures still walking")
            await asyncio.sleep(0.05)

    def view(self) -> dict[str, Any]:
        """The camera's state as plain JSON."""
        with self._lock:
            return {
                "camera": self.camera_id,
                "url": self.url,
                "streaming": self.streaming,
                "covered": self._covered,
                "sprayed": self._sprayed,
                "frozen": self._frozen,
                "walking": len(self._figures),
                "walked_in": self._walked_in,
                "walked_out": self._walked_out,
                "frames": self._frames,
                "clients": len(self._clients),
                "size": [self.spec.width, self.spec.height],
                "fps": self.spec.fps,
            }

    # ------------------------------------------------------------------ rendering

    def render(self, now: float) -> NDArray[np.uint8]:
        """One frame of the scene at monotonic time ``now`` (BGR)."""
        w, h = self.spec.width, self.spec.height
        with self._lock:
            figures = list(self._figures)
            covered, sprayed = self._covered, self._sprayed
        grey = self._background * (1.0 + 0.03 * math.sin(2 * math.pi * now / 7.0))
        for f in figures:
            at = f.position(now, w, h)
            if at is None:
                continue
            body = (int(w * 0.07), int(h * 0.09))
            cv2.ellipse(grey, at, body, 0, 0, 360, float(f.shade), -1)
            cv2.circle(grey, at, int(w * 0.035), float(f.shade + 25), -1)
        if sprayed:
            grey = cv2.GaussianBlur(grey, (0, 0), 9) * 0.15 + 170 * 0.85
        if covered:
            grey = np.full((h, w), 4.0, np.float32)
        noise = self._noise_rng.normal(0, 1 if covered else self.spec.noise, (h, w))
        grey = np.clip(grey + noise, 0, 255).astype(np.uint8)
        return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)  # type: ignore[return-value]  # uint8 in, uint8 out

    def _retire(self, now: float) -> None:
        """Drop figures that have left the picture, counting them."""
        with self._lock:
            keep = []
            for f in self._figures:
                if now - f.start <= f.duration:
                    keep.append(f)
                elif f.path == "in":
                    self._walked_in += 1
                elif f.path == "out":
                    self._walked_out += 1
            self._figures = keep

    def _render_forever(self) -> None:
        """Renderer thread: draw, encode, publish, ``fps`` times a second."""
        period = 1.0 / self.spec.fps
        next_at = time.monotonic()
        params = [cv2.IMWRITE_JPEG_QUALITY, self.spec.jpeg_quality]
        while not self._stop_render.is_set():
            now = time.monotonic()
            self._retire(now)
            with self._lock:
                frozen = self._frozen and self._latest is not None
            if frozen:
                jpeg = self._latest
            else:
                ok, buf = cv2.imencode(".jpg", self.render(now), params)
                jpeg = buf.tobytes() if ok else self._latest
            if jpeg is not None:
                with self._lock:
                    self._latest = jpeg
                    self._frames += 1
                loop = self._loop
                if loop is not None:
                    with contextlib.suppress(RuntimeError):  # loop closed: the sim is stopping
                        loop.call_soon_threadsafe(self._announce)
            next_at += period
            self._stop_render.wait(max(0.0, next_at - time.monotonic()))

    def _announce(self) -> None:
        """On the loop: wake every client waiting for a new frame."""
        event, self._new_frame = self._new_frame, asyncio.Event()
        event.set()

    # ------------------------------------------------------------------ serving

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One HTTP client: a stream, a snapshot, or a 404."""
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT_S)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
                return
            parts = head[:_MAX_HEAD].decode("latin-1").split("\r\n", 1)[0].split(" ")
            path = parts[1].split("?", 1)[0] if len(parts) == 3 else ""
            if parts[0] != "GET" or path not in ("/", "/stream.mjpg", "/snapshot.jpg"):
                writer.write(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
                return
            if path == "/snapshot.jpg":
                await self._snapshot(writer)
            else:
                await self._stream(writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if task is not None:
                self._clients.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _snapshot(self, writer: asyncio.StreamWriter) -> None:
        """Answer the newest frame as one JPEG."""
        while self._latest is None:
            await self._new_frame.wait()
        jpeg = self._latest
        writer.write(
            b"HTTP/1.0 200 OK\r\nContent-Type: image/jpeg\r\n"
            + f"Content-Length: {len(jpeg)}\r\n\r\n".encode()
            + jpeg
        )
        await writer.drain()

    async def _stream(self, writer: asyncio.StreamWriter) -> None:
        """Send every new frame as a multipart part until the client or the stream goes."""
        writer.write(
            b"HTTP/1.0 200 OK\r\nCache-Control: no-cache\r\nConnection: close\r\n"
            b"Content-Type: multipart/x-mixed-replace; boundary=" + BOUNDARY + b"\r\n\r\n"
        )
        while True:
            await self._new_frame.wait()
            jpeg = self._latest
            if jpeg is None:
                continue
            writer.write(
                b"--"
                + BOUNDARY
                + b"\r\nContent-Type: image/jpeg\r\n"
                + f"Content-Length: {len(jpeg)}\r\n\r\n".encode()
                + jpeg
                + b"\r\n"
            )
            await writer.drain()
