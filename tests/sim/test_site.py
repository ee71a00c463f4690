"""A simulated site from a spec file: devices up, control surface answering, wire observed."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from devices.modbus_io import ModbusIOModule
from devices.osdp_bus import OsdpBus, OsdpReaderSettings
from devices.osdp_commission import commission
from devices.rdm6300 import Rdm6300Reader
from gateway.events import CardRead, DeviceEvent, KeypadKeys, ReaderLink, ReaderTamper
from gateway.ports import Feedback
from sekisho_sim.site import SimSite, SiteError
from sekisho_sim.spec import SpecError, load_spec, parse_spec

SR_IN_KEY = bytes(range(16))
NEW_KEY = bytes(range(16, 32))
SPEC = """
control: {host: 127.0.0.1, port: 0}
osdp_buses:
  - id: bus1
    link: dev/osdp-bus1
    readers:
      - {id: sr-in, address: 1, scbk_file: keys/sr-in.scbk, keypad: true}
      - {id: sr-out, address: 2, scbk_file: keys/sr-out.scbk}
rdm6300_readers:
  - {id: vault-in, link: dev/rdm-vault-in}
modules:
  - id: io1
    port: 0
    device_id: 1
    doors:
      - {id: sr-door, strike_coil: 0, contact_input: 0, rex_input: 1, pass_time_s: 1.0}
    named_inputs: {sr-in-tamper: 2, smoke: 6}
reader_tamper_inputs: {vault-in: "io1:5"}
door_readers: {sr-door: [sr-in, sr-out]}
cards:
  - {label: "Sato Hanako (staff)", card: "H10301:12:1001", pin: "2468"}
  - {label: "Vault tag", card: "EM4100:3:4660"}
"""


def write_spec(folder: Path, text: str = SPEC) -> Path:
    """A spec file in ``folder`` with sr-in's key file already provisioned."""
    (folder / "keys").mkdir(parents=True, exist_ok=True)
    (folder / "keys" / "sr-in.scbk").write_text(SR_IN_KEY.hex() + "\n")
    path = folder / "sim.yaml"
    path.write_text(text)
    return path


class Events:
    """Device events from a driver, with a wait-for-condition helper."""

    def __init__(self) -> None:
        """No events yet."""
        self.items: list[DeviceEvent] = []

    def __call__(self, event: DeviceEvent, /) -> None:
        """Keep one event."""
        self.items.append(event)

    @staticmethod
    async def until(check: Callable[[], bool], within: float = 10.0) -> None:
        """Wait for a condition; fail after a generous timeout."""
        deadline = time.monotonic() + within
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError("condition not met in time")
            await asyncio.sleep(0.01)


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[SimSite]:
    """A started site from the test spec."""
    s = SimSite(load_spec(write_spec(tmp_path)))
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
async def http(site: SimSite) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the control surface."""
    async with httpx.AsyncClient(base_url=site.url, timeout=10) as client:
        yield client


@pytest.fixture
async def io1(site: SimSite) -> AsyncIterator[ModbusIOModule]:
    """The Modbus driver polling the site's module."""
    driver = ModbusIOModule(
        "io1", "127.0.0.1", site.module_port("io1"), poll_ms=10, backoff_initial_s=0.05
    )
    await driver.start(Events())
    await Events.until(lambda: driver.online)
    yield driver
    await driver.stop()


async def test_start_writes_the_control_file_and_the_surface_answers(
    site: SimSite, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    control = json.loads((tmp_path / "sim-control.json").read_text())
    assert control["url"] == site.url
    assert control["url"].startswith("http://127.0.0.1:")
    assert control["modules"] == {"io1": site.module_port("io1")}
    assert control["links"] == {
        "bus1": str(tmp_path / "dev/osdp-bus1"),
        "vault-in": str(tmp_path / "dev/rdm-vault-in"),
    }
    assert await asyncio.to_thread(Path(control["links"]["bus1"]).exists)
    assert await asyncio.to_thread(Path(control["links"]["vault-in"]).exists)
    listed = (await http.get("/list")).json()
    assert [r["id"] for r in listed["readers"]] == ["sr-in", "sr-out", "vault-in"]
    assert listed["readers"][0]["doors"] == ["sr-door"]
    assert listed["readers"][2]["tamper_input"] == "io1:5"
    assert listed["doors"][0]["id"] == "sr-door"
    assert listed["doors"][0]["strike_released"] is False
    assert listed["modules"][0]["port"] == site.module_port("io1")
    assert listed["cards"][0]["label"] == "Sato Hanako (staff)"


async def test_stop_removes_the_control_file_and_closes_the_ports(tmp_path: Path) -> None:
    s = SimSite(load_spec(write_spec(tmp_path)))
    await s.start()
    url, port = s.url, s.module_port("io1")
    await s.stop()
    assert not (tmp_path / "sim-control.json").exists()
    async with httpx.AsyncClient(timeout=5) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(url + "/list")
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_door_actions_over_http_are_seen_by_the_driver(
    site: SimSite, http: httpx.AsyncClient, io1: ModbusIOModule
) -> None:
    refused = await http.post("/door", json={"door": "sr-door", "action": "open"})
    assert refused.status_code == 409
    assert refused.json() == {"error": "sr-door: locked, not opened"}
    await io1.write_output(0, True)  # the gateway releases the strike
    assert (await http.get("/doors/sr-door")).json()["strike_released"] is True
    opened = await http.post("/door", json={"door": "sr-door", "action": "open"})
    assert opened.status_code == 200
    assert opened.json()["view"]["open"] is True
    await Events.until(lambda: io1.inputs().get(0) is True)
    await Events.until(lambda: io1.inputs().get(0) is False)  # it closed by itself
    await io1.write_output(0, False)
    forced = await http.post("/door", json={"door": "sr-door", "action": "force"})
    assert forced.json()["view"]["forced_count"] == 1
    await Events.until(lambda: io1.inputs().get(0) is True)


async def test_module_fault_cut_and_restore(
    site: SimSite, http: httpx.AsyncClient, io1: ModbusIOModule
) -> None:
    assert (await http.post("/fault", json={"device": "io1", "action": "cut"})).status_code == 200
    await Events.until(lambda: not io1.online)
    listed = (await http.get("/list")).json()
    assert listed["modules"][0]["running"] is False
    await http.post("/fault", json={"device": "io1", "action": "restore"})
    await Events.until(lambda: io1.online)


async def test_tamper_and_named_inputs_drive_module_inputs(
    site: SimSite, http: httpx.AsyncClient, io1: ModbusIOModule
) -> None:
    reply = await http.post("/tamper", json={"reader": "vault-in"})
    assert reply.json()["via"] == "io1 input 5"
    await Events.until(lambda: io1.inputs().get(5) is True)
    await http.post("/tamper", json={"reader": "vault-in", "active": False})
    await Events.until(lambda: io1.inputs().get(5) is False)
    await http.post("/input", json={"module": "io1", "input": "smoke"})
    await Events.until(lambda: io1.inputs().get(6) is True)
    listed = (await http.get("/list")).json()
    assert listed["readers"][2]["tamper"] is False


async def test_rdm6300_badge_reaches_the_driver_as_a_card_read(
    site: SimSite, http: httpx.AsyncClient
) -> None:
    events = Events()
    reader = Rdm6300Reader("vault-in", str(site.link("vault-in")))
    await reader.start(events)
    try:
        reply = await http.post("/badge", json={"reader": "vault-in", "card": "vault tag"})
        assert reply.status_code == 200
        assert reply.json() == {"reader": "vault-in", "card": "EM4100:3:4660"}
        await Events.until(lambda: any(isinstance(e, CardRead) for e in events.items))
        read = next(e for e in events.items if isinstance(e, CardRead))
        assert read.card.key == "EM4100:3:4660"
    finally:
        await reader.stop()


async def test_osdp_badge_with_pin_and_tamper_reach_the_driver(
    site: SimSite, http: httpx.AsyncClient
) -> None:
    events = Events()
    bus = OsdpBus("bus1", str(site.link("bus1")), [OsdpReaderSettings("sr-in", 1, SR_IN_KEY)])
    await bus.start(events)
    try:
        await Events.until(
            lambda: any(isinstance(e, ReaderLink) and e.online and e.secure for e in events.items),
            within=30,
        )
        badge = asyncio.create_task(
            http.post(
                "/badge", json={"reader": "sr-in", "card": "Sato Hanako (staff)", "pin": "2468"}
            )
        )
        await Events.until(lambda: any(isinstance(e, CardRead) for e in events.items))
        read = next(e for e in events.items if isinstance(e, CardRead))
        assert (read.reader_id, read.card.key) == ("sr-in", "H10301:12:1001")
        bus.signal("sr-in", Feedback.PIN_REQUIRED)  # what the core does on a card+PIN door
        reply = (await badge).json()
        assert reply == {
            "reader": "sr-in",
            "card": "H10301:12:1001",
            "pin_prompt": True,
            "pin_digits": 4,
        }

        def typed() -> str:
            """Every key the driver reported, in order."""
            return "".join(e.keys for e in events.items if isinstance(e, KeypadKeys))

        await Events.until(lambda: typed() == "2468#")
        feedback = (await http.get("/readers/sr-in/feedback")).json()["feedback"]
        assert feedback[-1]["color"] == "amber"
        assert (await http.get("/list")).json()["readers"][0]["secure"] is True
        await http.post("/tamper", json={"reader": "sr-in"})
        await Events.until(lambda: ReaderTamper("sr-in", active=True) in events.items)
    finally:
        await bus.stop()


async def test_a_key_installed_by_the_gateway_is_kept_in_the_key_file(
    site: SimSite, tmp_path: Path
) -> None:
    key_file = tmp_path / "keys" / "sr-out.scbk"
    assert not await asyncio.to_thread(key_file.exists)  # sr-out is factory-fresh
    await commission(str(site.link("bus1")), 2, NEW_KEY, timeout_s=30)
    await Events.until(key_file.exists)
    assert bytes.fromhex(await asyncio.to_thread(key_file.read_text)) == NEW_KEY
    # a restarted sim answers with the new key, as a reader keeps it in flash
    await site.stop()
    await site.start()
    events = Events()
    bus = OsdpBus("bus1", str(site.link("bus1")), [OsdpReaderSettings("sr-out", 2, NEW_KEY)])
    await bus.start(events)
    try:
        await Events.until(
            lambda: (
                ReaderLink("sr-out", online=True, secure=True) in events.items
                or any(isinstance(e, ReaderLink) and e.online and e.secure for e in events.items)
            ),
            within=30,
        )
    finally:
        await bus.stop()


async def test_reader_faults_and_tamper_are_routed(site: SimSite, http: httpx.AsyncClient) -> None:
    assert (await http.post("/fault", json={"device": "sr-in", "action": "cut"})).status_code == 200
    assert (await http.post("/fault", json={"device": "bus1", "action": "cut"})).status_code == 200
    assert (await http.post("/tamper", json={"reader": "sr-out"})).json()["via"] == (
        "OSDP tamper status"
    )
    listed = (await http.get("/list")).json()
    assert [(r["id"], r["cut"], r["tamper"]) for r in listed["readers"]] == [
        ("sr-in", True, False),
        ("sr-out", True, True),
        ("vault-in", False, False),
    ]
    assert listed["buses"][0]["cut"] is True
    for device in ("bus1", "sr-in"):
        await http.post("/fault", json={"device": device, "action": "restore"})
    assert not any(r["cut"] for r in (await http.get("/list")).json()["readers"])
    assert (await http.post("/noise", json={"reader": "sr-in"})).json()["line"] == "bus1"


async def test_control_surface_errors_are_json_and_clear(
    site: SimSite, http: httpx.AsyncClient
) -> None:
    cases = [
        ("GET", "/nope", None, 404, "no route GET /nope"),
        ("GET", "/badge", None, 405, "takes POST"),
        ("POST", "/badge", {"reader": "zz", "card": "H10301:1:1"}, 404, "no reader 'zz'"),
        ("POST", "/badge", {"reader": "sr-in"}, 400, "card: Field required"),
        ("POST", "/badge", {"reader": "sr-in", "card": "x", "y": 1}, 400, "y: Extra inputs"),
        ("POST", "/badge", {"reader": "sr-in", "card": "who?"}, 400, "neither a card key"),
        (
            "POST",
            "/badge",
            {"reader": "vault-in", "card": "Vault tag", "pin": "1234"},
            400,
            "keypad",
        ),
        ("POST", "/door", {"door": "zz", "action": "open"}, 404, "no door 'zz'"),
        ("POST", "/door", {"door": "sr-door", "action": "kick"}, 400, "unknown door action"),
        ("POST", "/fault", {"device": "zz", "action": "cut"}, 404, "no reader, bus or module"),
        ("POST", "/fault", {"device": "io1", "action": "melt"}, 400, "cut|restore"),
        ("POST", "/input", {"module": "io1", "input": "0"}, 400, "wired to door sr-door"),
        ("GET", "/doors/zz", None, 404, "no door 'zz'"),
        ("GET", "/readers/vault-in/feedback", None, 400, "no LED or buzzer"),
        ("POST", "/keys", {"reader": "sr-in", "keys": "12ab"}, 400, "keys are"),
    ]
    for method, path, body, status, message in cases:
        reply = await http.request(method, path, json=body)
        assert reply.status_code == status, (path, body, reply.text)
        assert message in reply.json()["error"], (path, body, reply.text)
    bad_json = await http.post("/door", content=b"{not json", headers={"Content-Type": "x"})
    assert bad_json.status_code == 400
    assert bad_json.json() == {"error": "body is not valid JSON"}
    array = await http.post("/door", json=[1, 2])
    assert array.json() == {"error": "body must be a JSON object"}


async def test_garbage_on_the_control_port_does_not_kill_it(
    site: SimSite, http: httpx.AsyncClient
) -> None:
    host, port = site.url.removeprefix("http://").split(":")
    for junk in (b"\x00\xff" * 100 + b"\r\n\r\n", b"GET\r\n\r\n", b"x" * 20000, b""):
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(junk)
        writer.write_eof()
        reply = await asyncio.wait_for(reader.read(), timeout=10)
        writer.close()
        assert reply.startswith(b"HTTP/1.1 4"), reply[:60]
    assert (await http.get("/list")).status_code == 200


def test_spec_errors_name_the_path(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    cases = [
        ("modules: [{id: io1, prot: 5}]", "modules.0.prot: Extra inputs"),
        ("reader_tamper_inputs: {ghost: 'io1:5'}", "no reader 'ghost'"),
        (
            "rdm6300_readers: [{id: r1, link: a}]\nmodules: [{id: io1}]\n"
            "reader_tamper_inputs: {r1: 'io1:99'}",
            "no input '99'",
        ),
        ("rdm6300_readers: [{id: r1, link: a}, {id: r2, link: a}]", "link 'a' is used twice"),
        ("door_readers: {nodoor: [x]}", "no door 'nodoor'"),
        ("control: {host: 10.0.0.1}", "loopback only"),
        (
            "osdp_buses: [{id: b, link: l, readers: [{id: a, address: 1}, {id: c, address: 1}]}]",
            "address 1 is used twice",
        ),
        ("cards: [{label: x, card: 'nope'}]", "not a card key"),
        ("- just a list", "top level must be a mapping"),
        ("modules: [", "not valid YAML/JSON"),
    ]
    for text, message in cases:
        with pytest.raises(SpecError, match=message.replace("(", r"\(")) as info:
            parse_spec(text, f)
        assert str(f) in str(info.value)
    with pytest.raises(SpecError, match="cannot read"):
        load_spec(tmp_path / "missing.yaml")


def test_state_dir_defaults_to_the_spec_folder_and_resolves_relative(tmp_path: Path) -> None:
    assert parse_spec("{}", tmp_path / "s.yaml").state_dir == tmp_path.resolve()
    relative = parse_spec("state_dir: run", tmp_path / "s.json")
    assert relative.state_dir == (tmp_path / "run").resolve()
    as_json = parse_spec('{"modules": [{"id": "io1"}]}', tmp_path / "s.json")
    assert as_json.modules[0].id == "io1"


async def test_a_bad_key_file_fails_start_and_leaves_nothing_running(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path))
    (tmp_path / "keys" / "sr-in.scbk").write_text("not hex")
    s = SimSite(spec)
    with pytest.raises(SiteError, match="not 32 hex digits"):
        await s.start()
    assert not (tmp_path / "sim-control.json").exists()
