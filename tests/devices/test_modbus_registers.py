"""Input registers through the Modbus driver against the simulated module on 127.0.0.1 (4-8-7(5)).

Temperature, humidity and supervised-loop values come in as input registers; each change is a
``RegisterChanged``; a module that has no registers makes the poll fail cleanly (offline).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from devices.errors import ConfigurationRefused
from devices.modbus_io import ModbusIOModule
from gateway.events import InputChanged, ModuleLink, RegisterChanged
from sekisho_sim.io_module import SimIOModule
from sekisho_sim.sensors import SensorType, SimSensorSpec
from tests.devices.test_modbus_io import Recorder

SENSORS = [
    SimSensorSpec("temp", SensorType.ANALOG, register=0, scale=0.1, initial=22.5),
    SimSensorSpec("loop", SensorType.LOOP, register=1),
    SimSensorSpec("smoke", SensorType.CONTACT, input=6),
]


def driver_for(port: int, registers: int = 3) -> ModbusIOModule:
    """A fast-polling driver reading ``registers`` input registers."""
    return ModbusIOModule(
        "io1",
        "127.0.0.1",
        port,
        input_count=8,
        register_count=registers,
        poll_ms=10.0,
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
    )


def registers(rec: Recorder) -> list[tuple[int, int]]:
    """(register, value) of every RegisterChanged, oldest first."""
    return [(e.register, e.value) for e in rec.events if isinstance(e, RegisterChanged)]


@pytest.fixture
async def sim() -> AsyncIterator[SimIOModule]:
    """A module with three input registers and three sensors."""
    mod = SimIOModule("io1", register_count=3, sensors=SENSORS)
    await mod.start()
    yield mod
    await mod.stop()


async def test_first_poll_reports_every_register_then_only_changes(sim: SimIOModule) -> None:
    driver = driver_for(sim.port)
    rec = Recorder()
    await driver.start(rec)
    try:
        await rec.wait(lambda: len(registers(rec)) == 3)
        assert registers(rec) == [(0, 225), (1, 1000), (2, 0)]
        assert dict(driver.registers()) == {0: 225, 1: 1000, 2: 0}
        sim.set_sensor("temp", -5.5)  # a negative value: two's complement on the wire
        sim.set_sensor("loop", "open")
        sim.set_sensor("smoke", "on")
        await rec.wait(lambda: driver.registers().get(1) == 65535 and driver.inputs().get(6))
        await rec.wait(lambda: driver.registers().get(0) == 0x10000 - 55)
        assert sorted(registers(rec)[3:]) == [(0, 0x10000 - 55), (1, 65535)]
        assert (6, True) in [(e.point, e.active) for e in rec.events if isinstance(e, InputChanged)]
        stamps = [e.received_ns for e in rec.events if isinstance(e, RegisterChanged)]
        assert stamps == sorted(stamps)
    finally:
        await driver.stop()
    assert driver.registers() == {}


async def test_a_module_without_registers_is_a_failed_poll_not_a_crash() -> None:
    bare = SimIOModule("io1")  # no input registers: reads are illegal addresses
    await bare.start()
    driver = driver_for(bare.port, registers=2)
    rec = Recorder()
    await driver.start(rec)
    try:
        await rec.wait(lambda: any(not e.online for e in rec.links()))
        offline = next(e for e in rec.links() if not e.online)
        assert "register poll refused: exception 2 (illegal data address)" in offline.detail
        assert not driver.online and driver.registers() == {}
        assert not [e for e in rec.events if isinstance(e, RegisterChanged)]
    finally:
        await driver.stop()
        await bare.stop()


async def test_reconnect_reports_every_register_again(sim: SimIOModule) -> None:
    driver = driver_for(sim.port)
    rec = Recorder()
    await driver.start(rec)
    try:
        await rec.wait(lambda: len(registers(rec)) == 3)
        await sim.cut()
        await rec.wait(lambda: not driver.online)
        sim.set_sensor("temp", 31.0)
        await sim.restore()
        await rec.wait(lambda: len(registers(rec)) == 6)
        assert registers(rec)[3:] == [(0, 310), (1, 1000), (2, 0)]
        assert [e.online for e in rec.events if isinstance(e, ModuleLink)] == [True, False, True]
    finally:
        await driver.stop()


def test_register_count_is_checked() -> None:
    with pytest.raises(ConfigurationRefused, match="register_count"):
        ModbusIOModule("io1", "127.0.0.1", 502, register_count=126)
    with pytest.raises(ConfigurationRefused, match="register_count"):
        ModbusIOModule("io1", "127.0.0.1", 502, register_count=-1)
