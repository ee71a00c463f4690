"""A misbehaving OSDP peer: malformed and replayed frames on the pty toward the control panel.

The simulated reader is a real libosdp PD with Secure Channel; between it and the line we
rewrite its replies in flight (raw bytes, as a broken or hostile device on the RS-485 pair
would send them): a bad CRC, a wrong length, a bad MAC with a good CRC, a secure card-read
reply sent again (replay), random junk. The gateway's driver (``devices.osdp_bus``, libosdp's
CP) must not crash, the reader must stay online or come back with Secure Channel, a replayed
card read must not be taken as a new badge, and a real badge afterwards must work.
"""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from gateway.records import RecordKind
from sekisho.simulated import SimulatedSite, start_simulated_site, stop_simulated_site

K = RecordKind
SOM = 0x53
SR_IN = 1  # sr-in's OSDP address
CARDS = [f"H10301:12:{n}" for n in range(3001, 3011)]
WAIT = 30.0


def crc16(data: bytes) -> int:
    """OSDP's CRC-16 (CCITT polynomial 0x1021, initial value 0x1D0F)."""
    crc = 0x1D0F
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def with_crc(body: bytes) -> bytes:
    """A frame body (SOM..MAC) with its CRC appended (little-endian)."""
    return body + crc16(body).to_bytes(2, "little")


class Tamperer:
    """Sits between the simulated readers and the line: records and rewrites their replies."""

    def __init__(self, h: SimulatedSite) -> None:
        """Hook the line of the site's OSDP bus."""
        bus = h.sim._buses["bus1"]
        self._link = bus._link
        self._write = self._link.write
        self._lock = threading.Lock()
        self.frames: list[bytes] = []  # every reply of sr-in, as sent by the PD
        self._plan: list[Callable[[bytes], bytes | None]] = []
        self.applied = 0
        self._link.write = self._hook

    def close(self) -> None:
        """Stop rewriting."""
        self._link.write = self._write

    def next_reply(self, change: Callable[[bytes], bytes | None]) -> None:
        """Rewrite sr-in's next reply with ``change`` (None: send nothing)."""
        with self._lock:
            self._plan.append(change)

    def _hook(self, data: bytes) -> int:
        """The PD's write: record sr-in's replies and rewrite the planned ones."""
        frame = bytes(data)
        if len(frame) >= 8 and frame[0] == SOM and frame[1] & 0x7F == SR_IN:
            with self._lock:
                self.frames.append(frame)
                change = self._plan.pop(0) if self._plan else None
            if change is not None:
                self.applied += 1
                out = change(frame)
                if out is not None:
                    self._write(out)
                return len(data)
        return int(self._write(data))


def bad_crc(frame: bytes) -> bytes:
    """The frame with a wrong CRC."""
    return frame[:-1] + bytes([frame[-1] ^ 0xA5])


def wrong_length(frame: bytes) -> bytes:
    """The frame claiming three bytes more than it has (with a good CRC)."""
    length = int.from_bytes(frame[2:4], "little") + 3
    return with_crc(frame[:2] + length.to_bytes(2, "little") + frame[4:-2])


def bad_mac(frame: bytes) -> bytes:
    """Flip a bit of the MAC (the 4 bytes before the CRC) and give it a correct CRC."""
    body = bytearray(frame[:-2])
    body[-1] ^= 0x01
    return with_crc(bytes(body))


def _secure(frame: bytes) -> bool:
    """True for a Secure Channel frame that carries a MAC."""
    return bool(frame[4] & 0x08) and frame[6] in (0x16, 0x18)  # SCB with a MAC


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[tuple[SimulatedSite, Tamperer]]:
    """The demo site; people whose cards open sr-door (card only, to keep it short)."""
    h = await start_simulated_site(
        tmp_path / "site",
        site_patch=lambda raw: [d.update(auth="card") for d in raw["doors"]],  # type: ignore[func-returns-value]
    )
    for n, card in enumerate(CARDS):
        await h.add_person(f"Person {n}", card)
    t = Tamperer(h)
    try:
        yield h, t
    finally:
        t.close()
        await stop_simulated_site(h)


async def _back_online(h: SimulatedSite) -> None:
    """Wait until sr-in is online with Secure Channel."""
    await h.wait_until(
        lambda: h.reader("sr-in").online and h.reader("sr-in").secure,
        WAIT,
        "sr-in online with Secure Channel",
    )


def _decisions(h: SimulatedSite, card_suffix: str, after: int = 0) -> list[int]:
    """Seqs of sr-in's decisions for a card (by the masked number's end)."""
    return [
        s
        for s, r in h.written
        if s > after
        and r.kind is K.ACCESS
        and r.reader_id == "sr-in"
        and (r.credential or "").endswith(card_suffix)
    ]


async def test_malformed_and_replayed_frames_are_rejected_and_the_reader_recovers(site) -> None:  # type: ignore[no-untyped-def]
    """Each fault alone, then a burst: rejected, reader back, no replayed decision."""
    h, t = site
    await _back_online(h)
    await h.wait_until(lambda: len(t.frames) >= 20, WAIT, "replies of sr-in on the line")
    # The CRC we put on rewritten frames is OSDP's: it matches what libosdp sends.
    assert t.frames and all(
        crc16(f[:-2]) == int.from_bytes(f[-2:], "little") for f in t.frames[-20:]
    )

    # A real badge, and the secure reply that carried it (captured for the replay below).
    before = len(t.frames)
    _, first = await h.badge("sr-in", CARDS[0])
    assert first.outcome == "granted"
    carried = [f for f in t.frames[before:] if _secure(f)]
    card_reply = max(carried, key=len)  # the card read is the longest reply of the exchange

    faults: list[tuple[str, Callable[[bytes], bytes | None]]] = [
        ("bad CRC", bad_crc),
        ("wrong length", wrong_length),
        ("bad MAC", lambda f: bad_mac(f) if _secure(f) else bad_crc(f)),
        ("replayed card read", lambda _f: card_reply),
        ("junk", lambda _f: os.urandom(40)),
        ("silence", lambda _f: None),
    ]
    for n, (what, change) in enumerate(faults, start=1):
        mark = h.last_seq
        applied = t.applied
        t.next_reply(change)
        await h.wait_until(lambda a=applied: t.applied > a, WAIT, f"{what} sent")
        await _back_online(h)
        # The replayed card read opened nothing: the only decision for that card is the first.
        assert _decisions(h, CARDS[0][-3:], after=mark) == [], what
        # A real badge still works after each fault.
        _, rec = await h.badge("sr-in", CARDS[n])
        assert rec.outcome == "granted", (what, rec)

    # Several faults in a row, then the line is clean again.
    for change in (bad_crc, wrong_length, bad_mac, lambda _f: card_reply) * 3:
        t.next_reply(change)
    await h.wait_until(lambda: t.applied >= len(faults) + 12, WAIT, "burst of bad frames sent")
    await _back_online(h)
    _, rec = await h.badge("sr-in", CARDS[-1])
    assert rec.outcome == "granted"
    assert len(_decisions(h, CARDS[0][-3:])) == 1  # never replayed into a second decision
    # The driver noticed: the gateway logged the reader going away or errors, yet it lived on.
    assert h.gateway.readers() and h.sim._buses["bus1"].is_secure("sr-in")
