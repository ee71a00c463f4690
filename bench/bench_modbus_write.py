"""Round-trip time of ModbusIOModule.write_output against the simulated module on loopback.

Run: ``.venv/bin/python bench/bench_modbus_write.py [--writes 2000]``. Prints p50/p99/max
per poll interval, so the cost of a write queued behind a poll on the one connection shows.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time

from devices.modbus_io import ModbusIOModule
from gateway.events import DeviceEvent, ModuleLink
from sekisho_sim.io_module import SimIOModule


def _pct(samples: list[float], q: float) -> float:
    """The q-quantile of samples (nearest rank)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _run(poll_ms: float, writes: int) -> list[float]:
    """Time ``writes`` coil writes (ms) with the driver polling every ``poll_ms``."""
    sim = SimIOModule("bench", coil_count=16)
    await sim.start()
    driver = ModbusIOModule("bench", "127.0.0.1", sim.port, poll_ms=poll_ms)
    online = asyncio.Event()

    def sink(event: DeviceEvent, /) -> None:
        """Note when the module is online; ignore everything else."""
        if isinstance(event, ModuleLink) and event.online:
            online.set()

    await driver.start(sink)
    try:
        await asyncio.wait_for(online.wait(), timeout=10)
        samples: list[float] = []
        for i in range(writes + 50):
            t0 = time.perf_counter_ns()
            await driver.write_output(i % 16, i % 2 == 0)
            if i >= 50:  # warm-up excluded
                samples.append((time.perf_counter_ns() - t0) / 1e6)
            await asyncio.sleep(0.0005 if i % 7 else 0)  # de-phase writes from the poll cadence
        return samples
    finally:
        await driver.stop()
        await sim.stop()


async def _main(writes: int) -> None:
    """Measure at the default poll (50 ms) and at an aggressive one (5 ms, 1 ms)."""
    print(f"write_output round trip on loopback, {writes} writes each (ms)")
    for poll_ms in (50.0, 5.0, 1.0):
        s = await _run(poll_ms, writes)
        print(
            f"poll {poll_ms:>4g} ms: p50 {statistics.median(s):.3f}  p99 {_pct(s, 0.99):.3f}"
            f"  max {max(s):.3f}"
        )


if __name__ == "__main__":
    # pymodbus logs a frame dump when the sim answers a poll the driver already hung up on
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writes", type=int, default=2000)
    asyncio.run(_main(parser.parse_args().writes))
