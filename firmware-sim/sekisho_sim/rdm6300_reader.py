"""A simulated RDM6300 125 kHz reader: EM4100 frames written onto a pty at "9600 8N1".

Frame: 0x02, 10 ASCII hex digits (version byte + 4 id bytes), 2 ASCII hex digits of checksum
(XOR of the 5 data bytes), 0x03. ``card`` sends a good frame (``repeats`` times, as a held tag
does); ``frame`` and ``noise`` put anything at all on the wire; ``cut`` stops the reader
talking, as a broken TX wire would.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from sekisho_sim.pty_link import PtyLink

STX = b"\x02"
ETX = b"\x03"


def em4100_frame(version: int, tag_id: int) -> bytes:
    """The 14-byte frame an RDM6300 sends for an EM4100 tag."""
    if not 0 <= version <= 0xFF:
        raise ValueError(f"EM4100 version {version} is not a byte (0-255)")
    if not 0 <= tag_id <= 0xFFFFFFFF:
        raise ValueError(f"EM4100 id {tag_id} does not fit 32 bits")
    data = bytes([version]) + tag_id.to_bytes(4, "big")
    checksum = 0
    for b in data:
        checksum ^= b
    return STX + data.hex().upper().encode("ascii") + f"{checksum:02X}".encode("ascii") + ETX


def parse_card_key(card_key: str) -> tuple[int, int]:
    """``EM4100:VERSION:ID`` (decimal) as (version, id); ValueError otherwise."""
    parts = card_key.strip().split(":")
    if len(parts) != 3 or parts[0].upper() != "EM4100":
        raise ValueError(f"card key {card_key!r} is not EM4100:VERSION:ID")
    if not (parts[1].isdecimal() and parts[2].isdecimal()):
        raise ValueError(f"card key {card_key!r}: version and id must be decimal")
    return int(parts[1]), int(parts[2])


class SimRdm6300:
    """One simulated RDM6300 behind a pty link."""

    def __init__(self, reader_id: str, link_path: Path) -> None:
        """Remember the link; nothing exists until ``start``."""
        self.reader_id = reader_id
        self._link = PtyLink(Path(link_path))
        self._cut = False
        self._lock = threading.Lock()  # frames from several threads never interleave

    @property
    def link_path(self) -> Path:
        """The symlink the gateway opens as the reader's serial port."""
        return self._link.link_path

    def start(self) -> None:
        """Create the pty and its symlink."""
        self._link.open()

    def stop(self) -> None:
        """Remove the symlink and close the pty (the gateway sees its port vanish)."""
        with self._lock:
            self._link.close()

    def _write(self, data: bytes) -> None:
        """Put bytes on the wire unless the reader is cut; ValueError when stopped."""
        with self._lock:
            if not self._link.is_open:
                raise ValueError(f"RDM6300 {self.reader_id} is not running")
            if not self._cut:
                self._link.write(data)

    def card(self, card_key: str, repeats: int = 1) -> None:
        """Present an EM4100 tag ``EM4100:VERSION:ID``; ``repeats`` frames, as a held tag."""
        if repeats < 1:
            raise ValueError("repeats must be at least 1")
        version, tag_id = parse_card_key(card_key)
        self._write(em4100_frame(version, tag_id) * repeats)

    def frame(self, raw: bytes) -> None:
        """Put any bytes at all on the wire (bad frames)."""
        self._write(bytes(raw))

    def noise(self, nbytes: int = 32) -> None:
        """Random junk on the wire."""
        if nbytes < 0:
            raise ValueError("nbytes must not be negative")
        self._write(os.urandom(nbytes))

    def cut(self) -> None:
        """Stop writing (the reader's TX wire is cut)."""
        self._cut = True

    def restore(self) -> None:
        """Write again after ``cut``."""
        self._cut = False
