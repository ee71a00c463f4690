"""MQTT bus figures on the machine's Mosquitto (127.0.0.1:1883): event latency and backlog drain.

    .venv/bin/python bench/bench_mqtt.py [--events 500] [--backlog 5000]

Latency: from ``Gateway.record()`` returning (the record committed to SQLite) to a subscriber
receiving its event; every event goes through the durable outbox (insert, send, PUBACK,
delete). Backlog: records written while the gateway's line to the broker is cut (a TCP relay),
then the time from the line's return until the subscriber has every one of them, in order.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from devices.mqtt.from_site import build_link
from gateway.config.site import SiteConfig
from gateway.mqtt.service import MqttService
from gateway.records import NewRecord, RecordKind
from gateway.runtime import Gateway
from gateway.storage.engine import make_engine
from gateway.storage.migrate import upgrade

BROKER_PORT = 1883


class Relay:
    """A TCP relay to the broker that can be cut and restored."""

    def __init__(self) -> None:
        """Not listening yet; open."""
        self.port = 0
        self.open = True
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        """Listen on a free port."""
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]

    def cut(self) -> None:
        """Drop every connection and refuse new ones."""
        self.open = False
        for w in list(self._writers):
            w.transport.abort()

    async def _serve(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        """Relay one connection both ways."""
        if not self.open:
            w.transport.abort()
            return
        ur, uw = await asyncio.open_connection("127.0.0.1", BROKER_PORT)
        self._writers |= {w, uw}

        async def pipe(a: asyncio.StreamReader, b: asyncio.StreamWriter) -> None:
            """Copy one direction until EOF."""
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await a.read(65536):
                    b.write(data)
                    await b.drain()
            b.transport.abort()

        with contextlib.suppress(asyncio.CancelledError):  # the run is over
            await asyncio.gather(pipe(r, uw), pipe(ur, w))


def site(site_id: str, port: int) -> SiteConfig:
    """A site with one door and no drivers, publishing under bench/<id>."""
    return SiteConfig.model_validate(
        {
            "site": {"id": site_id, "name": "bench"},
            "readers": [{"id": "r1", "kind": "rdm6300", "port": "/dev/null"}],
            "modules": [{"id": "io1"}],
            "zones": [{"id": "z1", "name": "Z"}],
            "doors": [
                {
                    "id": "d1",
                    "name": "D",
                    "zone": "z1",
                    "entry_reader": "r1",
                    "module": "io1",
                    "strike_output": 0,
                    "contact_input": 0,
                }
            ],
            "mqtt": {
                "port": port,
                "prefix": f"bench/{site_id}",
                "discovery": {"enabled": False},
                "reconnect_max_s": 1,
            },
        }
    )


def subscriber(topic: str) -> tuple[paho.Client, dict[int, float], threading.Event]:
    """A paho subscriber that notes when each seq arrived (first time)."""
    got: dict[int, float] = {}
    ready = threading.Event()
    c = paho.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    c.on_connect = lambda cl, *_: cl.subscribe(topic, 1)
    c.on_subscribe = lambda *_: ready.set()

    def on_message(_c: paho.Client, _u: object, m: paho.MQTTMessage) -> None:
        """Note the first arrival of each seq."""
        got.setdefault(int(json.loads(m.payload)["seq"]), time.perf_counter())

    c.on_message = on_message
    c.connect("127.0.0.1", BROKER_PORT)
    c.loop_start()
    ready.wait(10)
    return c, got, ready


async def wait_for(cond: object, limit: float = 120.0) -> None:
    """Poll a zero-argument callable until it is true."""
    assert callable(cond)
    deadline = time.monotonic() + limit
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark condition not reached")
        await asyncio.sleep(0.001)


async def main(events: int, backlog: int) -> None:
    """Run both measurements and print the figures."""
    relay = Relay()
    await relay.start()
    sid = f"b{secrets.token_hex(4)}"
    cfg = site(sid, relay.port)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(sqlite_path=Path(tmp) / "bench.db")
        upgrade(engine)
        gateway = Gateway(cfg, engine)
        assert cfg.mqtt is not None
        service = MqttService(gateway, engine, build_link(cfg.mqtt, sid, Path(tmp)))
        sub, got, _ = subscriber(f"bench/{sid}/event/system")
        await service.start()
        await gateway.start()
        await wait_for(lambda: service.status().connected, 20)

        lat: list[float] = []
        for i in range(events):
            seq = await gateway.record(
                NewRecord(RecordKind.SYSTEM, datetime.now(UTC), detail={"n": i})
            )
            t0 = time.perf_counter()
            await wait_for(lambda s=seq: s in got)
            lat.append((got[seq] - t0) * 1000)
        lat.sort()
        print(f"record committed → subscriber, {events} events, one at a time:")
        print(
            f"  p50 {statistics.median(lat):.2f} ms  p99 {lat[int(len(lat) * 0.99) - 1]:.2f} ms"
            f"  max {lat[-1]:.2f} ms"
        )

        relay.cut()
        await wait_for(lambda: not service.status().connected, 20)
        seqs = [
            await gateway.record(NewRecord(RecordKind.SYSTEM, datetime.now(UTC), detail={"b": i}))
            for i in range(backlog)
        ]
        await wait_for(lambda: service.status().backlog == 0 or service.status().backlog >= backlog)
        t0 = time.perf_counter()
        relay.open = True
        await wait_for(lambda: service.status().connected, 60)
        t1 = time.perf_counter()
        await wait_for(lambda: all(s in got for s in seqs), 300)
        t2 = time.perf_counter()
        order = sorted(seqs, key=lambda s: got[s])
        print(f"backlog of {backlog} events written while the line was cut:")
        print(
            f"  reconnected {t1 - t0:.2f} s after the line returned (back-off), then all"
            f" delivered in {t2 - t1:.2f} s ({backlog / (t2 - t1):,.0f} events/s);"
            f" in order: {order == seqs}"
        )
        await gateway.stop()
        await service.stop()
        relay.cut()
        sub.disconnect()
        sub.loop_stop()
        engine.dispose()
    clear_retained(f"bench/{sid}/#")


def clear_retained(topic_filter: str) -> None:
    """Delete the retained messages this run left on the shared broker."""
    found: set[str] = set()
    c = paho.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    c.on_message = lambda _c, _u, m: found.add(m.topic) if m.retain and m.payload else None
    c.connect("127.0.0.1", BROKER_PORT)
    c.loop_start()
    c.subscribe(topic_filter, 0)
    time.sleep(0.5)  # the retained burst comes right after the subscription
    for info in [c.publish(t, b"", qos=1, retain=True) for t in sorted(found)]:
        info.wait_for_publish(5)
    c.disconnect()
    c.loop_stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--backlog", type=int, default=5000)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.backlog))
