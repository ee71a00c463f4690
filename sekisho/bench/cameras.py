"""Camera figures, from ``bench/bench_cameras.py`` (issue 7): analysis cost and cameras held.

Analysis frames/s per core: the driver's per-frame work on 640x480 frames of the simulated
doorway (resize, picture check, background model, tracking) in one thread pinned to one CPU;
decode excluded. Cameras held on the machine's 2 cores: the simulated site with N cameras fed
decoded frames at 15 fps while badge → strike is measured; N is held when every camera keeps
its frame rate and badge → strike p99 stays within 100 ms. ``--quick`` measures only the
analysis cost and estimates N from it (marked as an estimate).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from sekisho.bench import scripts
from sekisho.bench.figures import spread
from sekisho.bench.report import Results

CAMERA_KEYS = ("camera_fps_per_core", "cameras_per_2_cores")
FPS = 15.0
P99_MS = 100.0


async def run_cameras(
    results: Results,
    say: Callable[[str], None],
    *,
    analysis_s: float,
    counts: Sequence[int],
    badges: int,
) -> None:
    """Measure the camera figures into ``results``; ``counts`` empty: estimate only."""
    try:
        bench = scripts.load("bench_cameras")
    except (scripts.ScriptMissing, ImportError) as exc:
        results.missing(CAMERA_KEYS, f"the camera benchmark has not landed: {exc}")
        return
    logging.getLogger("gateway.cameras").setLevel(logging.ERROR)  # intrusions in the footage
    say(f"camera analysis cost, one core, {analysis_s:g} s")
    frames = bench.footage(640, 480, FPS)
    cost = bench.analysis_cost(frames, analysis_s)
    per_core = float(cost["fps"])
    section: dict[str, Any] = {"analysis": cost, "held": {}}
    results.sections["cameras"] = section
    results.put(
        "camera_fps_per_core", per_core,
        f"{per_core / FPS:.0f} cameras at {FPS:g} fps per core; resize+grey "
        f"{cost['resize+grey']:.0f}, picture {cost['picture']:.0f}, motion "
        f"{cost['motion']:.0f} µs a frame",
    )  # fmt: skip
    if not counts:
        estimate = int((os.cpu_count() or 2) * per_core // FPS)
        results.put(
            "cameras_per_2_cores", float(estimate),
            "ESTIMATE from the analysis cost alone (decode and the gateway not counted); "
            "the full run measures it",
        )  # fmt: skip
        return
    held = 0
    for count in counts:
        say(f"{count} cameras analysing {FPS:g} fps while badging ({badges} badges)")
        try:
            ms, facts = await bench.held(count, frames, FPS, badges)
        except TimeoutError:
            section["held"][count] = {"held": False, "why": "badges stopped coming"}
            continue
        b = spread(ms)
        ok = b.p99 <= P99_MS and facts["min_fps"] >= 0.95 * FPS
        section["held"][count] = {"held": ok, "badge_to_strike_ms": b.as_dict(), **facts}
        if ok:
            held = max(held, count)
    tried = ", ".join(
        f"{n}: {'held' if v['held'] else 'not held'}" for n, v in section["held"].items()
    )
    results.put(
        "cameras_per_2_cores", float(held),
        f"largest count tried that held ({tried}); decoded 640x480 frames from memory",
    )  # fmt: skip
