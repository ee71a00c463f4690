"""What the sim tells a benchmark in another process: when a card went to a reader, and when
each coil write arrived (``time.perf_counter_ns``, CLOCK_MONOTONIC, shared across processes)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from devices.modbus_io import ModbusIOModule
from gateway.events import DeviceEvent
from sekisho_sim.site import SimSite
from sekisho_sim.spec import load_spec

SPEC = """
control: {host: 127.0.0.1, port: 0}
rdm6300_readers:
  - {id: vault-in, link: dev/rdm-vault-in}
modules:
  - id: io1
    port: 0
    doors:
      - {id: d1, strike_coil: 0, contact_input: 0}
      - {id: d2, strike_coil: 3, contact_input: 1}
"""


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[SimSite]:
    """A running sim with one module and one serial reader."""
    (tmp_path / "sim.yaml").write_text(SPEC)
    sim = SimSite(load_spec(tmp_path / "sim.yaml"))
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


async def test_coil_writes_are_kept_with_their_time(site: SimSite) -> None:
    seen: list[DeviceEvent] = []
    module = ModbusIOModule("io1", "127.0.0.1", site.module_port("io1"), timeout_s=5.0)
    await module.start(seen.append)
    try:
        deadline = time.monotonic() + 20
        while not module.online:
            assert time.monotonic() < deadline, "the module did not come online"
            await asyncio.sleep(0.01)
        before = time.perf_counter_ns()
        await module.write_output(0, True)
        await module.write_output(3, True)
        await module.write_output(0, False)
        after = time.perf_counter_ns()
    finally:
        await module.stop()
    writes = [w for w in site.coil_writes("io1", before)["writes"] if w[0] in (0, 3)]
    assert [(coil, level) for coil, level, _ in writes] == [(0, True), (3, True), (0, False)]
    times = [t for _, _, t in writes]
    assert times == sorted(times)
    assert before <= times[0] and times[-1] <= after
    assert site.coil_writes("io1", after + 1)["writes"] == []

    async with httpx.AsyncClient(base_url=site.url, timeout=10) as http:
        reply = await http.get(f"/modules/io1/coil-writes/{before}")
        assert reply.status_code == 200
        assert [w[:2] for w in reply.json()["writes"] if w[0] in (0, 3)] == [
            [0, True],
            [3, True],
            [0, False],
        ]
        assert (await http.get("/modules/io1/coil-writes/-5")).status_code == 400
        assert (await http.get("/modules/nope/coil-writes/0")).status_code == 404


async def test_a_timed_badge_says_when_the_card_went_to_the_reader(site: SimSite) -> None:
    async with httpx.AsyncClient(base_url=site.url, timeout=10) as http:
        before = time.perf_counter_ns()
        timed = await http.post(
            "/badge", json={"reader": "vault-in", "card": "EM4100:3:4660", "timed": True}
        )
        after = time.perf_counter_ns()
        plain = await http.post("/badge", json={"reader": "vault-in", "card": "EM4100:3:4660"})
    assert timed.status_code == 200
    assert before <= timed.json()["submitted_ns"] <= after
    assert "submitted_ns" not in plain.json()
