"""Badge → strike latency on the simulated site, and the gateway's own path, with 100,000
credentials loaded.

    .venv/bin/python bench/bench_badge_latency.py [--badges 1000] [--credentials 100000]

Badge → strike: from the simulated reader handing its card read to libosdp (OSDP, Secure
Channel, 115200 baud pty) to the simulated I/O module receiving the strike coil write.
Gateway path: from the driver holding the complete frame to the coil write acknowledged, with
the access record durably committed in between (SQLite WAL, synchronous=FULL).
Each badge arrives at a random phase of libosdp's 50 ms poll, as real people do.
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

from gateway.decision import AccessPoint, decide
from gateway.domain import AuthMode, Direction
from gateway.schedule import SiteCalendar
from gateway.storage.models import AUTHORIZATION_TABLE, CREDENTIAL_TABLE, PERSON_TABLE
from sekisho.simulated import SimulatedSite, start_simulated_site, stop_simulated_site

CARD = "H10301:200:4242"


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def load_credentials(site: SimulatedSite, count: int) -> None:
    """Bulk-insert ``count`` people, each with a card and an authorization to the server room."""
    site_id = site.config.site.id
    now = datetime.now(UTC)
    people: list[dict[str, Any]] = []
    creds: list[dict[str, Any]] = []
    auths: list[dict[str, Any]] = []
    for i in range(count):
        pid = uuid4().hex
        fac, num = divmod(i, 60000)  # H10301: 8-bit facility, 16-bit number
        people.append(
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
        creds.append(
            {
                "id": uuid4().hex,
                "site_id": site_id,
                "person_id": pid,
                "format": "H10301",
                "facility": fac,
                "number": num,
                "card_key": f"H10301:{fac}:{num}",
                "pin_hash": None,
                "status": "enabled",
                "created_at": now,
                "updated_at": now,
            }
        )
        auths.append(
            {
                "id": uuid4().hex,
                "site_id": site_id,
                "person_id": pid,
                "zone_id": "server-room",
                "schedule_id": "always",
                "granted_by": "bench",
                "granted_at": now,
            }
        )
    with site.engine.begin() as conn:
        for table, rows in (
            (PERSON_TABLE, people),
            (CREDENTIAL_TABLE, creds),
            (AUTHORIZATION_TABLE, auths),
        ):
            for start in range(0, len(rows), 5000):
                conn.execute(insert(table), rows[start : start + 5000])


def summary(name: str, values_ms: list[float], target: str) -> str:
    """One line of the figure table."""
    return (
        f"{name:<44} n={len(values_ms):>6}  p50={pct(values_ms, 50):8.3f}  "
        f"p99={pct(values_ms, 99):8.3f}  max={max(values_ms):8.3f} ms   target {target}"
    )


async def run(badges: int, credentials: int) -> None:
    """Start the site, load credentials, badge, print figures."""
    with tempfile.TemporaryDirectory(prefix="sekisho-bench-") as tmp:

        def card_mode(raw: dict[str, Any]) -> None:
            for d in raw["doors"]:
                d["auth"] = "card"
            raw["storage"]["path"] = "sekisho.db"

        site = await start_simulated_site(
            Path(tmp),
            doors={"strike_time_s": 0.05, "held_open_s": 30, "prealarm_s": 5},
            site_patch=card_mode,
        )
        try:
            t = time.perf_counter()
            await asyncio.get_running_loop().run_in_executor(
                None, load_credentials, site, credentials
            )
            await site.add_person("Bench", CARD)
            await asyncio.get_running_loop().run_in_executor(
                None, site.gateway.index.load_all, site.engine
            )
            print(
                f"loaded {len(site.gateway.index):,} credentials in {time.perf_counter() - t:.1f} s"
            )

            module = site.sim._modules["io1"]
            bus = site.sim._osdp("sr-in")
            edges: asyncio.Queue[tuple[bool, int]] = asyncio.Queue()
            loop = asyncio.get_running_loop()

            def on_coil(coil: int, level: bool, t_ns: int) -> None:
                if coil == 0:
                    loop.call_soon_threadsafe(edges.put_nowait, (level, t_ns))

            module.on_coil_write = on_coil
            badge_ms: list[float] = []
            for _ in range(badges):
                await asyncio.sleep(random.uniform(0.0, 0.05))
                t0 = time.perf_counter_ns()
                bus.card("sr-in", CARD)
                while True:
                    level, t1 = await asyncio.wait_for(edges.get(), 5)
                    if level:
                        break
                badge_ms.append((t1 - t0) / 1e6)
                while True:  # wait for the relock before the next person
                    level, _ = await asyncio.wait_for(edges.get(), 5)
                    if not level:
                        break
            module.on_coil_write = None
            assert site.gateway.badges is not None
            path_ms = [ns / 1e6 for ns in list(site.gateway.badges.grant_path_ns)[-badges:]]

            # The pure decision on its own, over random cards of the loaded index.
            keys = [
                f"H10301:{divmod(i, 60000)[0]}:{divmod(i, 60000)[1]}"
                for i in random.sample(range(credentials), 5000)
            ]
            cal = SiteCalendar.of("Asia/Tokyo", [])
            point = AccessPoint(
                "sr-door", "server-room", Direction.IN, AuthMode.CARD, available=True
            )
            decide_ms: list[float] = []
            for key in keys:
                t0 = time.perf_counter_ns()
                entry = site.gateway.index.lookup(key)
                decide(point, entry, now=datetime.now(UTC), calendar=cal)
                decide_ms.append((time.perf_counter_ns() - t0) / 1e6)

            print()
            print(
                f"Sekisho badge → strike, simulated site, {credentials:,} credentials, "
                "OSDP Secure Channel at 115200 baud"
            )
            print(summary("badge → strike (reader → coil at the module)", badge_ms, "p99 ≤ 100 ms"))
            print(
                summary(
                    "gateway path (frame → record → coil written)", path_ms, "p99 ≤ 3 ms (≤ 5 ms)"
                )
            )
            print(summary("decision only (index lookup + rules)", decide_ms, "p99 ≤ 5 ms"))
            print(f"{'badge → strike mean':<44} {statistics.fmean(badge_ms):8.3f} ms")
        finally:
            await stop_simulated_site(site)


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--badges", type=int, default=1000)
    parser.add_argument("--credentials", type=int, default=100_000)
    args = parser.parse_args()
    asyncio.run(run(args.badges, args.credentials))


if __name__ == "__main__":
    main()
