"""The simulated OSDP readers, seen from a bare libosdp control panel on the other pty end.

No Sekisho driver is involved: what the sim puts on the wire must satisfy libosdp itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import osdp_sys
import pytest
import serial

from sekisho_sim.osdp_reader import FeedbackRecord, SimOsdpBus, SimReaderSpec
from sekisho_sim.wiegand import encode

KEY_A = bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f0")
KEY_B = bytes.fromhex("1122334455667788aabbccddeeff0099")
KEY_NEW = bytes.fromhex("c0ffee00c0ffee11c0ffee22c0ffee33")
NOTIFY = osdp_sys.FLAG_ENABLE_NOTIFICATION
SECURE = osdp_sys.FLAG_ENFORCE_SECURE | NOTIFY


class _Channel:
    """A libosdp channel on a pyserial port (the test's own; Sekisho's is not used here)."""

    def __init__(self, path: Path) -> None:
        self.id = 1
        self.port = serial.Serial(str(path), 115200, timeout=0)

    def read(self, n: int) -> bytes:
        return bytes(self.port.read(n))

    def write(self, data: bytes) -> int:
        return int(self.port.write(data))

    def flush(self) -> None:
        pass


class RawPanel:
    """A libosdp ControlPanel refreshed every millisecond, recording every event."""

    def __init__(self, path: Path, pds: list[tuple[int, bytes | None, int]]) -> None:
        self.channel = _Channel(path)
        infos = [
            {
                "name": f"pd{address}",
                "address": address,
                "flags": flags,
                "scbk": key,
                "channel": self.channel,
                "version": 0,
                "model": 0,
                "vendor_code": 0,
                "serial_number": 0,
                "firmware_version": 0,
            }
            for address, key, flags in pds
        ]
        self.ctx: Any = osdp_sys.ControlPanel(infos)
        self.ctx.set_event_callback(self._on_event)
        self.events: list[tuple[int, dict[str, Any]]] = []
        self.cond = threading.Condition()
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _on_event(self, pd: int, event: dict[str, Any]) -> int:
        with self.cond:
            self.events.append((pd, event))
            self.cond.notify_all()
        return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            with self.lock:
                self.ctx.refresh()
            time.sleep(0.001)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        if self.channel.port.is_open:
            self.channel.port.close()

    def submit(self, pd: int, command: dict[str, Any]) -> bool:
        with self.lock:
            return bool(self.ctx.submit_command(pd, command))

    def secure_mask(self) -> int:
        with self.lock:
            return int(self.ctx.sc_status())

    def wait(
        self, predicate: Callable[[int, dict[str, Any]], bool], timeout: float = 15.0
    ) -> tuple[int, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for pd, event in self.events:
                    if predicate(pd, event):
                        return pd, event
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"no matching event; got {self.events[-6:]}"
                self.cond.wait(remaining)

    def wait_secure(self, mask: int, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while self.secure_mask() & mask != mask:
            assert time.monotonic() < deadline, "Secure Channel did not come up"
            time.sleep(0.005)


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[SimOsdpBus]:
    sim = SimOsdpBus(
        "bus1",
        tmp_path / "osdp",
        [
            SimReaderSpec("a", 1, KEY_A),
            SimReaderSpec("b", 2, KEY_B, keypad=False),
            SimReaderSpec("fresh", 3, None),
        ],
    )
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def panel(bus: SimOsdpBus) -> Iterator[RawPanel]:
    cp = RawPanel(bus.link_path, [(1, KEY_A, SECURE), (2, KEY_B, SECURE)])
    try:
        cp.wait_secure(0b11)
        yield cp
    finally:
        cp.close()


def test_the_link_is_a_symlink_to_a_pty_and_goes_away(tmp_path: Path) -> None:
    sim = SimOsdpBus("x", tmp_path / "link", [SimReaderSpec("r", 1, KEY_A)])
    sim.start()
    assert sim.link_path.is_symlink()
    assert str(sim.link_path.resolve()).startswith("/dev/pts/")
    sim.start()  # idempotent
    sim.stop()
    assert not sim.link_path.exists()
    assert not sim.link_path.is_symlink()
    sim.stop()  # idempotent


def test_each_reader_has_its_own_secure_channel(bus: SimOsdpBus, panel: RawPanel) -> None:
    assert bus.is_secure("a")
    assert bus.is_secure("b")
    assert not bus.is_secure("fresh")  # nobody polls address 3


def test_card_data_reaches_the_panel(bus: SimOsdpBus, panel: RawPanel) -> None:
    bus.card("a", "H10301:31:337")
    pd, event = panel.wait(lambda _pd, e: e["event"] == osdp_sys.EVENT_CARDREAD)
    assert pd == 0
    assert event["format"] == osdp_sys.CARD_FMT_RAW_WIEGAND
    assert (event["length"], event["data"]) == (26, bytes.fromhex("8F80A8C0"))
    bus.card_raw("b", b"\xff\xc0", 10)
    pd, event = panel.wait(lambda pd, e: pd == 1 and e["event"] == osdp_sys.EVENT_CARDREAD)
    assert (event["length"], event["data"]) == (10, b"\xff\xc0")


def test_keys_are_ascii_with_star_and_hash(bus: SimOsdpBus, panel: RawPanel) -> None:
    bus.keys("a", "09*#")
    _, event = panel.wait(lambda _pd, e: e["event"] == osdp_sys.EVENT_KEYPRESS)
    assert event["data"] == b"09\x7f\x0d"


def test_tamper_is_a_local_status_report(bus: SimOsdpBus, panel: RawPanel) -> None:
    bus.tamper("b", True)
    pd, event = panel.wait(lambda _pd, e: e["event"] == osdp_sys.EVENT_STATUS)
    assert pd == 1
    assert event["type"] == osdp_sys.STATUS_REPORT_LOCAL
    assert event["report"][0] == 1


def test_led_and_buzzer_commands_are_recorded(bus: SimOsdpBus, panel: RawPanel) -> None:
    started = time.monotonic()
    led = {
        "command": osdp_sys.CMD_LED,
        "reader": 0,
        "led_number": 0,
        "temporary": True,
        "control_code": 2,
        "on_color": osdp_sys.LED_COLOR_GREEN,
        "off_color": osdp_sys.LED_COLOR_NONE,
        "on_count": 20,
        "off_count": 0,
        "timer_count": 20,
    }
    assert panel.submit(0, led)
    green = bus.wait_feedback("a", lambda r: r.kind == "led", timeout=10)
    assert green is not None
    assert (green.color, green.temporary, green.detail["timer_count"]) == ("green", True, 20)
    assert green.at >= started
    buzz = {
        "command": osdp_sys.CMD_BUZZER,
        "reader": 0,
        "control_code": 2,
        "on_count": 1,
        "off_count": 1,
        "rep_count": 3,
    }
    assert panel.submit(0, buzz)
    beep = bus.wait_feedback("a", lambda r: r.kind == "buzzer", timeout=10)
    assert beep == FeedbackRecord(beep.at, "buzzer", None, temporary=False, detail=beep.detail)
    assert beep.detail["rep_count"] == 3
    # ``after`` skips what was already there; a timeout gives None.
    assert bus.wait_feedback("a", lambda r: r.kind == "led", 0.2, after=green.at) is None
    assert [r.kind for r in bus.feedback("a")] == ["led", "buzzer"]
    assert bus.feedback("b") == []


def test_a_factory_fresh_reader_takes_a_new_key(bus: SimOsdpBus) -> None:
    assert bus.key_of("fresh") is None
    # libosdp's own install mode: Secure Channel under SCBK-D, then KEYSET with the new key.
    cp = RawPanel(bus.link_path, [(3, KEY_NEW, osdp_sys.FLAG_INSTALL_MODE | NOTIFY)])
    try:
        cp.wait(
            lambda _pd, e: (
                e["event"] == osdp_sys.EVENT_NOTIFICATION
                and e["type"] == osdp_sys.EVENT_NOTIFICATION_SC_STATUS
                and e["arg0"] == 1
                and e["arg1"] == 0
            )  # not SCBK-D any more
        )
    finally:
        cp.close()
    assert bus.key_of("fresh") == KEY_NEW
    # It keeps the key across a restart, like a reader's flash.
    bus.stop()
    bus.start()
    cp = RawPanel(bus.link_path, [(3, KEY_NEW, SECURE)])
    try:
        cp.wait_secure(0b1)
    finally:
        cp.close()


def test_a_reader_on_a_cut_line_stops_answering(bus: SimOsdpBus, panel: RawPanel) -> None:
    bus.cut("a")
    bus.card("a", "H10301:1:1")  # queued in the reader, not sent while cut
    bus.card("b", "H10301:2:2")
    pd, _ = panel.wait(lambda _pd, e: e["event"] == osdp_sys.EVENT_CARDREAD)
    assert pd == 1  # b still answers on the same line; a does not
    panel.close()
    bus.restore("a")
    # A new panel (libosdp parks a dead PD for 300 s) finds a answering again, card and all.
    cp = RawPanel(bus.link_path, [(1, KEY_A, SECURE)])
    try:
        _, event = cp.wait(lambda _pd, e: e["event"] == osdp_sys.EVENT_CARDREAD)
        assert (event["data"], event["length"]) == encode("H10301:1:1")
    finally:
        cp.close()


def test_noise_reaches_the_panel_without_breaking_the_sim(bus: SimOsdpBus, panel: RawPanel) -> None:
    before = len(panel.events)
    bus.noise(300)
    bus.noise(0)
    # The junk upsets the panel (a bare libosdp panel may even drop a reader for 300 s) ...
    time.sleep(0.5)
    panel.close()
    assert len(panel.events) >= before
    # ... but the readers themselves are fine: a new panel gets their cards.
    cp = RawPanel(bus.link_path, [(1, KEY_A, SECURE), (2, KEY_B, SECURE)])
    try:
        cp.wait_secure(0b11)
        bus.card("a", "H10304:5:6")
        _, event = cp.wait(lambda _pd, e: e["event"] == osdp_sys.EVENT_CARDREAD)
        assert (event["data"], event["length"]) == encode("H10304:5:6")
    finally:
        cp.close()


def test_bad_input_is_refused_with_value_or_key_errors(bus: SimOsdpBus, tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="no reader 'zz'"):
        bus.card("zz", "H10301:1:1")
    with pytest.raises(ValueError, match="no keypad"):
        bus.keys("b", "1")
    with pytest.raises(ValueError, match="0-9"):
        bus.keys("a", "12a")
    with pytest.raises(ValueError, match="0-9"):
        bus.keys("a", "")
    with pytest.raises(ValueError, match="need 4 bytes"):
        bus.card_raw("a", b"\x00", 26)
    with pytest.raises(ValueError, match="bit count"):
        bus.card_raw("a", b"", 0)
    with pytest.raises(ValueError, match="does not fit"):
        bus.card("a", "H10301:999:1")
    with pytest.raises(ValueError, match="negative"):
        bus.noise(-1)
    link = tmp_path / "l"
    for readers, message in [
        ([], "no readers"),
        ([SimReaderSpec("r", 1, KEY_A), SimReaderSpec("r", 2, KEY_B)], "twice"),
        ([SimReaderSpec("r", 1, KEY_A), SimReaderSpec("s", 1, KEY_B)], "used twice"),
        ([SimReaderSpec("r", 127, KEY_A)], "0-126"),
        ([SimReaderSpec("r", 1, b"short")], "16 bytes"),
    ]:
        with pytest.raises(ValueError, match=message):
            SimOsdpBus("x", link, readers)
    stopped = SimOsdpBus("x", link, [SimReaderSpec("r", 1, KEY_A)])
    with pytest.raises(ValueError, match="not running"):
        stopped.card("r", "H10301:1:1")


def test_card_calls_from_many_threads(bus: SimOsdpBus, panel: RawPanel) -> None:
    def present(n: int) -> None:
        for i in range(5):
            bus.card("a", f"H10301:{n}:{i}")

    threads = [threading.Thread(target=present, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    deadline = time.monotonic() + 20
    while sum(e["event"] == osdp_sys.EVENT_CARDREAD for _, e in panel.events) < 20:
        assert time.monotonic() < deadline, "not every card arrived"
        time.sleep(0.01)
