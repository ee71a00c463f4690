"""Crash drill: kill -9 ``sekisho run`` at random points during event bursts, check each restart.

One firmware-sim process serves the whole campaign; only the gateway is restarted. Each point:
start the gateway, wait until it is ready (API up, OSDP readers secure, doors locked with the
strike de-energised in the simulator: the safe state, 4-8-7(4)), run a burst — badges at the
three readers with walk-throughs, request-to-exit and forced doors, API writes, a client
watching the events API — and SIGKILL the gateway at a random moment (one point in ten during
start-up instead). Then, with the gateway dead, the log is checked:

* it verifies (``gateway.audit.verify.verify_log``: seqs gap-free, commitments, tiles, every
  signed checkpoint) — 4-8-6(4);
* no acknowledged record is lost: a grant whose reader turned green has its granted decision;
  an API write that answered 2xx has its record; every record a client saw through the events
  API is still there, unchanged;
* nothing is duplicated: at most one decision per presented card (each card is presented once
  in the whole campaign), and no two records are identical field for field;
* the log only grows: the head never goes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from gateway.audit.keyfile import load_verifier
from gateway.audit.verify import verify_log
from gateway.records import RecordKind
from gateway.storage.engine import make_engine
from gateway.storage.models import RECORD_TABLE
from resilience.launcher import GatewayProcess, Launcher, Mode
from resilience.site_rig import (
    SITE_ID,
    Api,
    Cardholder,
    RigError,
    SimControl,
    SitePaths,
    free_port,
    prepare_site,
    start_sim,
    stop_process,
)

READY_S = 60.0  # a start-up slower than this is a failure (loaded machine: generous)
FEEDBACK_S = 3.0  # how long a badge waits for the reader's LED
_CONTENT = (
    "kind",
    "ts",
    "door_id",
    "zone_id",
    "reader_id",
    "person_id",
    "person_kind",
    "credential",
    "direction",
    "outcome",
    "reason",
    "actor",
    "detail",
)


@dataclass(slots=True)
class Ledger:
    """What the clients did and what they were told (acknowledged) during the campaign."""

    presented: set[str] = field(default_factory=set)  # person ids whose card was presented
    acked_grants: dict[str, str] = field(default_factory=dict)  # person id -> reader (green)
    shown_red: set[str] = field(default_factory=set)  # denials are not awaited: not acked
    acked_people: set[str] = field(default_factory=set)  # POST /people answered 201
    acked_seqs: dict[int, str] = field(default_factory=dict)  # seq an API write returned -> kind
    seen: dict[int, dict[str, Any]] = field(default_factory=dict)  # via GET /events


@dataclass(frozen=True, slots=True)
class PointResult:
    """One crash point: when the kill came and what the check found."""

    point: int
    during_startup: bool
    restart_s: float | None  # spawn → ready (None when killed during start-up)
    kill_after_s: float  # after ready (or after spawn, during start-up)
    new_records: int  # records committed by this gateway run
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CrashReport:
    """The whole campaign."""

    mode: str
    points: tuple[PointResult, ...]
    records: int  # size of the log at the end
    acked_grants: int
    acked_api_writes: int
    records_seen_by_client: int
    presented_cards: int
    final_problems: tuple[str, ...]

    @property
    def problems(self) -> list[str]:
        """Every problem found, point by point, then at the end."""
        out = [f"point {p.point}: {what}" for p in self.points for what in p.problems]
        return out + list(self.final_problems)

    def summary(self) -> dict[str, Any]:
        """The measured figures, for the report and docs/resilience.md."""
        restarts = sorted(p.restart_s for p in self.points if p.restart_s is not None)
        bursts = [p.new_records for p in self.points if not p.during_startup]
        return {
            "mode": self.mode,
            "crash_points": len(self.points),
            "killed_during_startup": sum(p.during_startup for p in self.points),
            "restart_s_p50": round(statistics.median(restarts), 3) if restarts else None,
            "restart_s_max": round(restarts[-1], 3) if restarts else None,
            "records_per_burst_mean": round(statistics.fmean(bursts), 1) if bursts else None,
            "records_per_burst_max": max(bursts) if bursts else None,
            "log_records": self.records,
            "acknowledged_grants": self.acked_grants,
            "acknowledged_api_writes": self.acked_api_writes,
            "records_seen_by_client": self.records_seen_by_client,
            "cards_presented": self.presented_cards,
            "problems": len(self.problems),
        }


class _LogCheck:
    """Reads the log incrementally between runs and checks the campaign's invariants."""

    def __init__(self, paths: SitePaths) -> None:
        """Check the log in ``paths`` against the site's checkpoint key."""
        self._paths = paths
        self._verifier = load_verifier(str(paths.checkpoint_pub))
        self.rows: dict[int, dict[str, Any]] = {}
        self._contents: dict[str, int] = {}
        self._decisions: dict[str, list[int]] = {}  # person id -> seqs of access.decision

    @property
    def head(self) -> int:
        """Highest seq read so far."""
        return max(self.rows, default=0)

    def check(self, ledger: Ledger) -> list[str]:
        """Verify the whole log and the acknowledgements; the problems found (none: [])."""
        problems: list[str] = []
        engine = make_engine(sqlite_path=self._paths.database)
        try:
            report = verify_log(engine, SITE_ID, keys=[self._verifier], workers=1)
            problems += [f"verify: record {p.seq}: {p.what}" for p in report.problems]
            before = self.head
            if report.size < before:
                problems.append(f"the log went back from {before} to {report.size} records")
            cols = [RECORD_TABLE.c[name] for name in ("seq", *_CONTENT)]
            with engine.connect() as conn:
                fresh = conn.execute(
                    select(*cols)
                    .where(RECORD_TABLE.c.site_id == SITE_ID, RECORD_TABLE.c.seq > before)
                    .order_by(RECORD_TABLE.c.seq)
                ).all()
        finally:
            engine.dispose()
        for row in fresh:
            rec = dict(row._mapping)
            self.rows[rec["seq"]] = rec
            key = _content_key(rec)
            if key in self._contents:
                problems.append(f"record {rec['seq']} duplicates record {self._contents[key]}")
            self._contents[key] = rec["seq"]
            if rec["kind"] == RecordKind.ACCESS.value and rec["person_id"] is not None:
                self._decisions.setdefault(rec["person_id"], []).append(rec["seq"])
        problems += self._acknowledged(ledger)
        return problems

    def _acknowledged(self, ledger: Ledger) -> list[str]:
        """Problems with what the clients were told: lost, changed or duplicated records."""
        problems: list[str] = []
        for person, seqs in self._decisions.items():
            if person in ledger.presented and len(seqs) > 1:
                problems.append(f"card of {person} presented once, decided {len(seqs)}x: {seqs}")
        for person, reader in ledger.acked_grants.items():
            granted = [
                s
                for s in self._decisions.get(person, [])
                if self.rows[s]["outcome"] == "granted" and self.rows[s]["reader_id"] == reader
            ]
            if len(granted) != 1:
                problems.append(f"grant shown green at {reader} for {person}: {granted} in log")
        created: dict[str, int] = {}
        for seq, rec in self.rows.items():
            detail = rec["detail"] or {}
            if rec["kind"] == RecordKind.OPERATOR.value and detail.get("action") == "person.create":
                created[rec["person_id"]] = created.get(rec["person_id"], 0) + 1
                if created[rec["person_id"]] > 1:
                    problems.append(f"person.create of {rec['person_id']} twice (seq {seq})")
        problems += [
            f"POST /people answered 201 for {p}: no record"
            for p in ledger.acked_people - set(created)
        ]
        for seq, kind in ledger.acked_seqs.items():
            row = self.rows.get(seq)
            if row is None or row["kind"] != kind:
                problems.append(f"API write answered seq {seq} ({kind}): log has {row}")
        for seq, seen in ledger.seen.items():
            row = self.rows.get(seq)
            if row is None:
                problems.append(f"record {seq} seen by a client is gone")
            elif any(_same(k, seen.get(k), row[k]) is False for k in _CONTENT):
                problems.append(f"record {seq} changed since a client saw it: {seen} vs {row}")
        return problems


def _content_key(rec: dict[str, Any]) -> str:
    """Every field but the seq, as one comparable string."""
    return json.dumps([_plain(rec[k]) for k in _CONTENT], sort_keys=True, default=str)


def _plain(value: object) -> object:
    """A value as it compares across reads (times without their zone)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat()
    return value


def _same(key: str, seen: object, stored: object) -> bool:
    """Whether a field the client saw equals the stored one (times compared as instants)."""
    if key == "ts" and isinstance(seen, str) and isinstance(stored, datetime):
        when = datetime.fromisoformat(seen.replace("Z", "+00:00"))
        return when.replace(tzinfo=None) == stored.replace(tzinfo=None)
    return seen == stored


class CrashCampaign:
    """The drill: one sim, many gateway runs, a check after each kill."""

    def __init__(
        self,
        work: Path,
        *,
        points: int,
        seed: int = 9,
        mode: Mode = "fork",
        burst_s: float = 1.0,
        startup_share: float = 0.1,
        badges_per_point: int = 12,
        log: Callable[[str], None] = lambda line: None,
    ) -> None:
        """Prepare nothing yet; :meth:`run` does everything and cleans up."""
        self._work = work
        self._points = points
        self._rng = random.Random(seed)  # noqa: S311 -- drill timing, not secrets
        self._mode: Mode = mode
        self._burst_s = burst_s
        self._startup_share = startup_share
        self._per_point = badges_per_point
        self._people = min(65_535, (points + 1) * badges_per_point)
        self._left = 0  # cards the current burst may still present
        self._log = log
        self.ledger = Ledger()

    async def run(self) -> CrashReport:
        """Run every point; always stops what it started."""
        sim_proc, info = await asyncio.to_thread(start_sim, self._work)
        launcher = Launcher(self._mode)
        sim = SimControl(str(info["url"]))
        gateway: GatewayProcess | None = None
        try:
            paths, holders = await asyncio.to_thread(
                prepare_site, self._work, int(info["modules"]["io1"]), people=self._people
            )
            pool = iter(holders)
            port = free_port()
            api = Api(port, paths.password)
            checker = _LogCheck(paths)
            results: list[PointResult] = []
            args = ["run", "--config", str(paths.site_file), "--port", str(port)]
            gw_log = self._work / "gateway.log"
            try:
                for point in range(1, self._points + 1):
                    result = await self._point(
                        point, launcher, args, gw_log, api, sim, pool, checker
                    )
                    results.append(result)
                    self._log(
                        f"point {point}: restart {result.restart_s} s, "
                        f"{result.new_records} records, problems {list(result.problems)}"
                    )
                # An orderly start and stop at the end: the final state must verify too.
                gateway = launcher.spawn(args, gw_log)
                await self._ready(gateway, api, sim)
                final = await self._safe_state(api, sim)
                gateway.terminate()
                gateway = None
                final += await asyncio.to_thread(checker.check, self.ledger)
            finally:
                await api.close()
            return CrashReport(
                mode=self._mode,
                points=tuple(results),
                records=checker.head,
                acked_grants=len(self.ledger.acked_grants),
                acked_api_writes=len(self.ledger.acked_people) + len(self.ledger.acked_seqs),
                records_seen_by_client=len(self.ledger.seen),
                presented_cards=len(self.ledger.presented),
                final_problems=tuple(final),
            )
        finally:
            if gateway is not None:
                gateway.kill9()
            launcher.close()
            await sim.close()
            await asyncio.to_thread(stop_process, sim_proc)

    async def _point(  # noqa: PLR0917 -- one step of run(), which owns these objects
        self,
        point: int,
        launcher: Launcher,
        args: list[str],
        gw_log: Path,
        api: Api,
        sim: SimControl,
        pool: Iterator[Cardholder],
        checker: _LogCheck,
    ) -> PointResult:
        """Start, wait, burst, kill; then check the log (the gateway is always dead after)."""
        problems: list[str] = []
        head_before = checker.head
        started = time.monotonic()
        gateway = launcher.spawn(args, gw_log)
        during_startup = self._rng.random() < self._startup_share
        restart_s: float | None = None
        try:
            if during_startup:
                kill_after = self._rng.uniform(0.0, 1.5)
                await asyncio.sleep(kill_after)
            else:
                try:
                    await self._ready(gateway, api, sim)
                except RigError as exc:  # a start that hangs is a finding, not the end of the run
                    problems.append(str(exc))
                    kill_after = time.monotonic() - started
                else:
                    restart_s = time.monotonic() - started
                    problems += await self._safe_state(api, sim)
                    kill_after = self._rng.uniform(0.0, self._burst_s)
                    await self._burst(point, api, sim, pool, kill_after)
        finally:
            gateway.kill9()
            await api.reconnect()  # a new process: new connections, none leaked by the kill
            await sim.reconnect()
        problems += await asyncio.to_thread(checker.check, self.ledger)
        return PointResult(
            point,
            during_startup,
            restart_s,
            round(kill_after, 3),
            checker.head - head_before,
            tuple(problems),
        )

    async def _ready(self, gateway: GatewayProcess, api: Api, sim: SimControl) -> None:
        """Wait until the API answers and the OSDP readers are online with Secure Channel."""
        deadline = time.monotonic() + READY_S
        while not await api.up():
            if not gateway.alive():
                raise RigError("the gateway exited during start-up; see gateway.log")
            if time.monotonic() > deadline:
                await _dump_stacks(gateway)
                raise RigError("the gateway's API did not come up; its stacks are in gateway.log")
            await asyncio.sleep(0.02)
        if not api.logged_in:  # first start only: the token outlives restarts
            await api.login()
        while True:
            readers = await api.get("/readers")
            if all(r["online"] and r["secure"] for r in readers if r["reader_id"] != "vault-in"):
                return
            if time.monotonic() > deadline:
                raise RigError(f"readers not online: {readers}")
            await asyncio.sleep(0.02)

    async def _safe_state(self, api: Api, sim: SimControl) -> list[str]:
        """Every door locked with its strike de-energised at the module, within READY_S."""
        deadline = time.monotonic() + READY_S
        while True:
            doors = await api.get("/doors")
            views = [await sim.door_view(d["door_id"]) for d in doors]
            if all(d["state"] == "locked" and not d["strike_released"] for d in doors) and not any(
                v["strike_released"] for v in views
            ):
                return []
            if time.monotonic() > deadline:
                return [f"doors not back in their safe state: {doors} / {views}"]
            await asyncio.sleep(0.05)

    async def _burst(
        self, point: int, api: Api, sim: SimControl, pool: Iterator[Cardholder], kill_after: float
    ) -> None:
        """Run the actors concurrently until ``kill_after`` seconds have passed."""
        self._left = self._per_point
        actors = [
            self._osdp_badges("sr-in", sim, pool),
            self._osdp_badges("sr-out", sim, pool),
            self._tags(sim, pool),
            self._api_writes(point, api),
            self._watch_events(api),
            self._door_noise(sim),
        ]
        tasks = [asyncio.create_task(a) for a in actors]
        try:
            await asyncio.sleep(kill_after)
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError, RigError):
                    await t

    def _next(self, pool: Iterator[Cardholder]) -> Cardholder | None:
        """The next unused card, while the burst's budget lasts."""
        if self._left <= 0:
            return None
        self._left -= 1
        return next(pool, None)

    async def _osdp_badges(self, reader: str, sim: SimControl, pool: Iterator[Cardholder]) -> None:
        """Badge unused cards at an OSDP reader; a green LED is an acknowledged grant."""
        while (holder := self._next(pool)) is not None:
            before = len(await sim.feedback(reader))
            self.ledger.presented.add(holder.person_id)
            await sim.badge(reader, holder.osdp_card)
            color = await _led(sim, reader, before)
            if color == "green":
                self.ledger.acked_grants[holder.person_id] = reader
                await sim.door("sr-door", "open")
            elif color == "red":
                self.ledger.shown_red.add(holder.person_id)
            await asyncio.sleep(self._rng.uniform(0.0, 0.2))

    async def _tags(self, sim: SimControl, pool: Iterator[Cardholder]) -> None:
        """Present unused 125 kHz tags at the vault's RDM6300 reader."""
        while (holder := self._next(pool)) is not None:
            self.ledger.presented.add(holder.person_id)
            await sim.badge("vault-in", holder.em_card)
            await asyncio.sleep(self._rng.uniform(0.05, 0.3))

    async def _api_writes(self, point: int, api: Api) -> None:
        """Create people and unlock the vault from the desk; 2xx answers are acknowledged."""
        n = 0
        while True:
            n += 1
            if self._rng.random() < 0.7:
                resp = await api.request(
                    "POST", "/people", json={"kind": "staff", "name": f"API {point}-{n}"}
                )
                if resp.status_code == 201:
                    self.ledger.acked_people.add(resp.json()["id"])
            else:
                resp = await api.request(
                    "POST", "/doors/vault-door/unlock", json={"note": f"drill {point}-{n}"}
                )
                if resp.status_code == 200:
                    self.ledger.acked_seqs[int(resp.json()["seq"])] = RecordKind.DOOR_UNLOCK.value
            await asyncio.sleep(self._rng.uniform(0.0, 0.03))

    async def _watch_events(self, api: Api) -> None:
        """Poll the events API as a client would; every record seen is acknowledged."""
        while True:
            page = await api.get("/events", params={"limit": 50})
            for item in page["items"]:
                self.ledger.seen[int(item["seq"])] = item
            await asyncio.sleep(0.05)

    async def _door_noise(self, sim: SimControl) -> None:
        """Request-to-exit and forced openings of the vault door."""
        while True:
            await asyncio.sleep(self._rng.uniform(0.1, 0.5))
            action = self._rng.choice(("rex", "rex", "force"))
            await sim.door("vault-door", action)


async def _led(sim: SimControl, reader: str, before: int) -> str | None:
    """The first green or red LED command after ``before``, within FEEDBACK_S."""
    deadline = time.monotonic() + FEEDBACK_S
    while time.monotonic() < deadline:
        for entry in (await sim.feedback(reader))[before:]:
            if entry.get("color") in ("green", "red"):
                return str(entry["color"])
        await asyncio.sleep(0.02)
    return None


async def _dump_stacks(gateway: GatewayProcess) -> None:
    """Ask a stuck gateway for its task and thread stacks (sekisho.diagnostics) before the kill."""
    for sig in (signal.SIGUSR1, signal.SIGUSR2):
        with contextlib.suppress(ProcessLookupError):
            os.kill(gateway.pid, sig)
        await asyncio.sleep(1.0)
