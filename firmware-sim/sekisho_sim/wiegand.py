"""Encode card keys into raw Wiegand frames, as a card reader puts them on the wire.

An independent implementation from the gateway's decoder (it shares no code with it): fields
and parity bits are packed into an integer whose least significant bit is the last bit on the
wire, and the parity groups are bit masks over that integer. The frame is then left-aligned,
MSB first, in ``(bits + 7) // 8`` bytes, which is how OSDP carries raw Wiegand card data.
"""

from __future__ import annotations

FORMATS: dict[str, tuple[int, int, int]] = {
    # name: (frame bits, facility bits, number bits)
    "H10301": (26, 8, 16),
    "C1000": (35, 12, 20),
    "H10304": (37, 16, 19),
}


def _parity(value: int) -> int:
    """1 if ``value`` has an odd number of set bits."""
    return bin(value).count("1") & 1


def _pack_h10301(facility: int, number: int) -> int:
    """26 bits: even parity over the first 12 data bits, odd parity over the last 12."""
    data = (facility << 16) | number  # 24 data bits
    lead = _parity(data >> 12)  # even: makes the leading 13 bits even
    trail = _parity(data & 0xFFF) ^ 1  # odd: makes the trailing 13 bits odd
    return (lead << 25) | (data << 1) | trail


def _pack_h10304(facility: int, number: int) -> int:
    """37 bits: even parity over the first 18 data bits, odd over the last 18 (they share one)."""
    data = (facility << 19) | number  # 35 data bits
    lead = _parity(data >> 17)
    trail = _parity(data & 0x3FFFF) ^ 1
    return (lead << 36) | (data << 1) | trail


def _pack_c1000(facility: int, number: int) -> int:
    """35 bits: HID Corporate 1000 with its three interleaved parity bits."""
    frame = (facility << 21) | (number << 1)  # bits 33..1 (LSB = last bit on the wire)
    # Bit 33 (second on the wire): even over data bits whose LSB index i has i % 3 != 0.
    even_mask = sum(1 << i for i in range(1, 33) if i % 3 != 0)
    frame |= _parity(frame & even_mask) << 33
    # Bit 0 (last): odd over bit 33 and the data bits whose index i has i % 3 != 1.
    odd_mask = (1 << 33) | sum(1 << i for i in range(2, 33) if i % 3 != 1)
    frame |= _parity(frame & odd_mask) ^ 1
    # Bit 34 (first): odd over everything else.
    frame |= (_parity(frame) ^ 1) << 34
    return frame


_PACKERS = {"H10301": _pack_h10301, "C1000": _pack_c1000, "H10304": _pack_h10304}


def _to_bytes(frame: int, bits: int) -> bytes:
    """Left-align a ``bits``-bit frame in whole bytes, MSB first."""
    nbytes = (bits + 7) // 8
    return (frame << (nbytes * 8 - bits)).to_bytes(nbytes, "big")


def encode(card_key: str) -> tuple[bytes, int]:
    """Encode ``FORMAT:FACILITY:NUMBER`` (e.g. ``H10301:12:3456``); ValueError on bad input."""
    parts = card_key.strip().split(":")
    if len(parts) != 3:
        raise ValueError(f"card key {card_key!r} is not FORMAT:FACILITY:NUMBER")
    name = parts[0].upper()
    if name not in FORMATS:
        raise ValueError(f"unknown Wiegand format {parts[0]!r} (known: {', '.join(FORMATS)})")
    if not (parts[1].isdecimal() and parts[2].isdecimal()):
        raise ValueError(f"card key {card_key!r}: facility and number must be decimal")
    bits, fac_bits, num_bits = FORMATS[name]
    facility, number = int(parts[1]), int(parts[2])
    if facility >= 1 << fac_bits:
        raise ValueError(f"facility {facility} does not fit {name} ({fac_bits} bits)")
    if number >= 1 << num_bits:
        raise ValueError(f"number {number} does not fit {name} ({num_bits} bits)")
    return _to_bytes(_PACKERS[name](facility, number), bits), bits


def bits_from_string(bits: str) -> tuple[bytes, int]:
    """Pack a string of '0'/'1' (any length, any content) into a raw frame; for bad frames."""
    text = bits.strip()
    if not text or set(text) - {"0", "1"}:
        raise ValueError("a bit string is one or more of the characters 0 and 1")
    return _to_bytes(int(text, 2), len(text)), len(text)
