"""Card-read latency through OSDP: sim ``card()`` -> ``CardRead`` delivered to the sink.

Real libosdp on both ends of a pty, Secure Channel on, 115200 baud, the driver refreshing
libosdp every ``refresh_ms``. Cards are presented at a random phase of the poll cycle.

Run: ``.venv/bin/python bench/bench_osdp_card_latency.py [--reads 300] [--refresh-ms 1 5]``.
Prints p50/p99/max in milliseconds per refresh interval.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

from devices.osdp_bus import OsdpBus, OsdpReaderSettings
from gateway.events import CardRead, DeviceEvent, ReaderLink
from sekisho_sim.osdp_reader import SimOsdpBus, SimReaderSpec

KEY = bytes.fromhex("6b0f3a91d2c4e57788a1b3c5d7e9f024")


def _pct(samples: list[float], q: float) -> float:
    """The q-quantile of samples (nearest rank)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _run(refresh_ms: float, reads: int, folder: Path) -> list[float]:
    """Latencies (ms) of ``reads`` card reads with the driver refreshing every ``refresh_ms``."""
    link = folder / f"osdp-{refresh_ms:g}"
    sim = SimOsdpBus("bench", link, [SimReaderSpec("r1", 1, KEY)])
    sim.start()
    bus = OsdpBus("bench", str(link), [OsdpReaderSettings("r1", 1, KEY)], refresh_ms=refresh_ms)
    online = asyncio.Event()
    arrived: asyncio.Queue[int] = asyncio.Queue()

    def sink(event: DeviceEvent, /) -> None:
        if isinstance(event, ReaderLink) and event.online and event.secure:
            online.set()
        elif isinstance(event, CardRead):
            arrived.put_nowait(time.perf_counter_ns())

    await bus.start(sink)
    rng = random.Random(1)  # arrival phases, not secrets
    try:
        await asyncio.wait_for(online.wait(), timeout=20)
        samples: list[float] = []
        for i in range(reads):
            await asyncio.sleep(rng.uniform(0.0, 0.06))  # random phase against the 50 ms poll
            t0 = time.perf_counter_ns()
            sim.card("r1", f"H10301:{i % 256}:{i}")
            t1 = await asyncio.wait_for(arrived.get(), timeout=10)
            samples.append((t1 - t0) / 1e6)
        return samples
    finally:
        await bus.stop()
        sim.stop()


async def _main(reads: int, intervals: list[float]) -> None:
    """Measure at each refresh interval and print the figures."""
    print(f"OSDP card read -> CardRead at the sink, SC on, 115200 baud, {reads} reads (ms)")
    with tempfile.TemporaryDirectory() as tmp:
        for refresh_ms in intervals:
            s = await _run(refresh_ms, reads, Path(tmp))
            print(
                f"refresh {refresh_ms:>4g} ms: p50 {statistics.median(s):.1f}  "
                f"p99 {_pct(s, 0.99):.1f}  max {max(s):.1f}"
            )


def main() -> None:
    """Command-line entry."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reads", type=int, default=300)
    parser.add_argument("--refresh-ms", type=float, nargs="+", default=[1.0, 5.0])
    args = parser.parse_args()
    asyncio.run(_main(args.reads, args.refresh_ms))


if __name__ == "__main__":
    main()
