"""Decode raw Wiegand card bits (as OSDP delivers them) into a CardId.

Bits arrive MSB first, left-aligned in ``(bit_count + 7) // 8`` bytes; bit positions below are
1-based from the first bit on the wire, as card format documents number them. A parity check
names the set of positions it covers *including its own parity bit*: an even check passes when
the set holds an even number of ones, an odd check when it holds an odd number.

Layouts (the parity of Corporate 1000 follows Proxmark3 ``client/src/wiegand_formats.c``,
``Pack_C1k35s``):

- H10301, 26 bits: P + 8 facility + 16 number + P; even over 1-13, odd over 14-26.
- C1000 (HID Corporate 1000), 35 bits: P1 + P2 + 12 company + 20 number + P35; P2 even over
  2, 3, 4, 6, 7, 9, 10, ... 33, 34; P35 odd over 2, 3, 5, 6, 8, 9, ... 32, 33, 35; P1 odd over
  all 35 bits.
- H10304, 37 bits: P + 16 facility + 19 number + P; even over 1-19, odd over 19-37.
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.errors import WiegandError
from gateway.domain import CardId, CredentialFormat


@dataclass(frozen=True, slots=True)
class _ParityCheck:
    """One parity bit and the positions (parity bit included) it must balance."""

    name: str  # how the check is named in error messages
    positions: tuple[int, ...]
    odd: bool


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where a format keeps its fields and parity, by 1-based bit position."""

    format: CredentialFormat
    bits: int
    facility: tuple[int, int]  # first position, width
    number: tuple[int, int]
    checks: tuple[_ParityCheck, ...]  # in the order they are verified


def _span(first: int, last: int) -> tuple[int, ...]:
    """Positions ``first`` to ``last`` inclusive."""
    return tuple(range(first, last + 1))


# Corporate 1000 interleaves its two inner parity groups in a period of three positions:
# P2 skips every position p with p % 3 == 2, P35 every position with p % 3 == 1.
_C1000_EVEN = (2, *(p for p in range(3, 35) if p % 3 != 2))
_C1000_ODD = (*(p for p in range(2, 34) if p % 3 != 1), 35)

LAYOUTS: dict[int, _Layout] = {
    26: _Layout(
        CredentialFormat.H10301,
        26,
        facility=(2, 8),
        number=(10, 16),
        checks=(
            _ParityCheck("even parity (bits 1-13)", _span(1, 13), odd=False),
            _ParityCheck("odd parity (bits 14-26)", _span(14, 26), odd=True),
        ),
    ),
    35: _Layout(
        CredentialFormat.C1000,
        35,
        facility=(3, 12),
        number=(15, 20),
        checks=(
            _ParityCheck("even parity (bit 2)", _C1000_EVEN, odd=False),
            _ParityCheck("odd parity (bit 35)", _C1000_ODD, odd=True),
            _ParityCheck("odd parity (bit 1, whole frame)", _span(1, 35), odd=True),
        ),
    ),
    37: _Layout(
        CredentialFormat.H10304,
        37,
        facility=(2, 16),
        number=(18, 19),
        checks=(
            _ParityCheck("even parity (bits 1-19)", _span(1, 19), odd=False),
            _ParityCheck("odd parity (bits 19-37)", _span(19, 37), odd=True),
        ),
    ),
}
"""Supported Wiegand layouts by frame length in bits."""


def _field(value: int, bits: int, first: int, width: int) -> int:
    """The unsigned field of ``width`` bits starting at 1-based ``first`` in a ``bits`` frame."""
    return (value >> (bits - (first + width - 1))) & ((1 << width) - 1)


def decode(data: bytes, bit_count: int) -> CardId:
    """Decode a raw Wiegand frame; raise WiegandError naming the check that failed."""
    layout = LAYOUTS.get(bit_count)
    if layout is None:
        known = ", ".join(f"{n} ({lay.format.value})" for n, lay in LAYOUTS.items())
        raise WiegandError(f"{bit_count}-bit frame: unsupported Wiegand length (known: {known})")
    expected = (bit_count + 7) // 8
    if len(data) != expected:
        raise WiegandError(f"{bit_count}-bit frame: expected {expected} bytes, got {len(data)}")
    # Drop the pad bits that fill out the last byte; the frame is now a bit_count-bit integer.
    value = int.from_bytes(data, "big") >> (expected * 8 - bit_count)
    for check in layout.checks:
        ones = sum((value >> (bit_count - p)) & 1 for p in check.positions)
        if ones % 2 != (1 if check.odd else 0):
            raise WiegandError(
                f"{bit_count}-bit {layout.format.value} frame: {check.name} mismatch"
            )
    facility = _field(value, bit_count, *layout.facility)
    number = _field(value, bit_count, *layout.number)
    return CardId(layout.format, facility, number)
