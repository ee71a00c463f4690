"""Typed events that device drivers hand to the core.

Drivers turn bytes and registers into these and nothing more: no policy lives in them.
``received_ns`` is ``time.perf_counter_ns()`` taken when the driver had the complete frame,
so the latency of everything after it can be measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gateway.domain import CardId


@dataclass(frozen=True, slots=True)
class CardRead:
    """A reader delivered a complete, well-formed card read."""

    reader_id: str
    card: CardId
    received_ns: int


@dataclass(frozen=True, slots=True)
class CardUnreadable:
    """A reader delivered a card frame that failed parity, checksum or length checks."""

    reader_id: str
    detail: str  # what was wrong, e.g. "26-bit frame: even parity mismatch"
    bit_count: int  # bits (Wiegand) or bytes (serial frames) received
    received_ns: int


@dataclass(frozen=True, slots=True)
class KeypadKeys:
    """Keys pressed on a reader's keypad: digits, ``*`` and ``#`` only."""

    reader_id: str
    keys: str
    received_ns: int


@dataclass(frozen=True, slots=True)
class ReaderLink:
    """A reader came online or went offline (and whether its Secure Channel is up)."""

    reader_id: str
    online: bool
    secure: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ReaderTamper:
    """A reader reported its tamper switch active or restored."""

    reader_id: str
    active: bool


@dataclass(frozen=True, slots=True)
class InputChanged:
    """A digital input on an I/O module changed level (``active`` is the logical level)."""

    module_id: str
    point: int
    active: bool
    received_ns: int


@dataclass(frozen=True, slots=True)
class RegisterChanged:
    """An input register on an I/O module changed value (raw 16-bit, 0..65535)."""

    module_id: str
    register: int
    value: int
    received_ns: int


@dataclass(frozen=True, slots=True)
class ModuleLink:
    """An I/O module became reachable or unreachable."""

    module_id: str
    online: bool
    detail: str = ""


class CameraCondition(StrEnum):
    """What a camera's picture is like, as its driver judges it (4-8-7(4))."""

    OK = "ok"  # frames arrive and show a scene
    OFFLINE = "offline"  # no frames: the stream cannot be opened or has stopped
    FROZEN = "frozen"  # frames arrive but the picture does not change at all
    BLINDED = "blinded"  # the lens is covered, the picture black, or sprayed (no contrast)


@dataclass(frozen=True, slots=True)
class CameraHealth:
    """A camera's condition changed (``detail`` says what was measured)."""

    camera_id: str
    condition: CameraCondition
    detail: str = ""


@dataclass(frozen=True, slots=True)
class CameraMotion:
    """Motion in a camera's picture started (``active``) or stopped.

    ``level`` is the moving share of the picture (0..1) in the frame taken at ``frame_ns``
    (``time.perf_counter_ns()`` when the frame was read).
    """

    camera_id: str
    active: bool
    level: float
    frame_ns: int


@dataclass(frozen=True, slots=True)
class CameraCrossing:
    """Someone crossed a camera's door line; ``inward`` is into the zone behind the door."""

    camera_id: str
    inward: bool
    frame_ns: int  # ``time.perf_counter_ns()`` when the frame that showed it was read


CameraEvent = CameraHealth | CameraMotion | CameraCrossing


DeviceEvent = (
    CardRead
    | CardUnreadable
    | KeypadKeys
    | ReaderLink
    | ReaderTamper
    | InputChanged
    | RegisterChanged
    | ModuleLink
)
