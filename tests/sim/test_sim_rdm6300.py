"""The simulated RDM6300, read back with pyserial on the other pty end."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from sekisho_sim.rdm6300_reader import SimRdm6300, em4100_frame, parse_card_key

# The example frame of the RDM630 data sheet: data 62 E3 08 6C ED, checksum 08.
DATASHEET = b"\x0262E3086CED08\x03"


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimRdm6300]:
    reader = SimRdm6300("vault-in", tmp_path / "rdm")
    reader.start()
    try:
        yield reader
    finally:
        reader.stop()


@pytest.fixture
def port(sim: SimRdm6300) -> Iterator[serial.Serial]:
    ser = serial.Serial(str(sim.link_path), 9600, timeout=0)
    try:
        yield ser
    finally:
        ser.close()


def read_exactly(ser: serial.Serial, n: int, within: float = 5.0) -> bytes:
    out = b""
    deadline = time.monotonic() + within
    while len(out) < n and time.monotonic() < deadline:
        out += ser.read(n - len(out))
        if len(out) < n:
            time.sleep(0.002)
    return out


def test_frames_follow_the_datasheet() -> None:
    assert em4100_frame(0x62, 0xE3086CED) == DATASHEET
    assert em4100_frame(3, 4660) == b"\x02" + b"0300001234" + b"25" + b"\x03"
    assert parse_card_key("em4100:3:4660") == (3, 4660)
    for bad in ("EM4100:256:1", "EM4100:1:4294967296"):
        with pytest.raises(ValueError, match=r"fit|byte"):
            em4100_frame(*parse_card_key(bad))
    for bad in ("H10301:1:1", "EM4100:x:1", "EM4100:1"):
        with pytest.raises(ValueError, match="EM4100"):
            parse_card_key(bad)


def test_a_card_is_one_frame_and_repeats_are_back_to_back(
    sim: SimRdm6300, port: serial.Serial
) -> None:
    sim.card("EM4100:98:3808980205")
    assert read_exactly(port, 14) == DATASHEET
    sim.card("EM4100:3:4660", repeats=3)
    assert read_exactly(port, 42) == em4100_frame(3, 4660) * 3
    with pytest.raises(ValueError, match="repeats"):
        sim.card("EM4100:3:4660", repeats=0)


def test_raw_frames_and_noise(sim: SimRdm6300, port: serial.Serial) -> None:
    sim.frame(b"\x02bad\x03")
    assert read_exactly(port, 5) == b"\x02bad\x03"
    sim.noise(100)
    assert len(read_exactly(port, 100)) == 100
    with pytest.raises(ValueError, match="negative"):
        sim.noise(-1)


def test_cut_stops_writing_until_restored(sim: SimRdm6300, port: serial.Serial) -> None:
    sim.cut()
    sim.card("EM4100:1:1")
    sim.noise(10)
    time.sleep(0.1)
    assert port.read(100) == b""
    sim.restore()
    sim.card("EM4100:1:2")
    assert read_exactly(port, 14) == em4100_frame(1, 2)


def test_stop_removes_the_link_and_refuses_cards(tmp_path: Path) -> None:
    sim = SimRdm6300("r", tmp_path / "rdm")
    with pytest.raises(ValueError, match="not running"):
        sim.card("EM4100:1:1")
    sim.start()
    assert os.path.realpath(sim.link_path).startswith("/dev/pts/")
    sim.stop()
    assert not sim.link_path.is_symlink()
    with pytest.raises(ValueError, match="not running"):
        sim.frame(b"x")
    sim.start()  # a restart gets a new pty at the same path
    try:
        assert sim.link_path.is_symlink()
    finally:
        sim.stop()
