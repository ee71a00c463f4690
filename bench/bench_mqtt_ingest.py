"""Event ingest with MQTT on, in one process, on the path ``sekisho bench`` measures.

    .venv/bin/python bench/bench_mqtt_ingest.py [--records 20000] [--writers 64] [--off]
                                                [--rounds 3] [--profile]

The gateway is built as ``sekisho.app.serve`` builds it, without drivers and without the API:
the signed record log (``sekisho.audit_runtime.AuditRuntime``, a checkpoint key made for the
run), the alarm and custody stacks on the bus, and the MQTT service on the machine's Mosquitto
(127.0.0.1:1883). ``--writers`` tasks each await ``Gateway.record()`` of a ``system`` record,
as ``sekisho bench``'s "event ingest/s" does (``sekisho/bench/gateway_proc.py``). The figure is
records committed ÷ time; then the time until the MQTT backlog is empty (every event
acknowledged by the broker) is printed, and the process's CPU time per record in both phases
(steadier than the rate on a shared machine). ``--off`` runs the same without the MQTT service.
``--rounds`` repeats the ingest on the same gateway (the first round warms up). ``--watch``
adds what ``sekisho bench`` has around its gateway: a second process relaying the gateway's
connection to the broker (``sekisho.bench.mqtt_watch.Relay``) and subscribing to the events
(``Subscriber``), which competes for the same cores.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import re
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench_mqtt import site as one_door_site  # this folder: run as bench/bench_mqtt_ingest.py

from gateway.alarms.stack import AlarmStack
from gateway.config.site import SiteConfig
from gateway.custody_stack import CustodyStack
from gateway.mqtt.service import MqttService
from gateway.runtime import Gateway
from gateway.storage.engine import make_engine
from gateway.storage.migrate import upgrade
from sekisho.app import Site, build_mqtt
from sekisho.audit_runtime import AuditRuntime, ensure_checkpoint_key
from sekisho.bench.gateway_proc import append_records


def site_config(site_id: str, mqtt: bool, port: int = 1883) -> SiteConfig:
    """``bench_mqtt.py``'s site (one door, no drivers); MQTT to ``port`` (the machine's broker,
    or a relay to it) when ``mqtt``, else none."""
    config = one_door_site(site_id, port)
    return config if mqtt else config.model_copy(update={"mqtt": None})


def thread_cpu() -> dict[str, float]:
    """CPU seconds (user + system) of each live thread of this process, by thread name."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for t in threading.enumerate():
        if t.native_id is None:
            continue
        try:
            fields = Path(f"/proc/self/task/{t.native_id}/stat").read_text().rsplit(")", 1)[1]
        except OSError:
            continue
        utime, stime = (int(v) for v in fields.split()[11:13])
        name = re.sub(r"[-_\[]?[0-9a-f]{6,}\]?|_\d+$", "", t.name)  # one line per kind
        out[name] = out.get(name, 0.0) + (utime + stime) / tick
    return out


async def ingest(gateway: Gateway, count: int, writers: int, round_no: int) -> float:
    """``count`` records by ``writers`` tasks, each awaiting its commit; records/s."""
    start = time.perf_counter()
    seqs = await append_records(gateway, count, writers, f"ingest-{round_no}")
    return len(seqs) / (time.perf_counter() - start)


async def connected(mqtt: MqttService | None, limit_s: float = 30.0) -> None:
    """Wait until the MQTT link is up."""
    start = time.perf_counter()
    while mqtt is not None and not mqtt.status().connected:
        if time.perf_counter() - start > limit_s:
            raise TimeoutError("MQTT broker not connected")
        await asyncio.sleep(0.05)


async def drained(mqtt: MqttService | None, limit_s: float = 120.0) -> float:
    """Seconds until the MQTT backlog is empty."""
    start = time.perf_counter()
    while mqtt is not None and mqtt.status().backlog:
        if time.perf_counter() - start > limit_s:
            raise TimeoutError(f"MQTT backlog still {mqtt.status().backlog}")
        await asyncio.sleep(0.01)
    return time.perf_counter() - start


async def watch(prefix: str) -> None:
    """The ``--watch`` process: a relay to the broker and a subscriber, until stdin closes."""
    from sekisho.bench.mqtt_watch import Relay, Subscriber  # noqa: PLC0415 -- child only

    relay = Relay()
    await relay.start()
    subscriber = Subscriber(prefix)
    await asyncio.to_thread(subscriber.start)
    print(relay.port, flush=True)
    await asyncio.to_thread(sys.stdin.read)
    subscriber.stop()
    await relay.stop()


async def main(args: argparse.Namespace) -> None:
    """Build the gateway, ingest ``--rounds`` times, print the figures."""
    sid = f"b{secrets.token_hex(4)}"
    watcher: asyncio.subprocess.Process | None = None
    port = 1883
    if args.watch and not args.off:
        mqtt = one_door_site(sid, port).mqtt
        assert mqtt is not None
        watcher = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--watch-child",
            mqtt.topic_prefix(sid),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert watcher.stdout is not None
        port = int(await watcher.stdout.readline())
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        config = site_config(sid, not args.off, port)
        engine = make_engine(sqlite_path=base / "sekisho.db")
        upgrade(engine)
        site = Site(config, base, engine)
        ensure_checkpoint_key(site)
        audit = AuditRuntime(site)
        gateway = Gateway(config, engine, record_log=audit.log)
        stack = AlarmStack.attach(gateway, engine)
        custody = CustodyStack.attach(gateway, engine)
        mqtt = build_mqtt(site, gateway, stack.alarms)
        if mqtt is not None:
            await mqtt.start()
        audit.start()
        await stack.start()
        await custody.start()
        await gateway.start()
        try:
            await connected(mqtt)
            await drained(mqtt)
            rates: list[float] = []
            for r in range(args.rounds):
                prof = cProfile.Profile() if args.profile and r == args.rounds - 1 else None
                if prof is not None:
                    prof.enable()
                threads0 = thread_cpu()
                cpu0 = time.process_time()
                rate = await ingest(gateway, args.records, args.writers, r)
                cpu1 = time.process_time()
                if prof is not None:
                    prof.disable()
                drain = await drained(mqtt)
                cpu2 = time.process_time()
                rates.append(rate)
                status = mqtt.status() if mqtt is not None else None
                n = args.records // args.writers * args.writers
                print(
                    f"round {r}: {rate:,.0f} records/s ({args.writers} writers), "
                    f"MQTT backlog empty {drain:.2f} s later; process CPU per record "
                    f"{(cpu1 - cpu0) / n * 1e6:.0f} µs while writing + "
                    f"{(cpu2 - cpu1) / n * 1e6:.0f} µs after; {status}",
                    flush=True,
                )
                if args.threads:
                    threads1 = thread_cpu()
                    per = {k: (v - threads0.get(k, 0.0)) / n * 1e6 for k, v in threads1.items()}
                    print(
                        "  CPU per record by thread (µs, both phases): "
                        + ", ".join(f"{k} {v:.0f}" for k, v in sorted(per.items()) if v >= 0.5)
                    )
                if prof is not None:
                    pstats.Stats(prof).sort_stats("tottime").print_stats(30)
            kept = rates[1:] or rates
            print(
                f"ingest, MQTT {'off' if args.off else 'on'}: median {statistics.median(kept):,.0f}"
                f" records/s over {len(kept)} round(s) after the first"
            )
        finally:
            await custody.stop()
            await stack.stop()
            await gateway.stop()
            await audit.stop()
            if mqtt is not None:
                await mqtt.stop()
            engine.dispose()
            if watcher is not None and watcher.stdin is not None:
                watcher.stdin.close()
                await watcher.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--writers", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--off", action="store_true", help="without the MQTT service")
    parser.add_argument("--profile", action="store_true", help="cProfile the last round")
    parser.add_argument("--threads", action="store_true", help="CPU per record by thread")
    parser.add_argument("--watch", action="store_true", help="relay and subscriber beside")
    parser.add_argument("--watch-child", metavar="PREFIX", help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    if parsed.watch_child:
        asyncio.run(watch(parsed.watch_child))
    else:
        asyncio.run(main(parsed))
