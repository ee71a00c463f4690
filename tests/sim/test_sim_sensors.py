"""Simulated environment sensors: on the wire (pymodbus client), over HTTP and from the CLI."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from pymodbus.client import AsyncModbusTcpClient
from typer.testing import CliRunner

from sekisho_sim.cli import app
from sekisho_sim.io_module import SimIOModule, SimModuleError
from sekisho_sim.sensors import LOOP_OHMS, SensorType, SimSensorError, SimSensorSpec
from sekisho_sim.site import SimSite
from sekisho_sim.spec import SpecError, load_spec, parse_spec

SENSORS = [
    SimSensorSpec("temp", SensorType.ANALOG, register=0, scale=0.1, label="temperature"),
    SimSensorSpec("loop", SensorType.LOOP, register=1, label="smoke (supervised)"),
    SimSensorSpec("smoke", SensorType.CONTACT, input=6, label="smoke"),
]
SPEC = """
modules:
  - id: io1
    doors:
      - {id: sr-door, strike_coil: 0, contact_input: 0}
    register_count: 2
    sensors:
      - {id: sr-smoke, type: contact, label: smoke, input: 6}
      - {id: sr-temp, type: analog, label: temperature, input_register: 0, scale: 0.1, value: 21}
      - {id: sr-loop, type: loop, input_register: 1}
"""


@pytest.fixture
async def module() -> AsyncIterator[SimIOModule]:
    """A started module with registers and sensors."""
    mod = SimIOModule("io1", register_count=2, sensors=SENSORS)
    await mod.start()
    yield mod
    await mod.stop()


async def test_sensor_values_are_on_the_wire(module: SimIOModule) -> None:
    client = AsyncModbusTcpClient("127.0.0.1", port=module.port, reconnect_delay=0, timeout=2)
    assert await client.connect()
    try:
        reply = await client.read_input_registers(0, count=2, device_id=1)
        assert list(reply.registers) == [0, LOOP_OHMS["normal"]]
        module.set_sensor("temp", 23.4)
        module.set_sensor("loop", "short")
        module.set_sensor("smoke", True)
        reply = await client.read_input_registers(0, count=2, device_id=1)
        assert list(reply.registers) == [234, 0]
        bits = await client.read_discrete_inputs(0, count=8, device_id=1)
        assert bits.bits[6] is True
        module.set_sensor("temp", -12.5)
        reply = await client.read_input_registers(0, count=1, device_id=1)
        assert list(reply.registers) == [0x10000 - 125]
        beyond = await client.read_input_registers(1, count=5, device_id=1)
        assert beyond.isError()  # past the module's registers: illegal address
    finally:
        client.close()


def test_views_and_refusals(module: SimIOModule) -> None:
    assert module.sensor_ids == ("temp", "loop", "smoke")
    assert module.set_sensor("loop", "open").value == "open"
    assert module.set_sensor("loop", 1234).value == 1234.0  # raw ohms between the states
    assert module.set_sensor("temp", "30.5").value == 30.5
    view = module.set_sensor("smoke", "alarm")
    assert (view.value, view.raw, view.label) == (True, 1, "smoke")
    for sensor, value, message in [
        ("smoke", "maybe", "use on or off"),
        ("temp", "warm", "give a number"),
        ("temp", 4000, "does not fit"),
        ("temp", float("nan"), "not a finite number"),
        ("loop", 70000, r"0\.\.65535"),
        ("loop", True, "give normal"),
        ("fog", 1, "no sensor 'fog'"),
    ]:
        with pytest.raises(SimModuleError, match=message):
            module.set_sensor(sensor, value)
    module.set_register(1, 77)
    assert module.register(1) == 77
    with pytest.raises(SimModuleError, match="out of range"):
        module.set_register(2, 1)
    with pytest.raises(SimModuleError, match=r"0\.\.65535"):
        module.set_register(0, -1)


def test_bad_wiring_is_refused() -> None:
    with pytest.raises(SimSensorError, match="has an input only"):
        SimSensorSpec("s", SensorType.CONTACT, register=0)
    with pytest.raises(SimSensorError, match="scale"):
        SimSensorSpec("s", SensorType.ANALOG, register=0, scale=0)
    with pytest.raises(SimModuleError, match="out of range"):
        SimIOModule("io1", register_count=1, sensors=[SENSORS[1]])
    with pytest.raises(SimModuleError, match="used by sensor"):
        SimIOModule(
            "io1", register_count=2, sensors=[SENSORS[0], replace(SENSORS[0], sensor_id="t2")]
        )


def test_spec_refuses_bad_sensors(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="needs input_register"):
        parse_spec(SPEC.replace("input_register: 1}", "input: 3}"), tmp_path / "s.yaml")
    with pytest.raises(SpecError, match="sensor id 'sr-smoke' is used twice"):
        parse_spec(
            SPEC + "  - id: io2\n    sensors:\n      - {id: sr-smoke, type: contact, input: 1}\n",
            tmp_path / "s.yaml",
        )


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[SimSite]:
    """A started site whose module carries sensors."""
    (tmp_path / "sim.yaml").write_text(SPEC)
    s = SimSite(load_spec(tmp_path / "sim.yaml"))
    await s.start()
    yield s
    await s.stop()


async def test_control_surface_and_cli_set_sensors(site: SimSite, tmp_path: Path) -> None:
    async with httpx.AsyncClient(base_url=site.url, timeout=10) as http:
        resp = await http.post("/sensor", json={"sensor": "sr-temp", "value": 31.5})
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"sensor": "sr-temp", "module": "io1", "value": 31.5, "raw": 315}
        resp = await http.post("/sensor", json={"sensor": "sr-loop", "value": "cut"})
        assert resp.status_code == 400 and "normal|alarm|open|short" in resp.json()["error"]
        resp = await http.post("/sensor", json={"sensor": "nope", "value": 1})
        assert resp.status_code == 404
        resp = await http.post("/sensor", json={"sensor": "sr-temp"})
        assert resp.status_code == 400
        listed = (await http.get("/list")).json()["sensors"]
    assert [(x["id"], x["value"]) for x in listed] == [
        ("sr-smoke", False),
        ("sr-temp", 31.5),
        ("sr-loop", "normal"),
    ]
    runner = CliRunner()

    def cli(*args: str) -> tuple[int, str]:
        """Run one sim CLI command against this site; (exit code, output)."""
        result = runner.invoke(app, [*args, "--data-dir", str(tmp_path)])
        return result.exit_code, result.output

    code, out = await asyncio.to_thread(cli, "sensor", "sr-loop", "open")
    assert code == 0 and "sr-loop: now open (raw 65535 on io1)" in out
    code, out = await asyncio.to_thread(cli, "sensor", "sr-smoke", "on")
    assert code == 0 and site.describe()["sensors"][0]["value"] is True
    code, out = await asyncio.to_thread(cli, "sensor", "sr-smoke", "sideways")
    assert code == 1 and "use on or off" in out
    code, out = await asyncio.to_thread(cli, "list")
    assert code == 0 and "sr-temp" in out and "register 0" in out
