"""Badge → strike at 1 badge per second per door, timed on the sim's side of the wire.

The sim (another process) stamps ``perf_counter_ns`` as it hands each card to its libosdp
reader and as each coil write reaches its Modbus module; CLOCK_MONOTONIC is one clock for the
whole host, so the two stamps give badge → strike across both processes and the wire. Each
door sees one person badge at its entry reader once a second, at a fixed phase of its own plus
up to 50 ms of jitter (people arrive at any point of libosdp's 50 ms poll). Nobody walks
through (the strike relocks 0.5 s later), so the person stays outside; badging out as well, as
this run did until 2026-11-26, made every exit an anti-passback violation (exit without entry)
and so measured a flood of 32 alarms a second rather than a working day.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

from sekisho.bench.figures import spread
from sekisho.bench.population import Population, card_of
from sekisho.bench.processes import BenchProcessError, SimProcess
from sekisho.bench.scale_site import Door, Layout

_JITTER_S = 0.05
_MATCH_WITHIN_NS = 2_000_000_000  # a coil write later than this is not this badge's


@dataclass(frozen=True, slots=True)
class Badge:
    """One presented card: where, and when the sim handed it to the reader."""

    door: Door
    reader: str
    submitted_ns: int


@dataclass
class BadgeRun:
    """What a run did and saw."""

    badges: list[Badge] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # badges the sim refused
    latencies_ms: list[float] = field(default_factory=list)
    unmatched: int = 0  # badges after which no strike came (denied, or lost)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """For the JSON file."""
        return {
            "badges": len(self.badges),
            "refused_by_sim": len(self.failed),
            "no_strike": self.unmatched,
            "seconds": self.seconds,
            "badge_to_strike_ms": spread(self.latencies_ms).as_dict(),
        }


def person_of(layout: Layout, population: Population, door: Door) -> int:
    """The person who badges at ``door``: one of its zone, a different one per door."""
    zones = len(population.zones)
    person = door.zone + zones * (door.index + 1)
    if person >= population.count:
        raise ValueError(f"a population of {population.count} is too small for the layout")
    assert layout.zone_ids[door.zone] == population.zones[person % zones]
    return person


async def run_badges(
    sim: SimProcess, layout: Layout, population: Population, seconds: float
) -> BadgeRun:
    """Badge at every door once a second for ``seconds``, then match strikes to badges."""
    rng = random.Random(11)  # noqa: S311 -- arrival times of simulated people, not secrets
    doors = layout.door_list()
    phase = {d.index: rng.random() for d in doors}
    plan = sorted(
        (
            (k + phase[d.index] + rng.uniform(0, _JITTER_S), d)
            for k in range(int(seconds))
            for d in doors
        ),
        key=lambda planned: planned[0],
    )
    run = BadgeRun()
    since = time.perf_counter_ns()
    start = time.perf_counter()
    tasks: list[asyncio.Task[None]] = []

    async def present(door: Door) -> None:
        """One badge at ``door``'s entry reader."""
        reader = door.entry_reader
        card = card_of(person_of(layout, population, door))
        try:
            answer = await sim.call(
                "POST", "/badge", {"reader": reader, "card": card, "timed": True}
            )
        except (BenchProcessError, OSError) as exc:
            run.failed.append(f"{reader}: {exc}")
            return
        run.badges.append(Badge(door, reader, int(answer["submitted_ns"])))

    for at, door in plan:
        delay = start + at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(present(door)))
    await asyncio.gather(*tasks)
    run.seconds = time.perf_counter() - start
    await asyncio.sleep(2.0)  # the last strikes
    writes: dict[tuple[str, int], list[int]] = {}
    for module in {d.module_id for d in doors}:
        answer = await sim.call("GET", f"/modules/{module}/coil-writes/{since}")
        for coil, level, t_ns in answer["writes"]:
            if level:
                writes.setdefault((module, int(coil)), []).append(int(t_ns))
    _match(run, writes)
    return run


def _match(run: BadgeRun, releases: dict[tuple[str, int], list[int]]) -> None:
    """Pair each badge with the first strike release at its door after it."""
    by_door: dict[int, list[Badge]] = {}
    for b in run.badges:
        by_door.setdefault(b.door.index, []).append(b)
    for badges in by_door.values():
        badges.sort(key=lambda b: b.submitted_ns)
        door = badges[0].door
        times = sorted(releases.get((door.module_id, door.coil), []))
        i = 0
        for n, b in enumerate(badges):
            limit = b.submitted_ns + _MATCH_WITHIN_NS
            if n + 1 < len(badges):
                limit = min(limit, badges[n + 1].submitted_ns)
            while i < len(times) and times[i] < b.submitted_ns:
                i += 1
            if i < len(times) and times[i] < limit:
                run.latencies_ms.append((times[i] - b.submitted_ns) / 1e6)
                i += 1
            else:
                run.unmatched += 1
