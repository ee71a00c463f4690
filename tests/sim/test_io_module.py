"""The simulated Modbus I/O module, seen through a real pymodbus client over TCP (4-8-7(4))."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable

import pytest
from pymodbus.client import AsyncModbusTcpClient

from sekisho_sim.io_module import (
    REX_PULSE_S,
    SimDoorSpec,
    SimIOModule,
    SimModuleError,
)

DOOR = SimDoorSpec("sr-door", strike_coil=0, contact_input=0, rex_input=1, pass_time_s=1.0)


async def wait_until(check: Callable[[], bool], within: float = 5.0) -> None:
    """Wait for a condition without fixed sleeps; fail after a generous timeout."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@pytest.fixture
async def module() -> AsyncIterator[SimIOModule]:
    """A started sim module with one door and a named tamper input."""
    mod = SimIOModule("io1", doors=[DOOR], named_inputs={"sr-in-tamper": 2})
    await mod.start()
    yield mod
    await mod.stop()


@pytest.fixture
async def client(module: SimIOModule) -> AsyncIterator[AsyncModbusTcpClient]:
    """A raw pymodbus client connected to the module."""
    c = AsyncModbusTcpClient("127.0.0.1", port=module.port, reconnect_delay=0, timeout=2)
    assert await c.connect()
    yield c
    c.close()


async def read_inputs(client: AsyncModbusTcpClient, count: int = 16) -> list[bool]:
    """All discrete inputs over Modbus."""
    reply = await client.read_discrete_inputs(0, count=count, device_id=1)
    assert not reply.isError()
    return list(reply.bits[:count])


async def test_port_zero_binds_a_free_port_and_serves(module: SimIOModule) -> None:
    assert module.port > 0
    assert module.running


async def test_coil_write_is_visible_in_the_model_and_reads_back(
    module: SimIOModule, client: AsyncModbusTcpClient
) -> None:
    assert not module.coil(0)
    reply = await client.write_coil(0, True, device_id=1)
    assert not reply.isError()
    assert module.coil(0)
    assert module.door_view("sr-door").strike_released
    coils = await client.read_coils(0, count=16, device_id=1)
    assert coils.bits[0] is True
    assert not any(coils.bits[1:16])


async def test_multiple_coil_write_and_out_of_range_write_is_refused(
    client: AsyncModbusTcpClient, module: SimIOModule
) -> None:
    reply = await client.write_coils(3, [True, False, True], device_id=1)
    assert not reply.isError()
    assert (module.coil(3), module.coil(4), module.coil(5)) == (True, False, True)
    reply = await client.write_coil(16, True, device_id=1)
    assert reply.isError()
    assert reply.exception_code == 2  # illegal data address


async def test_other_device_id_gets_a_gateway_exception(client: AsyncModbusTcpClient) -> None:
    reply = await client.read_discrete_inputs(0, count=16, device_id=9)
    assert reply.isError()
    assert reply.exception_code == 11  # gateway target device failed to respond


async def test_open_is_refused_while_locked(
    module: SimIOModule, client: AsyncModbusTcpClient
) -> None:
    result = module.door_action("sr-door", "open")
    assert not result.done
    assert result.message == "locked, not opened"
    assert not result.view.open
    assert (await read_inputs(client))[0] is False


async def test_open_while_released_then_closes_by_itself(
    module: SimIOModule, client: AsyncModbusTcpClient
) -> None:
    await client.write_coil(0, True, device_id=1)
    result = module.door_action("sr-door", "open")
    assert result.done
    assert result.view.open
    assert (await read_inputs(client))[0] is True  # contact: 1 = open
    await wait_until(lambda: not module.door_view("sr-door").open)
    assert (await read_inputs(client))[0] is False
    assert module.door_view("sr-door").opened_count == 1


async def test_force_opens_whatever_the_strike_and_is_counted(
    module: SimIOModule, client: AsyncModbusTcpClient
) -> None:
    result = module.door_action("sr-door", "force")
    assert result.done
    assert result.view.open
    assert not result.view.strike_released
    assert result.view.forced_count == 1
    assert (await read_inputs(client))[0] is True
    await wait_until(lambda: not module.door_view("sr-door").open)


async def test_hold_keeps_the_door_open_until_close(
    module: SimIOModule, client: AsyncModbusTcpClient
) -> None:
    assert not module.door_action("sr-door", "hold").done  # locked: cannot be held open
    await client.write_coil(0, True, device_id=1)
    assert module.door_action("sr-door", "hold").view.held
    await client.write_coil(0, False, device_id=1)  # relocking does not shut an open door
    await asyncio.sleep(DOOR.pass_time_s + 0.3)  # longer than a passage: must still be open
    assert module.door_view("sr-door").open
    assert (await read_inputs(client))[0] is True
    closed = module.door_action("sr-door", "close")
    assert closed.done
    assert not closed.view.open
    assert (await read_inputs(client))[0] is False


async def test_rex_pulses_its_input_before_the_door_opens(
    module: SimIOModule, client: AsyncModbusTcpClient
) -> None:
    result = module.door_action("sr-door", "rex")
    assert result.done
    assert result.view.rex_active
    assert not result.view.open  # the person pushes the door a moment after the press
    assert module.input_level(1) is True
    assert module.input_level(0) is False
    await wait_until(lambda: module.door_view("sr-door").open)
    await wait_until(lambda: not module.door_view("sr-door").rex_active, within=REX_PULSE_S + 5)
    await wait_until(lambda: not module.door_view("sr-door").open)
    assert (await read_inputs(client))[:2] == [False, False]
    assert module.door_view("sr-door").forced_count == 0


async def test_named_and_numbered_inputs(module: SimIOModule, client: AsyncModbusTcpClient) -> None:
    module.set_input("sr-in-tamper", True)
    module.set_input(7, True)
    levels = await read_inputs(client)
    assert levels[2] is True
    assert levels[7] is True
    module.set_input("sr-in-tamper", False)
    assert (await read_inputs(client))[2] is False


def test_bad_requests_get_typed_errors() -> None:
    mod = SimIOModule("io1", doors=[DOOR], named_inputs={"t": 2})
    with pytest.raises(SimModuleError, match="no door 'nope'"):
        mod.door_action("nope", "open")
    with pytest.raises(SimModuleError, match="unknown door action 'kick'"):
        mod.door_action("sr-door", "kick")
    with pytest.raises(SimModuleError, match="no input 'x'"):
        mod.set_input("x", True)
    with pytest.raises(SimModuleError, match="wired to door sr-door"):
        mod.set_input(0, True)
    with pytest.raises(SimModuleError, match="out of range"):
        mod.set_input(16, True)
    with pytest.raises(SimModuleError, match="out of range"):
        mod.coil(99)


def test_wiring_conflicts_are_refused() -> None:
    with pytest.raises(SimModuleError, match="used by a"):
        SimIOModule(
            "io1",
            doors=[SimDoorSpec("a", 0, 0), SimDoorSpec("b", 0, 1)],
        )
    with pytest.raises(SimModuleError, match="belongs to a"):
        SimIOModule("io1", doors=[SimDoorSpec("a", 0, 0)], named_inputs={"t": 0})
    with pytest.raises(SimModuleError, match="out of range"):
        SimIOModule("io1", doors=[SimDoorSpec("a", 0, 20)])
    with pytest.raises(SimModuleError, match="pass_time_s"):
        SimDoorSpec("a", 0, 0, pass_time_s=0)


async def test_actions_from_another_thread_are_visible_to_the_next_read(
    module: SimIOModule, client: AsyncModbusTcpClient
) -> None:
    worker = threading.Thread(target=module.door_action, args=("sr-door", "force"))
    worker.start()
    await asyncio.to_thread(worker.join)
    assert (await read_inputs(client))[0] is True


async def test_cut_drops_the_connection_and_restore_reuses_the_port(
    module: SimIOModule, client: AsyncModbusTcpClient
) -> None:
    port = module.port
    await client.write_coil(0, True, device_id=1)
    await module.cut()
    assert not module.running
    await wait_until(lambda: not client.connected)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    await module.restore()
    assert module.port == port
    again = AsyncModbusTcpClient("127.0.0.1", port=port, reconnect_delay=0, timeout=2)
    assert await again.connect()
    try:
        coils = await again.read_coils(0, count=1, device_id=1)
        assert coils.bits[0] is True  # no watchdog: a relay keeps its state through a cut
    finally:
        again.close()


async def test_watchdog_drops_every_coil_when_requests_stop() -> None:
    mod = SimIOModule("io1", doors=[DOOR], watchdog_s=0.3)
    await mod.start()
    c = AsyncModbusTcpClient("127.0.0.1", port=mod.port, reconnect_delay=0, timeout=2)
    try:
        assert await c.connect()
        await c.write_coils(0, [True, True], device_id=1)
        for _ in range(5):  # requests keep arriving faster than the watchdog: coils stay
            await asyncio.sleep(0.1)
            await c.read_discrete_inputs(0, count=16, device_id=1)
        assert mod.coil(0)
        assert mod.coil(1)
        await wait_until(lambda: not mod.coil(0))  # silence: fail-secure
        assert not mod.coil(1)
        assert mod.watchdog_trips == 1
        assert not mod.door_view("sr-door").strike_released
        assert not mod.door_action("sr-door", "open").done
        coils = await c.read_coils(0, count=2, device_id=1)
        assert list(coils.bits[:2]) == [False, False]
    finally:
        c.close()
        await mod.stop()


async def test_garbage_bytes_do_not_kill_the_server(
    module: SimIOModule, client: AsyncModbusTcpClient
) -> None:
    junk = [  # (bytes, whether an answer is due)
        (b"\x00" * 3, False),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", False),
        (bytes(range(256)) * 4, False),
        (b"\x00\x01\x00\x00\x00\x06\x01\x63\x00\x00\x00\x01", True),  # unknown function 0x63
        (b"\x00\x01\x00\x00\xff\xff\x01\x02", False),  # MBAP length far beyond the frame
    ]
    replies = []
    for payload, answered in junk:
        reader, writer = await asyncio.open_connection("127.0.0.1", module.port)
        writer.write(payload)
        await writer.drain()
        reply = b""
        with contextlib.suppress(TimeoutError, ConnectionError):
            reply = await asyncio.wait_for(reader.read(1 << 16), timeout=5 if answered else 0.2)
        replies.append(reply)
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    # an unknown function gets an exception reply, code 1 (illegal function)
    assert replies[3][7] & 0x80
    assert replies[3][8] == 1
    await client.write_coil(0, True, device_id=1)  # the legit client still gets answers
    assert (await read_inputs(client))[0] is False
    assert module.coil(0)
