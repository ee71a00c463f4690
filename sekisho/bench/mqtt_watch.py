"""The MQTT side of the benchmark: a relay that can cut the gateway's line to the broker, and a
subscriber that notes when each event arrived (``time.perf_counter_ns``, comparable with the
gateway process's own clock)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

BROKER = ("127.0.0.1", 1883)


def broker_up() -> bool:
    """True when the machine's broker accepts a TCP connection."""
    try:
        with socket.create_connection(BROKER, timeout=2):
            return True
    except OSError:
        return False


class Relay:
    """A TCP relay from a free loopback port to the broker that can be cut and restored."""

    def __init__(self) -> None:
        """Not listening yet; open once started."""
        self.port = 0
        self.open = True
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listen on a free port."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    def cut(self) -> None:
        """Drop every connection and refuse new ones (the line to the broker is down)."""
        self.open = False
        for w in list(self._writers):
            w.transport.abort()

    async def stop(self) -> None:
        """Stop listening and drop everything."""
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        """Relay one connection both ways while the line is up."""
        if not self.open:
            w.transport.abort()
            return
        try:
            ur, uw = await asyncio.open_connection(*BROKER)
        except OSError:
            w.transport.abort()
            return
        self._writers |= {w, uw}
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await asyncio.gather(_pipe(r, uw), _pipe(ur, w))
        except asyncio.CancelledError:
            pass
        finally:
            self._writers -= {w, uw}
            if task is not None:
                self._tasks.discard(task)
            w.transport.abort()
            uw.transport.abort()


async def _pipe(a: asyncio.StreamReader, b: asyncio.StreamWriter) -> None:
    """Copy one direction until EOF or a cut."""
    with contextlib.suppress(OSError):
        while data := await a.read(65536):
            b.write(data)
            await b.drain()
    b.transport.abort()


class Subscriber:
    """Subscribes to the gateway's event topics; notes the first arrival of each seq."""

    def __init__(self, prefix: str, kinds: tuple[str, ...] = ("access.decision", "system")) -> None:
        """Topics ``<prefix>/event/<kind>``; nothing connects until ``start``."""
        self._topics = [f"{prefix}/event/{k}" for k in kinds]
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self.arrived: dict[str, dict[int, int]] = {k: {} for k in kinds}
        self._client = paho.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *_: self._ready.set()
        self._client.on_message = self._on_message

    def start(self, timeout_s: float = 20.0) -> None:
        """Connect straight to the broker and subscribe; TimeoutError when it does not."""
        self._client.connect(*BROKER)
        self._client.loop_start()
        if not self._ready.wait(timeout_s):
            self.stop()
            raise TimeoutError("the MQTT subscriber was not subscribed in time")

    def stop(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()

    def count(self, kind: str) -> int:
        """Events of a kind received so far."""
        with self._lock:
            return len(self.arrived[kind])

    def snapshot(self, kind: str) -> dict[int, int]:
        """seq → arrival (perf_counter_ns) of a kind's events so far."""
        with self._lock:
            return dict(self.arrived[kind])

    def _on_connect(self, client: paho.Client, *_: object) -> None:
        """Subscribe (again) once connected."""
        client.subscribe([(t, 1) for t in self._topics])

    def _on_message(self, _c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        """Note the first arrival of each seq of each kind."""
        now = time.perf_counter_ns()
        kind = message.topic.rsplit("/", 1)[-1]
        try:
            seq = int(json.loads(message.payload)["seq"])
        except (ValueError, KeyError, TypeError):
            return
        with self._lock:
            if kind in self.arrived:
                self.arrived[kind].setdefault(seq, now)
