"""Interfaces the device drivers implement; the core talks to hardware only through these."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Protocol

from gateway.events import DeviceEvent


class DeviceFault(Exception):
    """The one exception a port may raise: the device could not do what was asked."""


class Feedback(StrEnum):
    """What a reader should show the person in front of it."""

    GRANTED = "granted"  # green LED, one short beep
    DENIED = "denied"  # red LED, three short beeps
    PIN_REQUIRED = "pin_required"  # amber LED flashing: enter PIN now
    WAITING = "waiting"  # amber LED steady: valid, waiting for an escort or a second person
    IDLE = "idle"  # back to the resting colour


class DeviceEventSink(Protocol):
    """Receives device events; drivers call it on the event-loop thread only."""

    def __call__(self, event: DeviceEvent, /) -> None:
        """Accept one event; must not block."""


class ReaderBus(Protocol):
    """A driver for one or more readers sharing a link (an OSDP bus, a serial reader)."""

    @property
    def reader_ids(self) -> tuple[str, ...]:
        """Readers this driver serves."""

    async def start(self, sink: DeviceEventSink) -> None:
        """Open the link and deliver events to ``sink``; does not wait for readers to answer."""

    async def stop(self) -> None:
        """Close the link; no event is delivered after this returns."""

    def signal(self, reader_id: str, feedback: Feedback) -> None:
        """Show feedback on a reader; fire-and-forget, never raises, never blocks."""


class IOModule(Protocol):
    """A driver for one digital I/O module (strike relays out, door contacts in)."""

    @property
    def module_id(self) -> str:
        """The module's id in the site file."""

    async def start(self, sink: DeviceEventSink) -> None:
        """Connect and begin polling inputs; reports ModuleLink and InputChanged to ``sink``."""

    async def stop(self) -> None:
        """Stop polling and disconnect."""

    async def write_output(self, point: int, active: bool) -> None:
        """Set one output (relay coil); raise DeviceFault when the module cannot be reached."""

    def inputs(self) -> Mapping[int, bool]:
        """The last known level of every polled input (empty while offline)."""
