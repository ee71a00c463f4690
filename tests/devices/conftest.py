"""Shared rigs for the reader drivers: an event log, and an OSDP bus wired to simulated readers.

The simulated readers are real libosdp PDs on a real pty (``sekisho_sim``); the driver under
test opens the pty's link like a serial port. Nothing here mocks Sekisho code.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from devices.osdp_bus import OsdpBus, OsdpReaderSettings
from gateway.events import DeviceEvent, ReaderLink
from sekisho_sim.osdp_reader import SimOsdpBus, SimReaderSpec

E = TypeVar("E")

KEY_1 = bytes.fromhex("3f1d0c55a8e247b09c6a1e2d4f708b13")
KEY_2 = bytes.fromhex("a4c2e9017b5d38f6904e1c7a25d8b36e")
KEY_3 = bytes.fromhex("5b7e02d9c4a1f8363e9d7c40b12a6f85")
WAIT_S = 20.0  # generous: a loaded 2-core machine, and libosdp needs ~8 s to call a PD dead


class EventLog:
    """A DeviceEventSink that keeps every event and can wait for one."""

    def __init__(self) -> None:
        self.events: list[DeviceEvent] = []
        self._changed = asyncio.Event()

    def __call__(self, event: DeviceEvent, /) -> None:
        self.events.append(event)
        self._changed.set()

    def of(self, kind: type[E], reader_id: str | None = None) -> list[E]:
        """Events of one type (for one reader), oldest first."""
        return [
            e
            for e in self.events
            if isinstance(e, kind)
            and (reader_id is None or getattr(e, "reader_id", None) == reader_id)
        ]

    async def wait_for(
        self,
        kind: type[E],
        predicate: Callable[[E], bool] = lambda _e: True,
        *,
        after: int = 0,
        within: float = WAIT_S,
    ) -> E:
        """The first event of ``kind`` at index >= ``after`` matching ``predicate``."""
        deadline = time.monotonic() + within
        while True:
            for event in self.events[after:]:
                if isinstance(event, kind) and predicate(event):
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"no {kind.__name__} matching within {within} s; last events: "
                    f"{self.events[-8:]}"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    def mark(self) -> int:
        """An index to pass as ``after``: only events from now on."""
        return len(self.events)


@dataclass
class OsdpRig:
    """Simulated readers on a pty and the OsdpBus driver talking to them."""

    sim: SimOsdpBus
    bus: OsdpBus
    log: EventLog
    link: Path

    async def online(self, *reader_ids: str) -> None:
        """Wait until every named reader is reported online with Secure Channel."""
        for rid in reader_ids:
            await self.log.wait_for(
                ReaderLink, lambda e, rid=rid: e.reader_id == rid and e.online and e.secure
            )


RigFactory = Callable[..., Awaitable[OsdpRig]]


@pytest.fixture
def event_log() -> EventLog:
    """A fresh event log to start a driver with."""
    return EventLog()


@pytest.fixture
def link_path(tmp_path: Path) -> Path:
    """Where a simulated device puts its pty symlink."""
    return tmp_path / "ttyOSDP0"


@pytest.fixture
async def osdp_rig(tmp_path: Path) -> AsyncIterator[RigFactory]:
    """Build (sim readers, OsdpBus) pairs; everything built is stopped afterwards."""
    built: list[OsdpRig] = []

    async def build(
        sims: Sequence[SimReaderSpec],
        settings: Sequence[OsdpReaderSettings] | None = None,
        *,
        start_bus: bool = True,
        commissioning: bool = False,
        name: str = "bus1",
    ) -> OsdpRig:
        link = tmp_path / f"tty-{name}"
        sim = SimOsdpBus(name, link, sims)
        sim.start()
        if settings is None:
            settings = [OsdpReaderSettings(s.reader_id, s.address, s.scbk or b"") for s in sims]
        bus = OsdpBus(name, str(link), settings, commissioning=commissioning)
        rig = OsdpRig(sim, bus, EventLog(), link)
        built.append(rig)
        if start_bus:
            await bus.start(rig.log)
        return rig

    try:
        yield build
    finally:
        for rig in built:
            await rig.bus.stop()
            await asyncio.to_thread(rig.sim.stop)
