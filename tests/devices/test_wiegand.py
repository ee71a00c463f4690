"""The Wiegand decoder: published card values, every parity check, and round trips.

Two independent implementations meet here: ``devices.wiegand.decode`` (bit positions) and the
sim's ``encode`` (integer masks). Published H10301 vectors pin both to the outside world; the
Corporate 1000 parity layout is Proxmark3's ``Pack_C1k35s``.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.errors import FrameError, WiegandError
from devices.wiegand import LAYOUTS, decode
from gateway.domain import FORMAT_LIMITS, CardId, CredentialFormat
from sekisho_sim.wiegand import bits_from_string, encode


def _bits(text: str) -> tuple[bytes, int]:
    """A frame from a bit string as printed in card documentation (spaces allowed)."""
    return bits_from_string(text.replace(" ", ""))


def _flip(data: bytes, bits: int, position: int) -> bytes:
    """``data`` with bit ``position`` (1-based from the first bit on the wire) inverted."""
    value = int.from_bytes(data, "big") ^ (1 << (len(data) * 8 - position))
    return value.to_bytes(len(data), "big")


# Published H10301 values: Proxmark3 ``wiegand encode -w H10301 --fc 31 --cn 337 --new``
# prints 068F80A8C0 (6 pad bits, then 8F80A8C0: exactly OSDP's left-aligned layout); the
# Proxmark3 cheat sheet decodes raw 2006f623ae (HID preamble + sentinel) as FC 123 CN 4567;
# the npm wiegand-encoder README encodes (90, 324), the wiegand-26bit-calculator-php README
# (99, 999).
PUBLISHED = [
    (bytes.fromhex("8F80A8C0"), 26, CardId(CredentialFormat.H10301, 31, 337)),
    (
        ((0x2006F623AE & 0x3FFFFFF) << 6).to_bytes(4, "big"),
        26,
        CardId(CredentialFormat.H10301, 123, 4567),
    ),
    (*_bits("00101101000000001010001000"), CardId(CredentialFormat.H10301, 90, 324)),
    (*_bits("00110001100000011111001111"), CardId(CredentialFormat.H10301, 99, 999)),
]


@pytest.mark.parametrize(("data", "bits", "card"), PUBLISHED)
def test_published_card_values_decode(data: bytes, bits: int, card: CardId) -> None:
    assert decode(data, bits) == card


@pytest.mark.parametrize(("data", "bits", "card"), PUBLISHED)
def test_the_sim_encodes_published_values(data: bytes, bits: int, card: CardId) -> None:
    assert encode(card.key) == (data, bits)


# Worked by hand from the layouts (bit strings as on the wire, parity bits separated):
# C1000 company 1, number 1: data bits 3..34 = 000000000001 00000000000000000001.
#   P2 even over {3,4,6,7,...,33,34}: ones at 14 (14 % 3 == 2: not covered) and 34 -> 1 -> 1.
#   P35 odd over {2,3,5,6,...,32,33}: P2=1, 14 is covered, 34 is not -> 2 ones -> P35 = 1.
#   P1 odd over everything: P2 + 14 + 34 + P35 = 4 ones -> P1 = 1.
# H10304 facility 1, number 1: data = 0000000000000001 0000000000000000001.
#   P1 even over 2-19: one 1 (bit 17) -> 1; P37 odd over 19-36: one 1 (bit 36) -> 0.
HAND_WORKED = [
    ("1 1 000000000001 00000000000000000001 1", CardId(CredentialFormat.C1000, 1, 1)),
    ("1 0000000000000001 0000000000000000001 0", CardId(CredentialFormat.H10304, 1, 1)),
    ("0 00000000 0000000000000000 1", CardId(CredentialFormat.H10301, 0, 0)),
]


@pytest.mark.parametrize(("bits", "card"), HAND_WORKED)
def test_hand_worked_frames(bits: str, card: CardId) -> None:
    data, count = _bits(bits)
    assert decode(data, count) == card
    assert encode(card.key) == (data, count)


@pytest.mark.parametrize(
    ("key", "position", "check"),
    [
        ("H10301:12:3456", 1, "even parity (bits 1-13)"),
        ("H10301:12:3456", 5, "even parity (bits 1-13)"),
        ("H10301:12:3456", 20, "odd parity (bits 14-26)"),
        ("H10301:12:3456", 26, "odd parity (bits 14-26)"),
        ("C1000:1234:56789", 2, "even parity (bit 2)"),
        ("C1000:1234:56789", 4, "even parity (bit 2)"),
        ("C1000:1234:56789", 5, "odd parity (bit 35)"),
        ("C1000:1234:56789", 35, "odd parity (bit 35)"),
        ("C1000:1234:56789", 1, "odd parity (bit 1, whole frame)"),
        ("H10304:40000:300000", 1, "even parity (bits 1-19)"),
        ("H10304:40000:300000", 19, "even parity (bits 1-19)"),
        ("H10304:40000:300000", 30, "odd parity (bits 19-37)"),
        ("H10304:40000:300000", 37, "odd parity (bits 19-37)"),
    ],
)
def test_each_parity_check_names_itself(key: str, position: int, check: str) -> None:
    data, bits = encode(key)
    with pytest.raises(WiegandError, match=check.replace("(", r"\(").replace(")", r"\)")):
        decode(_flip(data, bits, position), bits)


def test_wrong_lengths_and_byte_counts() -> None:
    with pytest.raises(WiegandError, match="unsupported Wiegand length"):
        decode(b"\x00" * 4, 32)
    with pytest.raises(WiegandError, match="unsupported"):
        decode(b"", 0)
    with pytest.raises(WiegandError, match="expected 4 bytes, got 5"):
        decode(b"\x00" * 5, 26)
    with pytest.raises(WiegandError, match="expected 5 bytes, got 4"):
        decode(b"\x00" * 4, 37)
    assert issubclass(WiegandError, FrameError)


def test_pad_bits_are_ignored() -> None:
    data, bits = encode("H10301:200:60000")
    padded = data[:-1] + bytes([data[-1] | 0x3F])  # the 6 pad bits of the last byte set
    assert decode(padded, bits) == CardId(CredentialFormat.H10301, 200, 60000)


def test_every_layout_matches_the_domain_limits() -> None:
    for bits, layout in LAYOUTS.items():
        fac_bits, num_bits = FORMAT_LIMITS[layout.format]
        assert layout.facility[1] == fac_bits
        assert layout.number[1] == num_bits
        assert layout.bits == bits


@st.composite
def cards(draw: st.DrawFn) -> CardId:
    fmt = draw(st.sampled_from([f for f in CredentialFormat if f is not CredentialFormat.EM4100]))
    fac_bits, num_bits = FORMAT_LIMITS[fmt]
    facility = draw(st.integers(0, (1 << fac_bits) - 1))
    number = draw(st.integers(0, (1 << num_bits) - 1))
    return CardId(fmt, facility, number)


@given(cards())
def test_round_trip_through_the_sims_encoder(card: CardId) -> None:
    data, bits = encode(card.key)
    assert decode(data, bits) == card


@given(cards(), st.data())
def test_any_single_bit_error_is_caught(card: CardId, data: st.DataObject) -> None:
    frame, bits = encode(card.key)
    position = data.draw(st.integers(1, bits))
    with pytest.raises(WiegandError):
        decode(_flip(frame, bits, position), bits)


@given(st.binary(max_size=8), st.integers(-5, 80))
def test_random_input_only_ever_raises_wiegand_error(data: bytes, bits: int) -> None:
    try:
        card = decode(data, bits)
    except WiegandError:
        return
    assert bits in LAYOUTS
    assert card.format is LAYOUTS[bits].format
