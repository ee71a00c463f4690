"""The OSDP driver against real libosdp PDs on a pty: Secure Channel, cards, keys, tamper, LEDs.

4-8-7(3): PINs (keypad keys) only ever travel inside a Secure Channel with a per-reader key;
the public default key SCBK-D and install mode are refused outside commissioning.
4-8-7(4): a reader's tamper switch is an alarm input.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import osdp_sys
import pytest

from devices.errors import ConfigurationRefused, DeviceError, LinkError
from devices.osdp_bus import SCBK_D, OsdpBus, OsdpReaderSettings
from devices.osdp_commission import CommissioningFailed, commission
from devices.osdp_pump import SHARED_PUMP
from devices.serial_channel import SerialChannel
from gateway.domain import CardId, CredentialFormat
from gateway.events import CardRead, CardUnreadable, KeypadKeys, ReaderLink, ReaderTamper
from gateway.ports import Feedback, ReaderBus
from sekisho_sim.osdp_reader import FeedbackRecord, SimOsdpBus, SimReaderSpec
from sekisho_sim.pty_link import PtyLink
from sekisho_sim.wiegand import bits_from_string, encode

if TYPE_CHECKING:
    from tests.devices.conftest import OsdpRig, RigFactory

KEY_1 = bytes.fromhex("3f1d0c55a8e247b09c6a1e2d4f708b13")
KEY_2 = bytes.fromhex("a4c2e9017b5d38f6904e1c7a25d8b36e")
KEY_3 = bytes.fromhex("5b7e02d9c4a1f8363e9d7c40b12a6f85")
TWO_READERS = [SimReaderSpec("sr-in", 1, KEY_1), SimReaderSpec("sr-out", 2, KEY_2)]


def _flipped(card_key: str, position: int) -> tuple[bytes, int]:
    """A valid frame for ``card_key`` with bit ``position`` (1-based, on the wire) flipped."""
    data, bits = encode(card_key)
    text = format(int.from_bytes(data, "big") >> (len(data) * 8 - bits), f"0{bits}b")
    flipped = text[: position - 1] + ("0" if text[position - 1] == "1" else "1") + text[position:]
    return bits_from_string(flipped)


def test_reader_ids_in_site_file_order() -> None:
    bus: ReaderBus = OsdpBus(
        "b", "/dev/null", [OsdpReaderSettings("z", 9, KEY_1), OsdpReaderSettings("a", 1, KEY_2)]
    )
    assert bus.reader_ids == ("z", "a")


async def test_secure_channel_comes_up_with_each_readers_own_key(osdp_rig: RigFactory) -> None:
    rig = await osdp_rig(TWO_READERS)
    await rig.online("sr-in", "sr-out")
    # Every reader is first reported offline, so the core knows it is not up yet.
    first = rig.log.of(ReaderLink)[:2]
    assert {(e.reader_id, e.online) for e in first} == {("sr-in", False), ("sr-out", False)}
    assert len(rig.log.of(ReaderLink)) == 4  # then online once each: no flapping
    assert rig.sim.is_secure("sr-in")
    assert rig.sim.is_secure("sr-out")


async def test_a_reader_with_the_wrong_key_never_comes_online(osdp_rig: RigFactory) -> None:
    rig = await osdp_rig(
        TWO_READERS,
        [OsdpReaderSettings("sr-in", 1, KEY_1), OsdpReaderSettings("sr-out", 2, KEY_3)],
    )
    await rig.online("sr-in")
    await asyncio.sleep(1.0)
    assert not [e for e in rig.log.of(ReaderLink, "sr-out") if e.online]
    assert not rig.sim.is_secure("sr-out")


@pytest.mark.parametrize(
    "key",
    ["H10301:12:3456", "C1000:4095:1048575", "H10304:65535:524287", "C1000:0:0"],
)
async def test_card_reads_arrive_as_card_ids(osdp_rig: RigFactory, key: str) -> None:
    rig = await osdp_rig(TWO_READERS)
    await rig.online("sr-in")
    rig.sim.card("sr-in", key)
    event = await rig.log.wait_for(CardRead, lambda e: e.reader_id == "sr-in")
    assert event.card == CardId.parse(key)
    assert event.received_ns > 0


async def test_two_readers_on_one_bus_are_told_apart(osdp_rig: RigFactory) -> None:
    rig = await osdp_rig(TWO_READERS)
    await rig.online("sr-in", "sr-out")
    rig.sim.card("sr-out", "H10301:1:2")
    rig.sim.card("sr-in", "H10301:3:4")
    out = await rig.log.wait_for(CardRead, lambda e: e.reader_id == "sr-out")
    inn = await rig.log.wait_for(CardRead, lambda e: e.reader_id == "sr-in")
    assert out.card == CardId(CredentialFormat.H10301, 1, 2)
    assert inn.card == CardId(CredentialFormat.H10301, 3, 4)


async def test_bad_frames_are_unreadable_and_the_bus_carries_on(osdp_rig: RigFactory) -> None:
    rig = await osdp_rig(TWO_READERS)
    await rig.online("sr-in")
    rig.sim.card_raw("sr-in", *_flipped("H10301:12:3456", 26))
    bad = await rig.log.wait_for(CardUnreadable)
    assert bad.reader_id == "sr-in"
    assert bad.bit_count == 26
    assert "parity" in bad.detail
    data, bits = bits_from_string("1" * 30)  # a length no supported format has
    rig.sim.card_raw("sr-in", data, bits)
    odd = await rig.log.wait_for(CardUnreadable, lambda e: e.bit_count == 30)
    assert "unsupported" in odd.detail
    rig.sim.card("sr-in", "H10301:7:8")
    ok = await rig.log.wait_for(CardRead)
    assert ok.card == CardId(CredentialFormat.H10301, 7, 8)


async def test_keypad_keys_and_unknown_codes(osdp_rig: RigFactory) -> None:
    rig = await osdp_rig(TWO_READERS)
    await rig.online("sr-in")
    rig.sim.keys("sr-in", "2468#")
    keys = await rig.log.wait_for(KeypadKeys)
    assert (keys.reader_id, keys.keys) == ("sr-in", "2468#")
    # A reader sending codes outside 0-9, * (0x7F) and # (0x0D): those are dropped.
    reader = rig.sim._reader("sr-in")
    rig.sim._submit(
        reader, {"event": osdp_sys.EVENT_KEYPRESS, "reader_no": 0, "data": b"\x01A5\x7f\xff"}
    )
    mark = rig.log.mark()
    keys = await rig.log.wait_for(KeypadKeys, after=mark)
    assert keys.keys == "5*"
    rig.sim._submit(reader, {"event": osdp_sys.EVENT_KEYPRESS, "reader_no": 0, "data": b"AB"})
    rig.sim.keys("sr-in", "9")
    keys = await rig.log.wait_for(KeypadKeys, lambda e: e.keys == "9", after=mark + 1)
    assert [k.keys for k in rig.log.of(KeypadKeys)] == ["2468#", "5*", "9"]


async def test_tamper_switch_on_and_off(osdp_rig: RigFactory) -> None:
    rig = await osdp_rig(TWO_READERS)
    await rig.online("sr-out")
    rig.sim.tamper("sr-out", True)
    on = await rig.log.wait_for(ReaderTamper)
    assert on == ReaderTamper("sr-out", active=True)
    rig.sim.tamper("sr-out", False)
    off = await rig.log.wait_for(ReaderTamper, lambda e: not e.active)
    assert off == ReaderTamper("sr-out", active=False)


def _is_led(color: str) -> Callable[[FeedbackRecord], bool]:
    return lambda r: r.kind == "led" and r.color == color


async def test_signal_shows_on_the_reader(osdp_rig: RigFactory) -> None:
    rig = await osdp_rig(TWO_READERS)
    await rig.online("sr-in", "sr-out")
    wait = rig.sim.wait_feedback

    rig.bus.signal("sr-in", Feedback.GRANTED)
    green = await asyncio.to_thread(wait, "sr-in", _is_led("green"), 10.0)
    assert green is not None and green.temporary
    beep = await asyncio.to_thread(wait, "sr-in", lambda r: r.kind == "buzzer", 10.0)
    assert beep is not None and beep.detail["rep_count"] == 1

    rig.bus.signal("sr-out", Feedback.DENIED)
    red = await asyncio.to_thread(wait, "sr-out", _is_led("red"), 10.0)
    assert red is not None and red.temporary
    beeps = await asyncio.to_thread(wait, "sr-out", lambda r: r.kind == "buzzer", 10.0)
    assert beeps is not None and beeps.detail["rep_count"] == 3
    assert not [r for r in rig.sim.feedback("sr-in") if r.color == "red"]

    rig.bus.signal("sr-in", Feedback.PIN_REQUIRED)
    amber = await asyncio.to_thread(wait, "sr-in", _is_led("amber"), 10.0)
    assert amber is not None and amber.detail["off_count"] > 0  # flashing
    rig.bus.signal("sr-in", Feedback.IDLE)
    cancel = await asyncio.to_thread(
        wait, "sr-in", lambda r: r.kind == "led" and r.detail["control_code"] == 1, 10.0
    )
    assert isinstance(cancel, FeedbackRecord)
    assert cancel.at > amber.at


async def test_signal_never_raises(osdp_rig: RigFactory) -> None:
    rig = await osdp_rig(TWO_READERS, start_bus=False)
    rig.bus.signal("sr-in", Feedback.GRANTED)  # not started
    await rig.bus.start(rig.log)
    rig.bus.signal("no-such-reader", Feedback.DENIED)
    rig.bus.signal("sr-out", Feedback.GRANTED)  # probably not online yet: logged, dropped
    await rig.online("sr-in")


async def test_cut_reader_goes_offline_and_comes_back(osdp_rig: RigFactory) -> None:
    rig = await osdp_rig(TWO_READERS)
    await rig.online("sr-in", "sr-out")
    mark = rig.log.mark()
    rig.sim.cut("sr-out")
    down = await rig.log.wait_for(ReaderLink, lambda e: e.reader_id == "sr-out", after=mark)
    assert (down.online, down.secure) == (False, False)
    # The other reader on the same line is unaffected.
    rig.sim.card("sr-in", "H10301:5:5")
    await rig.log.wait_for(CardRead, lambda e: e.reader_id == "sr-in", after=mark)
    assert not [
        e for e in rig.log.events[mark:] if isinstance(e, ReaderLink) and e.reader_id == "sr-in"
    ]
    back_mark = rig.log.mark()
    rig.sim.restore("sr-out")
    up = await rig.log.wait_for(ReaderLink, lambda e: e.reader_id == "sr-out", after=back_mark)
    assert (up.online, up.secure) == (True, True)
    assert rig.sim.is_secure("sr-out")
    rig.sim.card("sr-out", "H10301:6:6")
    await rig.log.wait_for(CardRead, lambda e: e.reader_id == "sr-out", after=back_mark)


async def test_noise_on_the_line_does_not_stop_the_bus(osdp_rig: RigFactory) -> None:
    rig = await osdp_rig(TWO_READERS)
    await rig.online("sr-in", "sr-out")
    mark = rig.log.mark()
    for _ in range(20):
        rig.sim.noise(128)
        await asyncio.sleep(0.01)
    # Junk may knock a reader's Secure Channel over; the driver brings it back by itself. A read
    # whose reply the junk destroyed is gone (OSDP keeps no event queue across a channel reset),
    # so the person badges again, as at a real reader: the bus must deliver within a few tries.
    out = await _badge_until_read(rig, "sr-out", "H10304:100:200", mark)
    inn = await _badge_until_read(rig, "sr-in", "C1000:100:200", mark)
    assert out.card == CardId(CredentialFormat.H10304, 100, 200)
    assert inn.card == CardId(CredentialFormat.C1000, 100, 200)


async def _badge_until_read(rig: OsdpRig, reader: str, card: str, mark: int) -> CardRead:
    """Present ``card`` at ``reader`` until the driver reports it (at most three times)."""
    for attempt in range(3):
        rig.sim.card(reader, card)
        try:
            return await rig.log.wait_for(
                CardRead, lambda e: e.reader_id == reader, after=mark, within=10.0
            )
        except AssertionError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def test_no_event_after_stop(osdp_rig: RigFactory) -> None:
    rig = await osdp_rig(TWO_READERS)
    await rig.online("sr-in")
    assert SHARED_PUMP.running
    await rig.bus.stop()
    # The pump's thread ends with its last panel (this bus is the only one in the test).
    await _until(lambda: not SHARED_PUMP.running, 2.0)
    mark = rig.log.mark()
    rig.sim.card("sr-in", "H10301:1:1")
    await asyncio.sleep(0.5)
    assert rig.log.events[mark:] == []
    await rig.bus.start(rig.log)  # and it starts again; the queued card comes through
    read = await rig.log.wait_for(CardRead, after=mark)
    assert read.card == CardId(CredentialFormat.H10301, 1, 1)


async def test_port_that_appears_later_and_vanishes(link_path: Path) -> None:
    log_events: list[object] = []
    bus = OsdpBus("late", str(link_path), [OsdpReaderSettings("r1", 5, KEY_3)])
    await bus.start(log_events.append)
    sim = SimOsdpBus("late", link_path, [SimReaderSpec("r1", 5, KEY_3)])
    try:
        await asyncio.sleep(0.05)
        first = log_events[0]
        assert isinstance(first, ReaderLink) and not first.online
        assert "cannot open" in first.detail
        sim.start()
        await _until(lambda: _link(log_events, online=True), 25.0)
        mark = len(log_events)
        await asyncio.to_thread(sim.stop)  # the port vanishes (a USB adapter pulled)
        await _until(lambda: _link(log_events[mark:], online=False), 25.0)
        sim.start()  # and comes back, at the same path
        await _until(lambda: _link(log_events[mark:], online=True), 25.0)
    finally:
        await bus.stop()
        await asyncio.to_thread(sim.stop)


def _link(events: list[object], *, online: bool) -> bool:
    return any(isinstance(e, ReaderLink) and e.online is online for e in events)


async def _until(check: Callable[[], bool], within: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


# ----------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("readers", "message"),
    [
        ([OsdpReaderSettings("r", 1, SCBK_D)], "SCBK-D"),
        ([OsdpReaderSettings("r", 1, b"")], "16 bytes"),
        ([OsdpReaderSettings("r", 1, KEY_1[:15])], "16 bytes"),
        ([OsdpReaderSettings("r", 1, bytes(16))], "repeated byte"),
        ([OsdpReaderSettings("r", 127, KEY_1)], "0-126"),
        ([OsdpReaderSettings("r", 1, KEY_1), OsdpReaderSettings("r", 2, KEY_2)], "twice"),
        ([OsdpReaderSettings("a", 1, KEY_1), OsdpReaderSettings("b", 1, KEY_2)], "twice"),
        ([], "no readers"),
    ],
)
def test_unsafe_configurations_are_refused(readers: list[OsdpReaderSettings], message: str) -> None:
    with pytest.raises(ConfigurationRefused, match=message):
        OsdpBus("b", "/dev/ttyUSB0", readers)


def test_default_key_is_refused_even_when_commissioning() -> None:
    # libosdp would run a keyless reader in clear text: PINs must never be sent like that.
    with pytest.raises(ConfigurationRefused, match="SCBK-D"):
        OsdpBus("b", "/dev/ttyUSB0", [OsdpReaderSettings("r", 1, SCBK_D)], commissioning=True)
    with pytest.raises(ConfigurationRefused):
        OsdpBus("b", "/dev/ttyUSB0", [OsdpReaderSettings("r", 1, b"")], commissioning=True)


def test_bad_bus_parameters_are_refused() -> None:
    good = [OsdpReaderSettings("r", 1, KEY_1)]
    with pytest.raises(ConfigurationRefused, match="baud"):
        OsdpBus("b", "/dev/ttyUSB0", good, baud=12345)
    with pytest.raises(ConfigurationRefused, match="refresh_ms"):
        OsdpBus("b", "/dev/ttyUSB0", good, refresh_ms=80)
    with pytest.raises(ConfigurationRefused, match="port"):
        OsdpBus("b", "", good)


async def test_a_factory_fresh_reader_is_refused_without_commissioning(
    osdp_rig: RigFactory,
) -> None:
    rig = await osdp_rig([SimReaderSpec("fresh", 9, None)], [OsdpReaderSettings("fresh", 9, KEY_1)])
    await asyncio.sleep(1.5)
    assert not [e for e in rig.log.of(ReaderLink) if e.online]
    assert rig.sim.key_of("fresh") is None


# ------------------------------------------------------------------------ commissioning


async def test_commissioning_gives_a_fresh_reader_its_key(osdp_rig: RigFactory) -> None:
    rig = await osdp_rig(
        [SimReaderSpec("sr-in", 1, KEY_1), SimReaderSpec("fresh", 3, None)],
        [OsdpReaderSettings("sr-in", 1, KEY_1)],
        start_bus=False,
    )
    await commission(str(rig.link), 3, KEY_3, timeout_s=15.0)
    assert rig.sim.key_of("fresh") == KEY_3
    bus = OsdpBus(
        "bus1",
        str(rig.link),
        [OsdpReaderSettings("sr-in", 1, KEY_1), OsdpReaderSettings("fresh", 3, KEY_3)],
    )
    rig.bus = bus
    await bus.start(rig.log)
    await rig.online("fresh", "sr-in")
    rig.sim.card("fresh", "C1000:12:34")
    read = await rig.log.wait_for(CardRead)
    assert read == CardRead("fresh", CardId(CredentialFormat.C1000, 12, 34), read.received_ns)
    await bus.stop()
    # Commissioning again with the same key is harmless: the reader already has it.
    await commission(str(rig.link), 3, KEY_3, timeout_s=15.0)
    assert rig.sim.key_of("fresh") == KEY_3


async def test_commissioning_a_reader_that_has_another_key_fails(osdp_rig: RigFactory) -> None:
    rig = await osdp_rig([SimReaderSpec("keyed", 4, KEY_1)], start_bus=False)
    with pytest.raises(CommissioningFailed, match="SCBK-D"):
        await commission(str(rig.link), 4, KEY_2, timeout_s=2.0)
    assert rig.sim.key_of("keyed") == KEY_1


async def test_commissioning_refuses_bad_keys_and_missing_ports(link_path: Path) -> None:
    for key in (SCBK_D, KEY_1[:8], bytes([7]) * 16):
        with pytest.raises(ConfigurationRefused):
            await commission(str(link_path), 1, key)
    with pytest.raises(ConfigurationRefused):
        await commission(str(link_path), 200, KEY_1)
    with pytest.raises(LinkError):
        await commission(str(link_path), 1, KEY_1, timeout_s=1.0)


async def test_a_commissioning_bus_keys_fresh_readers_itself(osdp_rig: RigFactory) -> None:
    rig = await osdp_rig(
        [SimReaderSpec("fresh", 2, None)],
        [OsdpReaderSettings("fresh", 2, KEY_2)],
        commissioning=True,
    )
    await rig.online("fresh")
    assert rig.sim.key_of("fresh") == KEY_2


# ------------------------------------------------------------------------ serial channel


def test_serial_channel_never_raises_into_libosdp(tmp_path: Path) -> None:
    link = PtyLink(tmp_path / "tty")
    channel = SerialChannel(str(tmp_path / "tty"), reopen_initial_s=0.01, reopen_max_s=0.01)
    with pytest.raises(LinkError, match="cannot open"):
        channel.open()
    assert channel.read(16) == b""  # port absent: nothing, no exception
    assert channel.write(b"abc") == 0
    link.open()
    try:
        channel.open()
        other = SerialChannel(str(tmp_path / "tty"))
        assert other.id != channel.id  # libosdp must see two buses as two lines
        assert channel.write(b"\x53hello") == 6
        assert _read_all(link, 6) == b"\x53hello"
        assert link.write(b"world") == 5
        assert _poll_read(channel, 5) == b"world"
        link.close()  # the device end vanishes
        assert _poll_read(channel, 1) == b""
        assert channel.fault is not None
        assert not channel.is_open
        link.open()  # it comes back: the channel reopens by itself
        assert _poll_until_open(channel)
    finally:
        channel.close()
        link.close()


def _read_all(link: PtyLink, n: int) -> bytes:
    out = b""
    for _ in range(500):
        out += link.read()
        if len(out) >= n:
            break
        os.sched_yield()
    return out


def _poll_read(channel: SerialChannel, n: int) -> bytes:
    out = b""
    for _ in range(2000):
        out += channel.read(n - len(out))
        if len(out) >= n or channel.fault is not None:
            break
    return out


def _poll_until_open(channel: SerialChannel) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        channel.read(1)
        if channel.is_open:
            return True
        time.sleep(0.005)
    return False


async def test_starting_twice_is_an_error(osdp_rig: RigFactory) -> None:
    rig = await osdp_rig(TWO_READERS)
    with pytest.raises(DeviceError, match="already started"):
        await rig.bus.start(rig.log)
