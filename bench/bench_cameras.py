"""Camera analysis cost, and how many cameras the gateway holds with badge → strike in target.

    .venv/bin/python bench/bench_cameras.py [--badges 300] [--cameras 0,4,8,16,24] [--fps 15]

1. Analysis cost per camera on one core: what the driver does to each analysed frame — a
   640x480 BGR frame resized to the 160x120 analysis frame (grey), the picture check (frozen,
   blinded), the MOG2 background model, blobs and the door-line tracker — in one thread pinned
   to one CPU, over frames of the simulated doorway with people walking through. Video decode
   is left out (the frames are decoded already).
2. Cameras held on this machine's cores: the simulated site (real OSDP readers with Secure
   Channel on a pty, real Modbus I/O, SQLite) with N camera drivers fed decoded 640x480 frames
   from memory at ``--fps`` (no decode), each analysing every frame and keeping its ring
   buffer, the camera service taking a snapshot for every decision — while ``badge_to_strike``
   of ``bench_badge_latency.py`` measures badge → strike. A count of cameras is held when
   every camera still analyses its full frame rate and badge → strike p99 stays ≤ 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_badge_latency import CARD, badge_to_strike, pct

from devices.camera import AnalysisSettings, MemoryReader, OpenCvCamera, StreamSettings
from devices.camera.motion import MotionAnalyzer
from devices.camera.picture import PictureCheck
from devices.camera.settings import PictureSettings
from gateway.records import RecordKind
from sekisho.cameras import attach_cameras
from sekisho.simulated import SimulatedSite, start_simulated_site, stop_simulated_site
from sekisho_sim.camera import SimCamera, SimCameraSpec

Image = NDArray[np.uint8]
ANALYSIS = AnalysisSettings(width=160, door_line=0.5)
P99_TARGET_MS = 100.0


def footage(width: int, height: int, fps: float, seconds: float = 6.0) -> list[Image]:
    """Decoded frames of the simulated doorway: people walking in and out, someone inside."""
    sim = SimCamera(SimCameraSpec("bench", width=width, height=height, seed=1))
    t0 = time.monotonic()
    sim.walk(3)
    sim.walk(2, inward=False, spacing_s=1.5)
    sim.wander(seconds)
    return [sim.render(t0 + i / fps) for i in range(int(seconds * fps))]


def analysis_cost(frames: list[Image], seconds: float) -> dict[str, float]:
    """Frames per second one thread on one CPU analyses, and the cost of each step (µs)."""
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})
    try:
        analyzer = MotionAnalyzer(ANALYSIS, 160, 120)
        check = PictureCheck(PictureSettings())
        steps = {"resize+grey": 0, "picture": 0, "motion": 0}
        n = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            image = frames[n % len(frames)]
            t0 = time.perf_counter_ns()
            small = cv2.resize(image, (160, 120), interpolation=cv2.INTER_AREA)
            grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
            t1 = time.perf_counter_ns()
            check.feed(grey, n / 15)
            t2 = time.perf_counter_ns()
            analyzer.feed(grey)
            t3 = time.perf_counter_ns()
            steps["resize+grey"] += t1 - t0
            steps["picture"] += t2 - t1
            steps["motion"] += t3 - t2
            n += 1
        elapsed = time.perf_counter() - start
    finally:
        os.sched_setaffinity(0, cpus)
    return {"fps": n / elapsed, **{k: v / n / 1000 for k, v in steps.items()}}


def with_cameras(count: int) -> Callable[[dict[str, Any]], None]:
    """Site patch: card-only doors, short strike, and ``count`` cameras (one over sr-door)."""

    def patch(raw: dict[str, Any]) -> None:
        for d in raw["doors"]:
            d["auth"] = "card"
        raw["cameras"] = [
            {
                "id": f"cam{i:02}",
                "source": "device:0",  # replaced by a memory reader: no decode
                **({"door": "sr-door"} if i == 0 else {"zone": "server-room"}),
                "analysis": {"door_line": 0.5},
                "evidence": {"clips": "off"},
            }
            for i in range(count)
        ]

    return patch


async def held(
    count: int, frames: list[Image], fps: float, badges: int
) -> tuple[list[float], dict[str, float]]:
    """Badge → strike (ms) with ``count`` cameras analysing; and what the cameras did."""
    with tempfile.TemporaryDirectory(prefix="sekisho-bench-cam-") as tmp:
        site: SimulatedSite = await start_simulated_site(
            Path(tmp),
            doors={"strike_time_s": 0.05, "held_open_s": 30, "prealarm_s": 5},
            site_patch=with_cameras(count),
        )
        drivers = [
            OpenCvCamera(
                f"cam{i:02}",
                MemoryReader(frames, fps, name=f"memory {i}"),
                stream=StreamSettings(),
                analysis=ANALYSIS,
            )
            for i in range(count)
        ]
        service = attach_cameras(
            site.gateway, site.engine, base=Path(tmp), data_dir=Path(tmp), cameras=drivers
        )
        try:
            if service is not None:
                await service.start()
            await site.add_person("Bench", CARD)
            await asyncio.sleep(3.0)  # cameras up, background models learnt
            before = [d.stats().frames for d in drivers]
            cpu0, wall0 = time.process_time(), time.perf_counter()
            ms = await badge_to_strike(site, badges)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            analysed = [(d.stats().frames - b) / wall for d, b in zip(drivers, before, strict=True)]
            snaps = sum(1 for _, r in site.written if r.kind is RecordKind.CAMERA_SNAPSHOT)
            facts = {
                "min_fps": min(analysed, default=0.0),
                "cores": cpu / wall,
                "snapshots": float(snaps),
            }
            return ms, facts
        finally:
            if service is not None:
                await service.stop()
            await stop_simulated_site(site)


async def run(badges: int, counts: list[int], fps: float) -> None:
    """Print both figures."""
    frames = footage(640, 480, fps)
    cost = analysis_cost(frames, 5.0)
    print(
        f"Analysis, one thread on one CPU, 640x480 → 160x120: {cost['fps']:,.0f} frames/s "
        f"(resize+grey {cost['resize+grey']:.0f} µs, picture check {cost['picture']:.0f} µs, "
        f"motion+tracking {cost['motion']:.0f} µs per frame)"
    )
    print(f"  → {cost['fps'] / fps:,.0f} cameras at {fps:g} fps per core, decode excluded")
    print()
    print(
        f"Badge → strike with N cameras analysing {fps:g} fps each (no decode), "
        f"{os.cpu_count()} cores, {badges} badges each"
    )
    best = 0
    for count in counts:
        try:
            ms, facts = await held(count, frames, fps, badges)
        except TimeoutError:
            # The simulated readers run in this process too: starved of the GIL by the camera
            # threads, their OSDP timing breaks (Secure Channel lost), and badges stop coming.
            print(f"  N={count:>3}  badges stopped coming (simulated OSDP readers lost): NOT held")
            continue
        ok = pct(ms, 99) <= P99_TARGET_MS and (count == 0 or facts["min_fps"] >= 0.95 * fps)
        best = max(best, count) if ok else best
        print(
            f"  N={count:>3}  p50={pct(ms, 50):7.2f}  p99={pct(ms, 99):7.2f}  "
            f"max={max(ms):7.2f}  mean={statistics.fmean(ms):7.2f} ms   "
            f"slowest camera {facts['min_fps']:5.1f} fps   process {facts['cores']:.2f} cores   "
            f"{int(facts['snapshots'])} snapshots   {'held' if ok else 'NOT held'}"
        )
    print(f"Most cameras held with p99 ≤ {P99_TARGET_MS:g} ms: {best}")


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--badges", type=int, default=300)
    parser.add_argument("--cameras", default="0,4,8,16,24")
    parser.add_argument("--fps", type=float, default=15.0)
    args = parser.parse_args()
    logging.getLogger("gateway.cameras").setLevel(logging.ERROR)  # intrusions in the footage
    counts = [int(c) for c in args.cameras.split(",")]
    asyncio.run(run(args.badges, counts, args.fps))


if __name__ == "__main__":
    main()
