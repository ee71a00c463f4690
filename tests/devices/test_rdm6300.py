"""The RDM6300 driver: frame parsing (with hypothesis) and the driver on a real pty."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.errors import ConfigurationRefused, DeviceError, FrameError
from devices.rdm6300 import FRAME_LEN, BadFrame, Rdm6300Reader, parse
from gateway.domain import CardId, CredentialFormat
from gateway.events import CardRead, CardUnreadable, ReaderLink
from gateway.ports import Feedback
from sekisho_sim.rdm6300_reader import SimRdm6300, em4100_frame

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from tests.devices.conftest import EventLog

# The example frame of the RDM630 data sheet: data 62 E3 08 6C ED, checksum 08.
DATASHEET = b"\x0262E3086CED08\x03"
DATASHEET_CARD = CardId(CredentialFormat.EM4100, 0x62, 0xE3086CED)
REPEAT_S = 1.0


def em(version: int, tag: int) -> CardId:
    return CardId(CredentialFormat.EM4100, version, tag)


# ------------------------------------------------------------------------------ parse


def test_the_datasheet_frame() -> None:
    buffer = bytearray(DATASHEET)
    assert parse(buffer) == [DATASHEET_CARD]
    assert buffer == bytearray()
    assert em4100_frame(0x62, 0xE3086CED) == DATASHEET


def test_lower_case_hex_is_accepted() -> None:
    assert parse(bytearray(DATASHEET.lower())) == [DATASHEET_CARD]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (b"\x0262E3086CED09\x03", "checksum 09 does not match the data \\(08\\)"),
        (b"\x0262E3086CEDZZ\x03", "non-hex"),
        (b"\x0262E3086CED\x03", "10 bytes between STX and ETX"),
        (b"\x02\x03", "0 bytes"),
    ],
)
def test_malformed_frames_are_typed_results(frame: bytes, message: str) -> None:
    [result] = parse(bytearray(frame))
    assert isinstance(result, BadFrame)
    assert isinstance(result, FrameError)
    assert result.length == len(frame)
    with pytest.raises(BadFrame, match=message):
        raise result


def test_noise_is_skipped_and_frames_resync() -> None:
    junk = b"\xff\x00hello\x03\x03"
    buffer = bytearray(junk + DATASHEET + b"\x02\x02\x02" + em4100_frame(1, 2))
    assert parse(buffer) == [DATASHEET_CARD, em(1, 2)]
    assert buffer == bytearray()


def test_a_frame_split_across_reads() -> None:
    buffer = bytearray()
    results = []
    for i in range(len(DATASHEET)):
        buffer += DATASHEET[i : i + 1]
        results += parse(buffer)
    assert results == [DATASHEET_CARD]


def test_an_stx_without_etx_is_dropped_after_a_frame_length() -> None:
    buffer = bytearray(b"\x02" + b"A" * 20)
    assert parse(buffer) == []
    assert len(buffer) < FRAME_LEN
    buffer += em4100_frame(9, 9)
    assert parse(buffer) == [em(9, 9)]


@given(st.binary(max_size=200))
def test_random_bytes_yield_only_typed_results(data: bytes) -> None:
    buffer = bytearray(data)
    for result in parse(buffer):
        assert isinstance(result, CardId | BadFrame)
    assert len(buffer) < FRAME_LEN  # the buffer stays bounded


@given(st.binary(max_size=60), st.integers(0, 255), st.integers(0, 0xFFFFFFFF))
def test_a_good_frame_after_any_noise_is_read(noise: bytes, version: int, tag: int) -> None:
    results = parse(bytearray(noise + em4100_frame(version, tag)))
    assert results[-1] == em(version, tag)


@given(st.lists(st.binary(max_size=20), max_size=10))
def test_chunking_does_not_change_the_result(chunks: list[bytes]) -> None:
    stream = b"".join(chunks) + DATASHEET
    whole = parse(bytearray(stream))
    buffer = bytearray()
    pieces = []
    for chunk in [*chunks, DATASHEET]:
        buffer += chunk
        pieces += parse(buffer)
    assert _plain(pieces) == _plain(whole)
    assert pieces[-1] == DATASHEET_CARD


def _plain(results: list[CardId | BadFrame]) -> list[object]:
    """Results in a comparable form (exceptions compare by identity)."""
    return [r if isinstance(r, CardId) else ("bad", str(r), r.length) for r in results]


# ----------------------------------------------------------------------------- driver


@pytest.fixture
async def sim_reader(tmp_path: Path) -> AsyncIterator[SimRdm6300]:
    sim = SimRdm6300("vault-in", tmp_path / "ttyRDM")
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
async def driver(sim_reader: SimRdm6300, event_log: EventLog) -> AsyncIterator[Rdm6300Reader]:
    reader = Rdm6300Reader(
        "vault-in", str(sim_reader.link_path), repeat_suppress_s=REPEAT_S, retry_initial_s=0.05
    )
    await reader.start(event_log)
    try:
        yield reader
    finally:
        await reader.stop()


async def test_a_card_is_read(
    driver: Rdm6300Reader, sim_reader: SimRdm6300, event_log: EventLog
) -> None:
    assert driver.reader_ids == ("vault-in",)
    link = await event_log.wait_for(ReaderLink)
    assert (link.online, link.secure) == (True, False)
    sim_reader.card("EM4100:3:4660")
    read = await event_log.wait_for(CardRead)
    assert (read.reader_id, read.card) == ("vault-in", em(3, 4660))
    driver.signal("vault-in", Feedback.GRANTED)  # no LED: nothing happens, nothing raised


async def test_bad_frames_are_unreadable(
    driver: Rdm6300Reader, sim_reader: SimRdm6300, event_log: EventLog
) -> None:
    sim_reader.frame(b"\x0262E3086CED09\x03")
    bad = await event_log.wait_for(CardUnreadable)
    assert "checksum" in bad.detail
    assert bad.bit_count == 14
    sim_reader.frame(b"\x02123\x03")
    short = await event_log.wait_for(CardUnreadable, lambda e: e.bit_count == 5)
    assert "3 bytes" in short.detail


async def test_noise_then_a_card(
    driver: Rdm6300Reader, sim_reader: SimRdm6300, event_log: EventLog
) -> None:
    for _ in range(10):
        sim_reader.noise(200)
    sim_reader.card("EM4100:255:4294967295")
    read = await event_log.wait_for(CardRead)
    assert read.card == em(255, 0xFFFFFFFF)


async def test_a_held_card_is_read_once(
    driver: Rdm6300Reader, sim_reader: SimRdm6300, event_log: EventLog
) -> None:
    sim_reader.card("EM4100:1:100", repeats=5)
    sim_reader.card("EM4100:1:200")  # another card in the window is not a repeat
    sim_reader.card("EM4100:1:100", repeats=3)  # still held
    sim_reader.card("EM4100:1:300")
    await event_log.wait_for(CardRead, lambda e: e.card == em(1, 300))
    assert [e.card for e in event_log.of(CardRead)] == [em(1, 100), em(1, 200), em(1, 300)]
    await asyncio.sleep(REPEAT_S * 1.5)  # taken away for longer than the window...
    mark = event_log.mark()
    sim_reader.card("EM4100:1:100")  # ...and presented again: a new read
    again = await event_log.wait_for(CardRead, after=mark)
    assert again.card == em(1, 100)


async def test_port_vanishes_and_comes_back(
    driver: Rdm6300Reader, sim_reader: SimRdm6300, event_log: EventLog
) -> None:
    await event_log.wait_for(ReaderLink, lambda e: e.online)
    mark = event_log.mark()
    sim_reader.stop()
    down = await event_log.wait_for(ReaderLink, after=mark)
    assert not down.online
    sim_reader.start()
    up = await event_log.wait_for(ReaderLink, lambda e: e.online, after=mark)
    assert up.online
    sim_reader.card("EM4100:7:7")
    await event_log.wait_for(CardRead, lambda e: e.card == em(7, 7), after=mark)


async def test_a_port_that_is_not_there_yet(tmp_path: Path, event_log: EventLog) -> None:
    sim = SimRdm6300("r", tmp_path / "late")
    reader = Rdm6300Reader("r", str(tmp_path / "late"), retry_initial_s=0.05, retry_max_s=0.1)
    await reader.start(event_log)
    try:
        first = await event_log.wait_for(ReaderLink)
        assert not first.online
        assert "cannot open" in first.detail
        sim.start()
        await event_log.wait_for(ReaderLink, lambda e: e.online)
        sim.card("EM4100:0:1")
        await event_log.wait_for(CardRead)
    finally:
        await reader.stop()
        sim.stop()


async def test_nothing_is_delivered_after_stop(
    driver: Rdm6300Reader, sim_reader: SimRdm6300, event_log: EventLog
) -> None:
    await event_log.wait_for(ReaderLink)
    await driver.stop()
    mark = event_log.mark()
    sim_reader.card("EM4100:1:1")
    await asyncio.sleep(0.3)
    assert event_log.events[mark:] == []


async def test_a_cut_reader_sends_nothing(
    driver: Rdm6300Reader, sim_reader: SimRdm6300, event_log: EventLog
) -> None:
    sim_reader.cut()
    sim_reader.card("EM4100:2:2")
    await asyncio.sleep(0.3)
    assert event_log.of(CardRead) == []
    sim_reader.restore()
    sim_reader.card("EM4100:2:3")
    read = await event_log.wait_for(CardRead)
    assert read.card == em(2, 3)


async def test_no_port_is_refused_and_one_start_only(
    driver: Rdm6300Reader, event_log: EventLog
) -> None:
    with pytest.raises(ConfigurationRefused):
        Rdm6300Reader("r", "")
    with pytest.raises(DeviceError, match="already started"):
        await driver.start(event_log)
