"""Badge → strike latency on the simulated site, the gateway's own path, and the decision with
every rule on, with 100,000 credentials loaded.

    .venv/bin/python bench/bench_badge_latency.py [--badges 1000] [--credentials 100000]

Badge → strike: from the simulated reader handing its card read to libosdp (OSDP, Secure
Channel, 115200 baud pty) to the simulated I/O module receiving the strike coil write.
Gateway path: from the driver holding the complete frame to the coil write acknowledged, with
the access record durably committed in between (SQLite WAL, synchronous=FULL).
Each badge arrives at a random phase of libosdp's 50 ms poll, as real people do. The server
room has anti-passback (soft), purpose, training and recertification rules switched on.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

from sqlalchemy import insert

from gateway.decision import AccessPoint, Decision, decide
from gateway.domain import AuthMode, Direction
from gateway.runtime import zone_rules
from gateway.schedule import SiteCalendar
from gateway.storage.models import (
    AUTHORIZATION_TABLE,
    CREDENTIAL_TABLE,
    PERSON_TABLE,
    TRAINING_TABLE,
)
from sekisho.simulated import SimulatedSite, start_simulated_site, stop_simulated_site

CARD = "H10301:200:4242"
COURSE = "pi-handling"
RULES_ON: dict[str, Any] = {
    "anti_passback": "soft",
    "require_purpose": True,
    "require_training": COURSE,
    "recertify_days": 90,
    "lone_occupant_alarm_s": 3600,
}


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def card_of(i: int) -> str:
    """The i-th bulk card (H10301: 8-bit facility, 16-bit number)."""
    fac, num = divmod(i, 60000)
    return f"H10301:{fac}:{num}"


def load_credentials(site: SimulatedSite, count: int) -> None:
    """Bulk-insert people with a card, an authorization (with purpose) and a training record."""
    site_id = site.config.site.id
    now = datetime.now(UTC)
    rows: dict[Any, list[dict[str, Any]]] = {
        PERSON_TABLE: [],
        CREDENTIAL_TABLE: [],
        AUTHORIZATION_TABLE: [],
        TRAINING_TABLE: [],
    }
    for i in range(count):
        pid = uuid4().hex
        fac, num = divmod(i, 60000)
        common = {"site_id": site_id, "person_id": pid}
        rows[PERSON_TABLE].append(
            {
                "id": pid,
                "site_id": site_id,
                "kind": "staff",
                "name": f"P{i}",
                "enabled": True,
                "created_at": now,
                "updated_at": now,
            }
        )
        rows[CREDENTIAL_TABLE].append(
            {
                **common,
                "id": uuid4().hex,
                "format": "H10301",
                "facility": fac,
                "number": num,
                "card_key": card_of(i),
                "status": "enabled",
                "created_at": now,
                "updated_at": now,
            }
        )
        rows[AUTHORIZATION_TABLE].append(
            {
                **common,
                "id": uuid4().hex,
                "zone_id": "server-room",
                "schedule_id": "always",
                "purpose": "operations",
                "granted_by": "bench",
                "granted_at": now,
                "supervisor": False,
            }
        )
        rows[TRAINING_TABLE].append(
            {
                **common,
                "id": uuid4().hex,
                "course": COURSE,
                "completed_at": now,
                "recorded_by": "bench",
                "recorded_at": now,
            }
        )
    with site.engine.begin() as conn:
        for table, batch in rows.items():
            for start in range(0, len(batch), 5000):
                conn.execute(insert(table), batch[start : start + 5000])


def summary(name: str, values_ms: list[float], target: str) -> str:
    """One line of the figure table."""
    return (
        f"{name:<46} n={len(values_ms):>6}  p50={pct(values_ms, 50):8.3f}  "
        f"p99={pct(values_ms, 99):8.3f}  max={max(values_ms):8.3f} ms   target {target}"
    )


def decisions(site: SimulatedSite, credentials: int) -> list[float]:
    """Decision time with every rule on, over 64 doors and random cards of the index (ms)."""
    sample = random.sample(range(credentials), min(5000, credentials))
    cal = SiteCalendar.of(site.config.site.timezone, site.config.holidays)
    rules = zone_rules(site.config.zone("server-room"))
    points = [AccessPoint(f"door-{i:02}", rules, Direction.IN, AuthMode.CARD) for i in range(64)]
    zones = site.gateway.zones
    out: list[float] = []
    for n, i in enumerate(sample):
        t0 = time.perf_counter_ns()
        entry = site.gateway.index.lookup(card_of(i))
        assert entry is not None
        result = decide(
            points[n % 64],
            entry,
            now=datetime.now(UTC),
            calendar=cal,
            presence=zones.presence("server-room", entry.person_id),
        )
        out.append((time.perf_counter_ns() - t0) / 1e6)
        assert isinstance(result, Decision)
        assert result.granted, result
    return out


async def badge_to_strike(site: SimulatedSite, badges: int) -> list[float]:
    """Badge → strike for ``badges`` badges at random phases (ms)."""
    module = site.sim._modules["io1"]
    bus = site.sim._osdp("sr-in")
    edges: asyncio.Queue[tuple[bool, int]] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def on_coil(coil: int, level: bool, t_ns: int) -> None:
        if coil == 0:
            loop.call_soon_threadsafe(edges.put_nowait, (level, t_ns))

    module.on_coil_write = on_coil
    out: list[float] = []
    try:
        for _ in range(badges):
            await asyncio.sleep(random.uniform(0.0, 0.05))
            t0 = time.perf_counter_ns()
            bus.card("sr-in", CARD)
            while True:
                level, t1 = await asyncio.wait_for(edges.get(), 5)
                if level:
                    break
            out.append((t1 - t0) / 1e6)
            while True:  # wait for the relock before the next person
                level, _ = await asyncio.wait_for(edges.get(), 5)
                if not level:
                    break
    finally:
        module.on_coil_write = None
    return out


async def run(badges: int, credentials: int) -> None:
    """Start the site, load credentials, badge, print figures."""
    with tempfile.TemporaryDirectory(prefix="sekisho-bench-") as tmp:

        def rules_on(raw: dict[str, Any]) -> None:
            for d in raw["doors"]:
                d["auth"] = "card"
            for z in raw["zones"]:
                z.update(RULES_ON)

        site = await start_simulated_site(
            Path(tmp),
            doors={"strike_time_s": 0.05, "held_open_s": 30, "prealarm_s": 5},
            site_patch=rules_on,
        )
        try:
            loop = asyncio.get_running_loop()
            t = time.perf_counter()
            await loop.run_in_executor(None, load_credentials, site, credentials)
            person = await site.add_person("Bench", CARD)
            await site.add_training(person, COURSE)
            await loop.run_in_executor(None, site.gateway.index.load_all, site.engine)
            print(
                f"loaded {len(site.gateway.index):,} credentials in {time.perf_counter() - t:.1f} s"
            )
            badge_ms = await badge_to_strike(site, badges)
            assert site.gateway.badges is not None
            path_ms = [ns / 1e6 for ns in list(site.gateway.badges.grant_path_ns)[-badges:]]
            decide_ms = decisions(site, credentials)
            print()
            print(
                f"Sekisho badge → strike, simulated site, {credentials:,} credentials, "
                "OSDP Secure Channel at 115200 baud"
            )
            print(summary("badge → strike (reader → coil at the module)", badge_ms, "p99 ≤ 100 ms"))
            print(summary("gateway path (frame → record → coil written)", path_ms, "p99 ≤ 3 ms"))
            print(summary("decision, every rule on, 64 doors", decide_ms, "p99 ≤ 5 ms"))
            print(f"{'badge → strike mean':<46} {statistics.fmean(badge_ms):8.3f} ms")
        finally:
            await stop_simulated_site(site)


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--badges", type=int, default=1000)
    parser.add_argument("--credentials", type=int, default=100_000)
    args = parser.parse_args()
    asyncio.run(run(args.badges, args.credentials))


if __name__ == "__main__":
    main()
