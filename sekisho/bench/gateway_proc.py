"""A real gateway process for ``sekisho bench``: ``serve()`` with a command channel on stdin.

    python -m sekisho.bench.gateway_proc SITE_FILE DATA_DIR

The gateway is the one ``sekisho run`` starts — site file, signed record log, drivers, alarm
and custody stacks, MQTT when the site file has it, the API on a free loopback port — so its
memory and its timings are those of a deployed gateway. Once it is up it writes one JSON line
to stdout (``{"event": "ready", ...}``) and then answers one JSON line per command line read
from stdin; ``{"cmd": "stop"}`` (or stdin closing) stops it as SIGTERM does.

The commands measure what can only be measured inside the process: the decision and lookup
times on its own index, decisions injected at the driver boundary, records appended, the
recorder's retry backlog, and what it timed on its side of a badge run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.core_events import RecordWritten
from gateway.decision import AccessPoint, Decision, Presence, decide
from gateway.domain import CardId, Direction
from gateway.events import CardRead
from gateway.records import NewRecord, RecordKind
from gateway.runtime import Gateway, zone_rules
from gateway.schedule import SiteCalendar
from sekisho.app import open_site, serve
from sekisho.audit_runtime import ensure_checkpoint_key
from sekisho.bench.figures import spread
from sekisho.bench.population import card_of
from sekisho.bench.waiting import until

log = logging.getLogger(__name__)
_COMMIT_TIMES = 500_000  # access records whose commit time is kept (seq → ns)


def memory_mib() -> dict[str, float]:
    """This process's resident memory now and at its peak (``/proc/self/status``), in MiB."""
    out: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                out["rss" if name == "VmRSS" else "peak"] = int(value.split()[0]) / 1024
    return out


class Probe:
    """What runs inside the gateway process once it is up: the command loop."""

    def __init__(self, started: float) -> None:
        """``started``: ``time.perf_counter()`` when the process began."""
        self._started = started
        self._gateway: Gateway | None = None
        self._commits: dict[int, int] = {}  # seq of an access record → perf_counter_ns at commit
        self._access = 0
        self._last_access_ns = 0
        self._grant_mark = 0
        self._stop = asyncio.Event()

    @property
    def gateway(self) -> Gateway:
        """The running gateway."""
        assert self._gateway is not None
        return self._gateway

    async def run(self, gateway: Gateway, port: int) -> None:
        """``serve``'s on_ready: report, answer commands until told to stop, then SIGTERM."""
        self._gateway = gateway
        gateway.bus.subscribe(RecordWritten, self._on_record)
        index = gateway.index
        _send(
            {
                "event": "ready",
                "port": port,
                "startup_s": time.perf_counter() - self._started,
                "credentials": len(index),
                "store_bytes": index.store.nbytes(),
                **memory_mib(),
            }
        )
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while not self._stop.is_set():
            line = await reader.readline()
            if not line:
                break
            _send(await self._answer(line))
        os.kill(os.getpid(), signal.SIGTERM)  # serve() stops the gateway cleanly on it

    def _on_record(self, e: RecordWritten) -> None:
        """Note when each access record was committed (for MQTT latency and throughput)."""
        if e.record.kind is RecordKind.ACCESS:
            now = time.perf_counter_ns()
            self._access += 1
            self._last_access_ns = now
            if len(self._commits) < _COMMIT_TIMES:
                self._commits[e.seq] = now

    async def _answer(self, line: bytes) -> dict[str, Any]:
        """Run one command line; every failure is an ``{"ok": false}`` answer."""
        try:
            name, arguments = _parse(line)
            handler = self._commands().get(name)
            if handler is None:
                return {"ok": False, "error": f"unknown command {name!r}"}
            return {"ok": True, **await handler(**arguments)}
        except Exception as exc:  # the driver reads the error; the gateway runs on
            log.exception("bench command failed")
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}

    def _commands(self) -> dict[str, Callable[..., Any]]:
        """Command name → coroutine function."""
        return {
            "wait_devices": self.wait_devices,
            "mark": self.mark,
            "stats": self.stats,
            "decisions": self.decisions,
            "inject": self.inject,
            "ingest": self.ingest,
            "retry_backlog": self.retry_backlog,
            "stop": self.stop,
        }

    async def stop(self) -> dict[str, Any]:
        """End the command loop; the gateway stops after this answer."""
        self._stop.set()
        return memory_mib()

    async def wait_devices(self, within_s: float = 120.0) -> dict[str, Any]:
        """Wait until every reader is online with Secure Channel and every door is locked."""
        started = time.perf_counter()
        deadline = time.monotonic() + within_s
        while True:
            readers = self.gateway.readers()
            doors = self.gateway.doors()
            up = sum(1 for r in readers if r.online and r.secure)
            locked = sum(1 for d in doors if d.state.value == "locked")
            if up == len(readers) and locked == len(doors):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{up}/{len(readers)} readers up, {locked}/{len(doors)} doors locked"
                )
            await asyncio.sleep(0.1)
        return {"readers": len(readers), "doors": len(doors), "s": time.perf_counter() - started}

    async def mark(self) -> dict[str, Any]:
        """Start a measurement: later ``stats`` report what happened after this."""
        assert self.gateway.badges is not None
        self._grant_mark = len(self.gateway.badges.grant_path_ns)
        self._commits.clear()
        return {"at_ns": time.perf_counter_ns()}

    async def stats(self) -> dict[str, Any]:
        """Gateway-path times and access-record commit times since ``mark``, and memory."""
        assert self.gateway.badges is not None
        path = list(self.gateway.badges.grant_path_ns)[self._grant_mark :]
        return {
            "grant_path_ns": path,
            "commits": [[seq, ns] for seq, ns in self._commits.items()],
            **memory_mib(),
        }

    def _doors_by_zone(self) -> dict[str, list[tuple[str, AccessPoint]]]:
        """Zone → (entry reader, access point) of each of its doors."""
        site = self.gateway.site
        rules = {z.id: zone_rules(z) for z in site.zones}
        out: dict[str, list[tuple[str, AccessPoint]]] = {}
        for d in site.doors:
            if d.entry_reader is not None:
                point = AccessPoint(d.id, rules[d.zone], Direction.IN, d.auth)
                out.setdefault(d.zone, []).append((d.entry_reader, point))
        return out

    async def decisions(self, population: int, zones: list[str], count: int) -> dict[str, Any]:
        """Lookup and lookup + decide (every rule) for random people of the population.

        ``first``: each card presented for the first time (read from the compact store);
        ``again``: the last 2,000 of them once more (from the entry cache, as a card badged
        again soon is).
        """
        gateway = self.gateway
        site = gateway.site
        calendar = SiteCalendar.of(site.site.timezone, site.holidays)
        doors = self._doors_by_zone()
        rng = random.Random(5)  # noqa: S311 -- sampling people for a benchmark, not secrets
        people = [rng.randrange(population) for _ in range(count)]
        out: dict[str, Any] = {}
        for label, sample in (("first", people), ("again", people[-2000:])):
            lookups: list[float] = []
            decisions: list[float] = []
            denied = 0
            for n, i in enumerate(sample):
                zone = zones[i % len(zones)]
                _, point = doors[zone][n % len(doors[zone])]
                t0 = time.perf_counter_ns()
                entry = gateway.index.lookup(card_of(i))
                t1 = time.perf_counter_ns()
                presence = gateway.zones.presence(zone, entry.person_id) if entry else Presence()
                result = decide(
                    point, entry, now=datetime.now(UTC), calendar=calendar, presence=presence
                )
                t2 = time.perf_counter_ns()
                lookups.append((t1 - t0) / 1e6)
                decisions.append((t2 - t0) / 1e6)
                denied += not (isinstance(result, Decision) and result.granted)
                if n % 256 == 0:
                    await asyncio.sleep(0)  # the gateway's own work goes on meanwhile
            out[label] = {
                "lookup_ms": spread(lookups).as_dict(),
                "decision_ms": spread(decisions).as_dict(),
                "denied": denied,
            }
        return out

    async def inject(
        self, population: int, zones: list[str], rate: float, seconds: float
    ) -> dict[str, Any]:
        """Card reads handed to the badge path at ``rate`` per second, as a driver hands them.

        Each is decided (every rule), recorded durably and, when granted, its strike written to
        the simulated module. Returns how fast the access records were committed.
        """
        badges = self.gateway.badges
        assert badges is not None
        doors = self._doors_by_zone()
        rng = random.Random(7)  # noqa: S311 -- sampling people for a benchmark, not secrets
        total = int(rate * seconds)
        before, grants_before = self._access, len(badges.grant_path_ns)
        start = time.perf_counter()
        sent = 0
        while sent < total:
            due = min(total, int((time.perf_counter() - start) * rate) + 1)
            for _ in range(due - sent):
                i = rng.randrange(population)
                reader, _ = rng.choice(doors[zones[i % len(zones)]])
                card = CardId.parse(card_of(i))
                badges.on_card(CardRead(reader, card, time.perf_counter_ns()))
            sent = due
            await asyncio.sleep(0.002)
        sent_s = time.perf_counter() - start
        await until(lambda: self._access - before >= total, max(120.0, 4 * seconds))
        recorded = self._access - before
        elapsed = (self._last_access_ns / 1e9 - start) if recorded else float("nan")
        path = [ns / 1e6 for ns in list(badges.grant_path_ns)[grants_before:]]
        return {
            "offered_per_s": rate,
            "injected": total,
            "injected_in_s": sent_s,
            "recorded": recorded,
            "granted": len(path),
            "elapsed_s": elapsed,
            "recorded_per_s": recorded / elapsed if recorded else 0.0,
            "grant_path_ms": spread(path).as_dict(),
        }

    async def ingest(self, count: int, writers: int, kind: str = "ingest") -> dict[str, Any]:
        """``count`` records appended by ``writers`` tasks, each awaiting its durable commit."""
        start = time.perf_counter()
        seqs = await append_records(self.gateway, count, writers, kind)
        elapsed = time.perf_counter() - start
        return {"records": len(seqs), "s": elapsed, "per_s": len(seqs) / elapsed, "seqs": seqs}

    async def retry_backlog(self, count: int, db: str) -> dict[str, Any]:
        """Records written while another process holds the SQLite write lock, then drained.

        The log refuses them (``database is locked`` after its busy timeout), the recorder keeps
        them in order and retries every second; the lock is released once all are held, and the
        time until the last one is committed is measured.
        """
        recorder = self.gateway.recorder
        locked = threading.Event()
        release = threading.Event()
        holder = threading.Thread(target=_hold_write_lock, args=(db, locked, release), daemon=True)
        holder.start()
        try:
            if not await asyncio.to_thread(locked.wait, 30):
                raise TimeoutError("could not take the database's write lock")
            for n in range(count):
                recorder.submit(
                    NewRecord(RecordKind.SYSTEM, datetime.now(UTC), detail={"backlog": n})
                )
            await until(lambda: recorder.backlog >= count, 600, 0.05)
            held = recorder.backlog
        finally:
            release.set()
        released = time.perf_counter()
        await until(lambda: not recorder.backlog, 900)
        drained = time.perf_counter() - released
        await asyncio.to_thread(holder.join, 30)
        return {"held": held, "left": recorder.backlog, "drain_s": drained}


async def append_records(gateway: Gateway, count: int, writers: int, label: str) -> list[int]:
    """``system`` records appended by ``writers`` tasks (``count // writers`` each), each
    awaiting its durable commit, as event ingest is measured; their seqs."""
    per = max(1, count // writers)
    seqs: list[int] = []

    async def writer(w: int) -> None:
        """One task appending its share, one record at a time."""
        for n in range(per):
            rec = NewRecord(
                RecordKind.SYSTEM, datetime.now(UTC), detail={"bench": label, "w": w, "n": n}
            )
            seqs.append(await gateway.record(rec))

    await asyncio.gather(*(writer(w) for w in range(writers)))
    return seqs


def _parse(line: bytes) -> tuple[str, dict[str, Any]]:
    """A command line: ``{"cmd": NAME, ...arguments}``."""
    request = json.loads(line)
    if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
        raise TypeError('a command is a JSON object with "cmd"')
    name = request.pop("cmd")
    return name, request


def _hold_write_lock(db: str, locked: threading.Event, release: threading.Event) -> None:
    """Hold SQLite's write lock on ``db`` (as another process writing would) until released."""
    conn = sqlite3.connect(db, timeout=30, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        locked.set()
        release.wait(900)
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def _send(message: dict[str, Any]) -> None:
    """One JSON line to the driver."""
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main() -> None:
    """Start the gateway of SITE_FILE with DATA_DIR and serve commands."""
    started = time.perf_counter()
    site_file, data_dir = Path(sys.argv[1]), Path(sys.argv[2])
    logging.basicConfig(
        filename=data_dir / "gateway.log",
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    site = open_site(site_file)
    ensure_checkpoint_key(site)
    probe = Probe(started)
    asyncio.run(serve(site, data_dir=data_dir, host="127.0.0.1", port=0, on_ready=probe.run))


if __name__ == "__main__":
    main()
