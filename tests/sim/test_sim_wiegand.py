"""The sim's Wiegand encoder on its own: published values, layouts, and refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sekisho_sim.wiegand import FORMATS, bits_from_string, encode


def _as_bits(data: bytes, bits: int) -> str:
    """The frame as the bit string on the wire."""
    return format(int.from_bytes(data, "big") >> (len(data) * 8 - bits), f"0{bits}b")


@pytest.mark.parametrize(
    ("key", "wire"),
    [
        # Published: Proxmark3 `wiegand encode -w H10301 --fc 31 --cn 337 --new` -> 8F80A8C0
        ("H10301:31:337", "10001111100000001010100011"),
        # Published: npm wiegand-encoder README, (cardNumber 324, facilityCode 90)
        ("H10301:90:324", "00101101000000001010001000"),
        # Published: wiegand-26bit-calculator-php README, fromFacilityCode(99, 999)
        ("h10301:99:999", "00110001100000011111001111"),
        # Worked by hand from the layouts (see tests/devices/test_wiegand.py)
        ("C1000:1:1", "11000000000001000000000000000000011"),
        ("H10304:1:1", "1000000000000000100000000000000000010"),
    ],
)
def test_known_frames(key: str, wire: str) -> None:
    data, bits = encode(key)
    assert bits == len(wire)
    assert len(data) == (bits + 7) // 8
    assert _as_bits(data, bits) == wire
    assert int.from_bytes(data, "big") & ((1 << (len(data) * 8 - bits)) - 1) == 0  # zero pad


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("H10301:256:1", "does not fit H10301"),
        ("H10301:1:65536", "does not fit H10301"),
        ("C1000:4096:1", "does not fit C1000"),
        ("H10304:1:524288", "does not fit H10304"),
        ("EM4100:1:1", "unknown Wiegand format"),
        ("H10301:-1:5", "decimal"),
        ("H10301:0x1:5", "decimal"),
        ("H10301:1", "FORMAT:FACILITY:NUMBER"),
        ("", "FORMAT:FACILITY:NUMBER"),
    ],
)
def test_bad_card_keys(key: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encode(key)


def test_bit_strings_pack_msb_first_left_aligned() -> None:
    assert bits_from_string("1") == (b"\x80", 1)
    assert bits_from_string("0000000011") == (b"\x00\xc0", 10)
    assert bits_from_string(" 10101010 ") == (b"\xaa", 8)
    for bad in ("", "102", "1 0", "abc"):
        with pytest.raises(ValueError, match="0 and 1"):
            bits_from_string(bad)


@given(st.sampled_from(sorted(FORMATS)), st.data())
def test_fields_sit_where_the_layout_says(name: str, data: st.DataObject) -> None:
    bits, fac_bits, num_bits = FORMATS[name]
    facility = data.draw(st.integers(0, (1 << fac_bits) - 1))
    number = data.draw(st.integers(0, (1 << num_bits) - 1))
    wire = _as_bits(*encode(f"{name}:{facility}:{number}"))
    first = 2 if name == "C1000" else 1  # C1000 opens with two parity bits
    assert int(wire[first : first + fac_bits], 2) == facility
    assert int(wire[first + fac_bits : first + fac_bits + num_bits], 2) == number
    assert len(wire) == bits


@given(st.text(alphabet="01", min_size=1, max_size=300))
def test_bit_strings_round_trip(text: str) -> None:
    data, bits = bits_from_string(text)
    assert bits == len(text)
    assert _as_bits(data, bits) == text
