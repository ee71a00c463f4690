"""The Modbus I/O driver against the simulated module over real TCP on 127.0.0.1 (4-8-7(4))."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable

import pytest

from devices.errors import ConfigurationRefused, DeviceError, LinkError
from devices.modbus_io import ModbusIOModule
from gateway.events import DeviceEvent, InputChanged, ModuleLink
from gateway.ports import DeviceFault, IOModule
from sekisho_sim.io_module import SimDoorSpec, SimIOModule

DOOR = SimDoorSpec("sr-door", strike_coil=0, contact_input=0, rex_input=1, pass_time_s=1.0)


def fast_driver(port: int, *, device_id: int = 1) -> ModbusIOModule:
    """A driver polling every 10 ms and retrying quickly, so tests stay short."""
    return ModbusIOModule(
        "io1",
        "127.0.0.1",
        port,
        device_id=device_id,
        poll_ms=10.0,
        timeout_s=1.0,
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
    )


class Recorder:
    """A DeviceEventSink that keeps every event, for assertions."""

    def __init__(self) -> None:
        """No events yet."""
        self.events: list[DeviceEvent] = []

    def __call__(self, event: DeviceEvent, /) -> None:
        """Keep one event."""
        self.events.append(event)

    def links(self) -> list[ModuleLink]:
        """ModuleLink events, oldest first."""
        return [e for e in self.events if isinstance(e, ModuleLink)]

    def changes(self, point: int | None = None) -> list[InputChanged]:
        """InputChanged events (of one point), oldest first."""
        return [
            e
            for e in self.events
            if isinstance(e, InputChanged) and (point is None or e.point == point)
        ]

    async def wait(self, check: Callable[[], bool], within: float = 10.0) -> None:
        """Wait for a condition; fail with the last events after a generous timeout."""
        deadline = time.monotonic() + within
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met; events: {self.events[-8:]}")
            await asyncio.sleep(0.005)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def sim() -> AsyncIterator[SimIOModule]:
    """A simulated module with one door and a tamper input."""
    mod = SimIOModule("io1", doors=[DOOR], named_inputs={"sr-in-tamper": 2})
    await mod.start()
    yield mod
    await mod.stop()


@pytest.fixture
async def rig(sim: SimIOModule) -> AsyncIterator[tuple[ModbusIOModule, Recorder]]:
    """The driver connected to the sim, its first poll already reported."""
    driver = fast_driver(sim.port)
    rec = Recorder()
    await driver.start(rec)
    await rec.wait(lambda: len(rec.changes()) >= 16)
    yield driver, rec
    await driver.stop()


def test_driver_satisfies_the_port_protocol() -> None:
    driver: IOModule = ModbusIOModule("io1", "127.0.0.1", 502)
    assert driver.module_id == "io1"


async def test_first_poll_reports_online_and_every_input(
    sim: SimIOModule, rig: tuple[ModbusIOModule, Recorder]
) -> None:
    driver, rec = rig
    assert rec.events[0] == ModuleLink("io1", online=True)
    first = rec.events[1:17]
    assert [e.point for e in first if isinstance(e, InputChanged)] == list(range(16))
    assert all(isinstance(e, InputChanged) and not e.active for e in first)
    assert dict(driver.inputs()) == dict.fromkeys(range(16), False)
    assert driver.online


async def test_tcp_nodelay_is_set(rig: tuple[ModbusIOModule, Recorder]) -> None:
    driver, _ = rig
    client = driver._client  # white-box: the socket option is not observable from outside
    assert client is not None
    sock = client.ctx.transport.get_extra_info("socket")
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


async def test_only_changes_are_reported_after_the_first_poll(
    sim: SimIOModule, rig: tuple[ModbusIOModule, Recorder]
) -> None:
    driver, rec = rig
    before = len(rec.events)
    sim.set_input("sr-in-tamper", True)
    await rec.wait(lambda: driver.inputs().get(2) is True)
    sim.set_input("sr-in-tamper", False)
    await rec.wait(lambda: driver.inputs().get(2) is False)
    new = rec.events[before:]
    assert [(e.point, e.active) for e in new if isinstance(e, InputChanged)] == [
        (2, True),
        (2, False),
    ]
    assert all(isinstance(e, InputChanged) for e in new)
    stamps = [e.received_ns for e in new if isinstance(e, InputChanged)]
    assert stamps == sorted(stamps)
    assert stamps[0] <= time.perf_counter_ns()


async def test_coil_write_moves_the_strike_and_door_physics_follow(
    sim: SimIOModule, rig: tuple[ModbusIOModule, Recorder]
) -> None:
    driver, rec = rig
    assert not sim.door_action("sr-door", "open").done  # locked
    await driver.write_output(0, True)
    assert sim.coil(0)  # the reply came back: the relay is already energised
    assert sim.door_action("sr-door", "open").done
    await rec.wait(lambda: driver.inputs().get(0) is True)
    await rec.wait(lambda: driver.inputs().get(0) is False)  # the door closed by itself
    await driver.write_output(0, False)
    assert not sim.coil(0)
    assert not sim.door_action("sr-door", "open").done


async def test_force_and_hold_are_seen_as_contact_changes(
    sim: SimIOModule, rig: tuple[ModbusIOModule, Recorder]
) -> None:
    driver, rec = rig
    sim.door_action("sr-door", "force")
    await rec.wait(lambda: [c.active for c in rec.changes(0)][-2:] == [True, False])
    await driver.write_output(0, True)
    sim.door_action("sr-door", "hold")
    await driver.write_output(0, False)
    await rec.wait(lambda: driver.inputs().get(0) is True)
    await asyncio.sleep(DOOR.pass_time_s + 0.5)  # longer than a passage
    assert driver.inputs()[0] is True
    sim.door_action("sr-door", "close")
    await rec.wait(lambda: driver.inputs().get(0) is False)


async def test_rex_pulse_is_reported_before_the_door_opens(
    sim: SimIOModule, rig: tuple[ModbusIOModule, Recorder]
) -> None:
    driver, rec = rig
    before = len(rec.events)
    sim.door_action("sr-door", "rex")
    await rec.wait(lambda: len(rec.events) >= before + 4)  # rex on/off, door on/off
    changes = [e for e in rec.events[before:] if isinstance(e, InputChanged)]
    rex_on = next(e for e in changes if (e.point, e.active) == (1, True))
    door_open = next(e for e in changes if (e.point, e.active) == (0, True))
    # never after the door opened (the same poll only if the loop stalled for 0.3 s)
    assert rex_on.received_ns <= door_open.received_ns
    assert (1, False) in [(e.point, e.active) for e in changes]
    await rec.wait(lambda: driver.inputs().get(0) is False)


async def test_cut_reports_offline_once_and_writes_raise_link_error(
    sim: SimIOModule, rig: tuple[ModbusIOModule, Recorder]
) -> None:
    driver, rec = rig
    await sim.cut()
    await rec.wait(lambda: not driver.online)
    assert driver.inputs() == {}
    with pytest.raises(LinkError, match="offline"):
        await driver.write_output(0, True)
    await asyncio.sleep(0.5)  # several failed reconnects: still only one offline event
    offline = [e for e in rec.links() if not e.online]
    assert len(offline) == 1
    assert offline[0].detail


async def test_restore_brings_it_online_with_initial_inputs_again(
    sim: SimIOModule, rig: tuple[ModbusIOModule, Recorder]
) -> None:
    driver, rec = rig
    await sim.cut()
    await rec.wait(lambda: not driver.online)
    sim.set_input(5, True)  # changed while unreachable
    mark = len(rec.events)
    await sim.restore()
    await rec.wait(lambda: driver.online and len(rec.events) >= mark + 17)
    assert rec.events[mark] == ModuleLink("io1", online=True)
    again = [e for e in rec.events[mark + 1 : mark + 17] if isinstance(e, InputChanged)]
    assert [e.point for e in again] == list(range(16))
    assert [e.point for e in again if e.active] == [5]
    await driver.write_output(3, True)
    assert sim.coil(3)


async def test_refused_write_raises_link_error_and_keeps_the_link(
    sim: SimIOModule, rig: tuple[ModbusIOModule, Recorder]
) -> None:
    driver, rec = rig
    with pytest.raises(LinkError, match="illegal data address"):
        await driver.write_output(40, True)  # the module has 16 coils
    with pytest.raises(ConfigurationRefused):
        await driver.write_output(-1, True)
    assert driver.online
    assert [e.online for e in rec.links()] == [True]


async def test_wrong_device_id_is_an_offline_module_with_a_reason(sim: SimIOModule) -> None:
    driver = fast_driver(sim.port, device_id=7)
    rec = Recorder()
    await driver.start(rec)
    try:
        await rec.wait(lambda: bool(rec.links()))
        assert rec.links()[0].online is False
        assert "gateway" in rec.links()[0].detail
        assert driver.inputs() == {}
    finally:
        await driver.stop()


async def test_unreachable_at_start_reports_offline_then_connects_later() -> None:
    port = free_port()
    driver = fast_driver(port)
    rec = Recorder()
    await driver.start(rec)
    sim = SimIOModule("io1", port=port)
    try:
        await rec.wait(lambda: bool(rec.links()))
        assert rec.links() == [ModuleLink("io1", online=False, detail=rec.links()[0].detail)]
        with pytest.raises(DeviceFault):  # what the core catches: LinkError is a DeviceFault
            await driver.write_output(0, True)
        await sim.start()
        await rec.wait(lambda: driver.online)
        await driver.write_output(0, True)
        assert sim.coil(0)
    finally:
        await driver.stop()
        await sim.stop()


async def test_unresponsive_module_times_out_into_offline() -> None:
    """A peer that accepts TCP but never answers: the poll times out, no pymodbus type leaks."""
    accepted: list[asyncio.StreamWriter] = []

    async def silent(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        """Accept the connection, never answer."""
        accepted.append(w)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    driver = ModbusIOModule("io1", "127.0.0.1", port, poll_ms=10, timeout_s=0.2)
    rec = Recorder()
    await driver.start(rec)
    try:
        await rec.wait(lambda: bool(rec.links()))
        assert rec.links()[0].online is False
        assert "no reply" in rec.links()[0].detail
    finally:
        await driver.stop()
        for w in accepted:
            w.close()
        server.close()
        await server.wait_closed()


async def test_write_in_flight_when_the_peer_hangs_up_fails_as_link_error() -> None:
    """A peer that answers polls but hangs up on a coil write: LinkError, not a 30 s wait."""

    async def peer(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        """Answer discrete-input reads; hang up on anything else."""
        try:
            while True:
                head = await r.readexactly(7)  # MBAP: tid, protocol, length, unit
                body = await r.readexactly(int.from_bytes(head[4:6], "big") - 1)
                if body[0] != 2:  # anything but a discrete-input read: hang up unanswered
                    break
                w.write(head[:4] + b"\x00\x05" + head[6:7] + b"\x02\x02\x00\x00")
                await w.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        w.close()

    server = await asyncio.start_server(peer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    driver = ModbusIOModule("io1", "127.0.0.1", port, poll_ms=20, timeout_s=30)
    rec = Recorder()
    await driver.start(rec)
    try:
        await rec.wait(lambda: driver.online)
        with pytest.raises(LinkError, match="coil 0"):
            await asyncio.wait_for(driver.write_output(0, True), timeout=10)
        await rec.wait(lambda: [e.online for e in rec.links()][:2] == [True, False])
        await rec.wait(lambda: driver.online)  # reconnected with backoff
    finally:
        await driver.stop()
        server.close()
        await server.wait_closed()


async def test_stop_ends_all_events(sim: SimIOModule, rig: tuple[ModbusIOModule, Recorder]) -> None:
    driver, rec = rig
    await driver.stop()
    count = len(rec.events)
    sim.set_input(4, True)
    await sim.cut()
    await asyncio.sleep(0.2)
    assert len(rec.events) == count
    assert driver.inputs() == {}
    with pytest.raises(DeviceError):
        await driver.write_output(0, True)


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ConfigurationRefused):
        ModbusIOModule("io1", "127.0.0.1", 0)
    with pytest.raises(ConfigurationRefused):
        ModbusIOModule("io1", "127.0.0.1", 502, input_count=0)
    with pytest.raises(ConfigurationRefused):
        ModbusIOModule("io1", "127.0.0.1", 502, poll_ms=0)
    with pytest.raises(ConfigurationRefused):
        ModbusIOModule("io1", "127.0.0.1", 502, backoff_initial_s=2, backoff_max_s=1)


async def test_a_failing_sink_does_not_stop_polling(sim: SimIOModule) -> None:
    seen: list[DeviceEvent] = []

    def broken(event: DeviceEvent, /) -> None:
        """A sink that fails on every event."""
        seen.append(event)
        raise RuntimeError("core bug")

    driver = fast_driver(sim.port)
    await driver.start(broken)
    try:
        await Recorder().wait(lambda: driver.online)
        sim.set_input(3, True)
        await Recorder().wait(lambda: driver.inputs().get(3) is True)
        assert 3 in [e.point for e in seen if isinstance(e, InputChanged) and e.active]
    finally:
        await driver.stop()
