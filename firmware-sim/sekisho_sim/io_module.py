"""A simulated Modbus TCP digital I/O module with the doors wired to it (4-8-7(4)).

Coils are relay outputs (strike relays, energised = released); discrete inputs are the door
position switches (1 = open), request-to-exit buttons (1 = pressed), reader tamper loops
(1 = tampered) and any further named inputs; input registers (``register_count``) hold the
simulated environment sensors' values (``sekisho_sim.sensors``, 4-8-7(5)). A real pymodbus
server answers on 127.0.0.1.

Datastore choice: pymodbus 3.16's ``ModbusDeviceContext`` is now only a deprecated wrapper
that deep-copies its blocks into a ``SimDevice``, so the old trick of overriding a data block's
``setValues`` no longer reaches the server. A ``SimDevice`` with an ``action`` hook is the one
supported way to see every request, so that is what is used: the door model below is the only
truth, and the hook copies it into the server's registers before each request is answered and
applies each coil write to it.

Physics are evaluated lazily from deadlines (``time.monotonic``) under one lock, so actions are
callable from any thread, need no timers, and are visible to the very next Modbus read.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from sekisho_sim.sensors import (
    SensorType,
    SimSensorError,
    SimSensorSpec,
    SimSensorView,
    describe,
    encode,
)

REX_PULSE_S = 0.5  # how long a request-to-exit press keeps its input active
REX_OPEN_DELAY_S = 0.3  # the person pushes the door this long after pressing the button
_COIL_READ, _INPUT_READ, _REGISTER_READ = 1, 2, 4
_MAX_REGISTERS = 125  # Modbus limit on registers per read request
_COIL_WRITES = frozenset({5, 15})
_MAX_POINTS = 2000  # Modbus limit on bits per read request
_NO_INPUTS: Mapping[str, int] = MappingProxyType({})
COIL_LOG_SIZE = 200_000  # coil writes kept for ``coil_writes`` (about an hour at 64 doors/s)


class SimModuleError(Exception):
    """A sim module was configured or asked something it cannot do (unknown door, bad point)."""


class DoorAction(StrEnum):
    """What a person (or an intruder) does to a simulated door."""

    OPEN = "open"  # pull the door from outside: opens only while the strike is released
    CLOSE = "close"  # let the door shut
    HOLD = "hold"  # open it (if released or already open) and keep it open
    FORCE = "force"  # open it whatever the strike: forced entry
    REX = "rex"  # press request-to-exit, then leave by free mechanical egress


@dataclass(frozen=True, slots=True)
class SimDoorSpec:
    """How one door is wired to the module."""

    door_id: str
    strike_coil: int
    contact_input: int
    rex_input: int | None = None
    pass_time_s: float = 2.0  # how long a person walking through keeps the door open

    def __post_init__(self) -> None:
        """Refuse negative points, a REX on the contact input and a non-positive pass time."""
        points = [self.strike_coil, self.contact_input]
        if self.rex_input is not None:
            points.append(self.rex_input)
        if any(p < 0 for p in points):
            raise SimModuleError(f"door {self.door_id}: points must be >= 0")
        if self.rex_input == self.contact_input:
            raise SimModuleError(f"door {self.door_id}: rex_input and contact_input coincide")
        if not self.pass_time_s > 0:
            raise SimModuleError(f"door {self.door_id}: pass_time_s must be > 0")


@dataclass(frozen=True, slots=True)
class SimDoorView:
    """What an observer standing at a door sees right now."""

    door_id: str
    open: bool
    strike_released: bool
    held: bool  # kept open on purpose until ``close``
    rex_active: bool
    forced_count: int  # times it was forced open
    opened_count: int  # times it opened, by any means


@dataclass(frozen=True, slots=True)
class DoorActionResult:
    """What came of a door action: whether it happened, why not, and the door afterwards."""

    door_id: str
    action: str
    done: bool
    message: str
    view: SimDoorView


class _Door:
    """Mutable physics of one door; only touched under the module's lock."""

    __slots__ = (
        "forced_count",
        "open_from",
        "open_until",
        "opened_count",
        "rex_until",
        "spec",
    )

    def __init__(self, spec: SimDoorSpec) -> None:
        """A closed door with no history."""
        self.spec = spec
        self.open_from: float | None = None  # when it opens (or opened); None = closed
        self.open_until: float | None = None  # when it closes by itself; None = held open
        self.rex_until = 0.0
        self.forced_count = 0
        self.opened_count = 0

    def is_open(self, now: float) -> bool:
        """True while the door leaf is away from its frame."""
        return self.open_from is not None and self.open_from <= now

    def held(self, now: float) -> bool:
        """True while the door is kept open until someone closes it."""
        return self.is_open(now) and self.open_until is None

    def settle(self, now: float) -> None:
        """Let a self-closing door shut once its pass time is over."""
        if self.open_until is not None and now >= self.open_until:
            self.open_from = self.open_until = None

    def open_for(self, start: float, seconds: float | None) -> None:
        """Open at ``start`` and close ``seconds`` later (None: keep open); a held door stays."""
        if self.open_from is None:
            self.open_from = start
            self.opened_count += 1
            self.open_until = None if seconds is None else start + seconds
            return
        if self.open_until is None:
            return  # already held open: a passer-by changes nothing
        self.open_from = min(self.open_from, start)
        self.open_until = None if seconds is None else max(self.open_until, start + seconds)


def _pack_bits(bits: Sequence[bool], registers: list[int]) -> None:
    """Write ``bits`` (bit 0 first) into pymodbus' 16-bit registers, in place."""
    for reg in range(len(registers) - 1):  # the last register is pymodbus' end marker
        word = 0
        for bit, level in enumerate(bits[reg * 16 : reg * 16 + 16]):
            if level:
                word |= 1 << bit
        registers[reg] = word


async def _shutdown(server: ModbusTcpServer) -> None:
    """Close a pymodbus server and every connection it accepted."""
    await server.shutdown()  # type: ignore[no-untyped-call]  # pymodbus leaves it unannotated


class SimIOModule:
    """A Modbus TCP I/O module with strike relays, door contacts, REX buttons and inputs."""

    def __init__(
        self,
        module_id: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        device_id: int = 1,
        doors: Sequence[SimDoorSpec] = (),
        named_inputs: Mapping[str, int] = _NO_INPUTS,
        coil_count: int = 16,
        input_count: int = 16,
        watchdog_s: float | None = None,
        register_count: int = 0,
        sensors: Sequence[SimSensorSpec] = (),
    ) -> None:
        """Check the wiring (points in range, nothing wired twice); nothing listens yet."""
        if not 1 <= coil_count <= _MAX_POINTS or not 1 <= input_count <= _MAX_POINTS:
            raise SimModuleError(f"module {module_id}: coil/input counts must be 1..{_MAX_POINTS}")
        if not 1 <= device_id <= 247:
            raise SimModuleError(f"module {module_id}: device_id must be 1..247")
        if watchdog_s is not None and not watchdog_s > 0:
            raise SimModuleError(f"module {module_id}: watchdog_s must be > 0 or None")
        if not 0 <= port <= 65535:
            raise SimModuleError(f"module {module_id}: port must be 0..65535")
        if not 0 <= register_count <= _MAX_REGISTERS:
            raise SimModuleError(f"module {module_id}: register_count must be 0..{_MAX_REGISTERS}")
        self.module_id = module_id
        self.host = host
        self.device_id = device_id
        self.coil_count = coil_count
        self.input_count = input_count
        self.watchdog_s = watchdog_s
        self.register_count = register_count
        self._port = port
        self._doors: dict[str, _Door] = {}
        self._door_inputs: dict[int, str] = {}
        used_coils: dict[int, str] = {}
        for spec in doors:
            self._add_door(spec, used_coils)
        self._named: dict[str, int] = {}
        for name, point in named_inputs.items():
            self._check_input(point, f"named input {name!r}")
            if point in self._door_inputs:
                owner = self._door_inputs[point]
                raise SimModuleError(f"named input {name!r}: point {point} belongs to {owner}")
            self._named[name] = point
        self._lock = threading.Lock()
        self._coils = [False] * coil_count
        self._levels = [False] * input_count  # inputs not driven by door physics
        self._registers = [0] * register_count
        self._sensors: dict[str, SimSensorSpec] = {}
        for sensor in sensors:
            self._add_sensor(sensor)
        self._last_request = time.monotonic()
        self._watchdog_trips = 0
        self._requests = 0
        self._server: ModbusTcpServer | None = None
        self._cut = False
        # Called as (coil, level, time.perf_counter_ns()) for every coil a client writes; benchmarks
        # use it to time badge → strike from this side of the wire.
        self.on_coil_write: Callable[[int, bool, int], None] | None = None
        # The same, kept for a benchmark in another process (``coil_writes``; newest last).
        self._coil_log: deque[tuple[int, bool, int]] = deque(maxlen=COIL_LOG_SIZE)

    def _add_door(self, spec: SimDoorSpec, used_coils: dict[int, str]) -> None:
        """Register one door, refusing points out of range or wired twice."""
        if spec.door_id in self._doors:
            raise SimModuleError(f"door {spec.door_id} is declared twice")
        if not 0 <= spec.strike_coil < self.coil_count:
            raise SimModuleError(
                f"door {spec.door_id}: strike_coil {spec.strike_coil} out of range"
            )
        if spec.strike_coil in used_coils:
            owner = used_coils[spec.strike_coil]
            raise SimModuleError(f"door {spec.door_id}: coil {spec.strike_coil} used by {owner}")
        used_coils[spec.strike_coil] = spec.door_id
        for point in (spec.contact_input, spec.rex_input):
            if point is None:
                continue
            self._check_input(point, f"door {spec.door_id}")
            if point in self._door_inputs:
                owner = self._door_inputs[point]
                raise SimModuleError(f"door {spec.door_id}: input {point} used by {owner}")
            self._door_inputs[point] = spec.door_id
        self._doors[spec.door_id] = _Door(spec)

    def _add_sensor(self, spec: SimSensorSpec) -> None:
        """Wire one sensor (to a free input or register) and give it its initial value."""
        what = f"sensor {spec.sensor_id}"
        if spec.sensor_id in self._sensors:
            raise SimModuleError(f"{what} is declared twice")
        for other in self._sensors.values():
            if (spec.input is not None and other.input == spec.input) or (
                spec.register is not None and other.register == spec.register
            ):
                raise SimModuleError(f"{what}: its point is used by sensor {other.sensor_id}")
        if spec.input is not None:
            self._check_input(spec.input, what)
            if spec.input in self._door_inputs or spec.input in self._named.values():
                raise SimModuleError(f"{what}: input {spec.input} is wired to something else")
        if spec.register is not None and not 0 <= spec.register < self.register_count:
            raise SimModuleError(
                f"{what}: register {spec.register} out of range 0..{self.register_count - 1}"
            )
        self._sensors[spec.sensor_id] = spec
        try:
            self._write_sensor(spec, encode(spec, spec.initial))
        except SimSensorError as exc:
            raise SimModuleError(str(exc)) from None

    def _check_input(self, point: int, what: str) -> None:
        """Refuse an input point the module does not have."""
        if not 0 <= point < self.input_count:
            raise SimModuleError(f"{what}: input {point} out of range 0..{self.input_count - 1}")

    # ----------------------------------------------------------------- server lifecycle

    @property
    def port(self) -> int:
        """The TCP port the module listens on (the bound one once started)."""
        return self._port

    @property
    def running(self) -> bool:
        """True while the module answers on its port (started and not cut)."""
        return self._server is not None

    @property
    def door_ids(self) -> tuple[str, ...]:
        """Doors wired to this module."""
        return tuple(self._doors)

    @property
    def named_inputs(self) -> Mapping[str, int]:
        """Named inputs and their points."""
        return dict(self._named)

    @property
    def sensor_ids(self) -> tuple[str, ...]:
        """Sensors wired to this module."""
        return tuple(self._sensors)

    @property
    def watchdog_trips(self) -> int:
        """How many times the watchdog dropped the coils."""
        with self._lock:
            self._settle(time.monotonic())
            return self._watchdog_trips

    @property
    def requests_served(self) -> int:
        """Modbus requests that reached the datastore (well-formed, valid address)."""
        return self._requests

    async def start(self) -> None:
        """Listen on host:port (port 0 picks a free one; ``port`` then reports it)."""
        if self._server is not None:
            return
        self._cut = False
        with self._lock:
            self._last_request = time.monotonic()
        await self._listen()

    async def stop(self) -> None:
        """Stop listening and drop every connection."""
        self._cut = False
        await self._shutdown()

    async def cut(self) -> None:
        """Make the module unreachable: stop listening, drop connections (coils kept)."""
        self._cut = True
        await self._shutdown()

    async def restore(self) -> None:
        """Bring a cut module back on the same port."""
        if self._server is not None:
            return
        self._cut = False
        await self._listen()

    async def _listen(self) -> None:
        """Start a pymodbus server on the module's address."""
        server = ModbusTcpServer(self._devices(), address=(self.host, self._port))
        try:
            await server.serve_forever(background=True)
        except RuntimeError as exc:  # pymodbus reports a failed bind this way
            await _shutdown(server)
            raise SimModuleError(
                f"module {self.module_id}: cannot listen on {self.host}:{self._port}"
            ) from exc
        sockets = getattr(server.transport, "sockets", None) or ()
        if sockets:
            self._port = int(sockets[0].getsockname()[1])
        self._server = server

    async def _shutdown(self) -> None:
        """Close the listener and its connections, if running."""
        server, self._server = self._server, None
        if server is not None:
            await _shutdown(server)
            await asyncio.sleep(0)  # let asyncio deliver connection_lost to the handlers

    def _devices(self) -> list[SimDevice]:
        """Our device at ``device_id``, plus a catch-all answering 'gateway: no response'."""

        def blocks() -> tuple[list[SimData], list[SimData], list[SimData], list[SimData]]:
            """Coils, discrete inputs and input registers; no holding registers."""
            inputs = (
                SimData(0, count=self.register_count, values=0, datatype=DataType.REGISTERS)
                if self.register_count
                else SimData(0, datatype=DataType.INVALID)  # reads are illegal addresses
            )
            return (
                [SimData(0, count=self.coil_count, values=False, datatype=DataType.BITS)],
                [SimData(0, count=self.input_count, values=False, datatype=DataType.BITS)],
                [SimData(0, datatype=DataType.INVALID)],  # no holding registers
                [inputs],
            )

        async def nobody(*_args: object) -> ExcCodes:
            """Every request to another unit id: no such device behind this gateway."""
            return ExcCodes.GATEWAY_NO_RESPONSE

        return [
            SimDevice(id=self.device_id, simdata=blocks(), action=self._on_request),
            SimDevice(id=0, simdata=blocks(), action=nobody),
        ]

    async def _on_request(
        self,
        func_code: int,
        _start: int,
        address: int,
        _reg_count: int,
        registers: list[int],
        values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """pymodbus hook, called before each request touches the registers."""
        now = time.monotonic()
        with self._lock:
            self._settle(now)
            self._last_request = now
            self._requests += 1
            if func_code in _COIL_WRITES and values:
                if address + len(values) > self.coil_count:
                    return ExcCodes.ILLEGAL_ADDRESS
                for offset, level in enumerate(values):
                    self._coils[address + offset] = bool(level)
                    written_ns = time.perf_counter_ns()
                    self._coil_log.append((address + offset, bool(level), written_ns))
                    if self.on_coil_write is not None:
                        self.on_coil_write(address + offset, bool(level), written_ns)
            if func_code == _INPUT_READ:
                _pack_bits(self._input_levels(now), registers)
            elif func_code == _REGISTER_READ:
                registers[: self.register_count] = self._registers
            elif func_code == _COIL_READ or func_code in _COIL_WRITES:
                _pack_bits(self._coils, registers)
        return None

    # ------------------------------------------------------------------------- physics

    def _settle(self, now: float) -> None:
        """Apply everything that happened by itself since the last look (lock held)."""
        if self.watchdog_s is not None and now - self._last_request > self.watchdog_s:
            if any(self._coils):
                self._coils = [False] * self.coil_count  # fail-secure: every relay drops
                self._watchdog_trips += 1
            self._last_request = now  # the drop happened; the watchdog restarts from here
        for door in self._doors.values():
            door.settle(now)

    def _input_levels(self, now: float) -> list[bool]:
        """Every input's level right now (lock held, settled)."""
        levels = list(self._levels)
        for door in self._doors.values():
            levels[door.spec.contact_input] = door.is_open(now)
            if door.spec.rex_input is not None:
                levels[door.spec.rex_input] = now < door.rex_until
        return levels

    def _view(self, door: _Door, now: float) -> SimDoorView:
        """Snapshot of one door (lock held, settled)."""
        return SimDoorView(
            door_id=door.spec.door_id,
            open=door.is_open(now),
            strike_released=self._coils[door.spec.strike_coil],
            held=door.held(now),
            rex_active=now < door.rex_until,
            forced_count=door.forced_count,
            opened_count=door.opened_count,
        )

    def _door(self, door_id: str) -> _Door:
        """The door called ``door_id`` or a SimModuleError naming the known ones."""
        door = self._doors.get(door_id)
        if door is None:
            known = ", ".join(self._doors) or "none"
            raise SimModuleError(
                f"module {self.module_id} has no door {door_id!r} (known: {known})"
            )
        return door

    def door_action(self, door_id: str, action: str) -> DoorActionResult:
        """Do ``open|close|hold|force|rex`` to a door; thread-safe, effective immediately."""
        try:
            act = DoorAction(action)
        except ValueError:
            known = "|".join(a.value for a in DoorAction)
            raise SimModuleError(f"unknown door action {action!r} (use {known})") from None
        now = time.monotonic()
        with self._lock:
            self._settle(now)
            door = self._door(door_id)
            done, message = self._apply(door, act, now)
            return DoorActionResult(door_id, act.value, done, message, self._view(door, now))

    def _apply(self, door: _Door, act: DoorAction, now: float) -> tuple[bool, str]:
        """The physics of one action (lock held, settled); returns (done, message)."""
        was_open = door.is_open(now)
        if act is DoorAction.CLOSE:
            door.open_from = door.open_until = None
            door.rex_until = min(door.rex_until, now)
            return True, "closed" if was_open else "already closed"
        if act is DoorAction.FORCE:
            if not was_open:
                door.forced_count += 1
                door.open_for(now, door.spec.pass_time_s)
            return True, "already open" if was_open else "forced open"
        if act is DoorAction.REX:
            # the button is pressed, then the person pushes the door from inside
            if door.spec.rex_input is not None:
                door.rex_until = now + REX_PULSE_S
            door.open_for(now + REX_OPEN_DELAY_S, door.spec.pass_time_s)
            return True, "request-to-exit, door opened from inside"
        # OPEN and HOLD: from outside, only through a released strike (or an open door)
        if not (self._coils[door.spec.strike_coil] or was_open):
            return False, "locked, not opened"
        door.open_for(now, None if act is DoorAction.HOLD else door.spec.pass_time_s)
        if act is DoorAction.HOLD:
            return True, "held open until closed"
        return True, "already open" if was_open else "opened"

    def door_view(self, door_id: str) -> SimDoorView:
        """What the door looks like right now."""
        now = time.monotonic()
        with self._lock:
            self._settle(now)
            return self._view(self._door(door_id), now)

    def set_input(self, name_or_point: str | int, active: bool) -> None:
        """Set a named or numbered input that is not driven by door physics."""
        if isinstance(name_or_point, str):
            if name_or_point in self._named:
                point = self._named[name_or_point]
            elif name_or_point.isdigit():
                point = int(name_or_point)
            else:
                known = ", ".join(self._named) or "none"
                raise SimModuleError(
                    f"module {self.module_id} has no input {name_or_point!r} (named: {known})"
                )
        else:
            point = name_or_point
        self._check_input(point, f"module {self.module_id}")
        if point in self._door_inputs:
            owner = self._door_inputs[point]
            raise SimModuleError(f"input {point} is wired to door {owner}: use a door action")
        with self._lock:
            self._levels[point] = bool(active)

    def input_level(self, point: int) -> bool:
        """The level a Modbus read of input ``point`` would return now."""
        self._check_input(point, f"module {self.module_id}")
        now = time.monotonic()
        with self._lock:
            self._settle(now)
            return self._input_levels(now)[point]

    def coil_writes(self, since_ns: int = 0) -> list[tuple[int, bool, int]]:
        """Coil writes received at ``time.perf_counter_ns()`` >= ``since_ns``: (coil, level, ns).

        CLOCK_MONOTONIC is shared by the processes of one Linux host, so another process can
        compare these times with its own ``perf_counter_ns`` (badge → strike from outside).
        """
        with self._lock:
            return [w for w in self._coil_log if w[2] >= since_ns]

    def coil(self, point: int) -> bool:
        """Whether relay ``point`` is energised now (after any watchdog drop)."""
        if not 0 <= point < self.coil_count:
            raise SimModuleError(f"module {self.module_id}: coil {point} out of range")
        with self._lock:
            self._settle(time.monotonic())
            return self._coils[point]

    # ------------------------------------------------------------------------- sensors

    def _sensor(self, sensor_id: str) -> SimSensorSpec:
        """The sensor called ``sensor_id`` or a SimModuleError naming the known ones."""
        spec = self._sensors.get(sensor_id)
        if spec is None:
            known = ", ".join(self._sensors) or "none"
            raise SimModuleError(
                f"module {self.module_id} has no sensor {sensor_id!r} (known: {known})"
            )
        return spec

    def _write_sensor(self, spec: SimSensorSpec, raw: int) -> None:
        """Put a raw level or register word where the module reports it."""
        with self._lock:
            if spec.type is SensorType.CONTACT:
                assert spec.input is not None  # checked by SimSensorSpec
                self._levels[spec.input] = bool(raw)
            else:
                assert spec.register is not None
                self._registers[spec.register] = raw

    def _raw(self, spec: SimSensorSpec) -> int:
        """The raw level or register word of a sensor now."""
        with self._lock:
            if spec.type is SensorType.CONTACT:
                assert spec.input is not None
                return int(self._levels[spec.input])
            assert spec.register is not None
            return self._registers[spec.register]

    def set_sensor(self, sensor_id: str, value: str | float | bool) -> SimSensorView:
        """Set a sensor: on/off, a number, or a loop state (normal|alarm|open|short)."""
        spec = self._sensor(sensor_id)
        try:
            raw = encode(spec, value)
        except SimSensorError as exc:
            raise SimModuleError(str(exc)) from None
        self._write_sensor(spec, raw)
        return self.sensor_view(sensor_id)

    def sensor_view(self, sensor_id: str) -> SimSensorView:
        """What a sensor reports right now."""
        spec = self._sensor(sensor_id)
        raw = self._raw(spec)
        return SimSensorView(spec.sensor_id, spec.type.value, spec.label, describe(spec, raw), raw)

    def set_register(self, register: int, raw: int) -> None:
        """Put any word (0..65535) in an input register, e.g. junk from a broken sensor."""
        if not 0 <= register < self.register_count:
            raise SimModuleError(f"module {self.module_id}: register {register} out of range")
        if not 0 <= raw <= 0xFFFF:
            raise SimModuleError(f"module {self.module_id}: a register word is 0..65535")
        with self._lock:
            self._registers[register] = raw

    def register(self, register: int) -> int:
        """The word a Modbus read of input register ``register`` would return now."""
        if not 0 <= register < self.register_count:
            raise SimModuleError(f"module {self.module_id}: register {register} out of range")
        with self._lock:
            return self._registers[register]
