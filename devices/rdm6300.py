"""RDM6300 125 kHz reader driver: EM4100 tags over a 9600 8N1 serial line.

Frame (14 bytes): 0x02, 10 ASCII hex digits (1 version byte + 4 id bytes), 2 ASCII hex digits
of checksum (XOR of the 5 data bytes), 0x03. The reader sends a frame the moment a tag enters
its field and repeats it while the tag stays there.

``parse`` is the pure part: it consumes a byte buffer in place and returns what it found. The
driver reads through ``loop.add_reader`` on the port's fd, so a card is handed over as soon as
its 0x03 arrives; nothing waits on a timeout. The RDM6300 has no LED or buzzer control, no
keypad and no tamper switch (its tamper is wired to an I/O module input instead, 4-8-7(4)).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import serial

from devices.errors import ConfigurationRefused, DeviceError, FrameError, LinkError
from gateway.domain import CardId, CredentialFormat
from gateway.events import CardRead, CardUnreadable, DeviceEvent, ReaderLink
from gateway.ports import DeviceEventSink, Feedback

logger = logging.getLogger(__name__)

STX = 0x02
ETX = 0x03
PAYLOAD_LEN = 12  # 10 hex digits of data + 2 of checksum
FRAME_LEN = PAYLOAD_LEN + 2
BAUD = 9600
_HEX = frozenset(b"0123456789ABCDEFabcdef")


class BadFrame(FrameError):
    """A malformed RDM6300 frame (returned by ``parse``, not raised)."""

    def __init__(self, detail: str, length: int) -> None:
        """``length``: bytes from STX to ETX inclusive."""
        super().__init__(detail)
        self.length = length


def _frame_result(payload: bytes) -> CardId | BadFrame:
    """Check the bytes between STX and ETX: a CardId, or a BadFrame saying what is wrong."""
    length = len(payload) + 2
    if len(payload) != PAYLOAD_LEN:
        return BadFrame(f"RDM6300 frame: {len(payload)} bytes between STX and ETX, not 12", length)
    if not _HEX.issuperset(payload):
        return BadFrame("RDM6300 frame: non-hex characters in the payload", length)
    data = bytes.fromhex(payload[:10].decode("ascii"))
    checksum = int(payload[10:].decode("ascii"), 16)
    computed = 0
    for b in data:
        computed ^= b
    if computed != checksum:
        return BadFrame(
            f"RDM6300 frame: checksum {checksum:02X} does not match the data ({computed:02X})",
            length,
        )
    return CardId(CredentialFormat.EM4100, data[0], int.from_bytes(data[1:], "big"))


def parse(buffer: bytearray) -> list[CardId | BadFrame]:
    """Consume complete frames from ``buffer`` (in place); keep only a possible frame start.

    Bytes before an STX are noise and are dropped. An STX followed by another STX, or by more
    than 12 bytes without an ETX, was noise too: parsing resyncs on the next STX. What lies
    between an STX and its ETX is a card or, when it is malformed, a BadFrame (returned,
    never raised). On return ``buffer`` holds at most one partial frame (< 14 bytes).
    """
    results: list[CardId | BadFrame] = []
    while buffer:
        start = buffer.find(STX)
        if start < 0:
            buffer.clear()
            break
        del buffer[:start]
        # Look for the ETX no further than a whole frame; a second STX restarts the frame.
        window = buffer[1:FRAME_LEN]
        end = window.find(ETX)
        restart = window.find(STX)
        if restart >= 0 and (end < 0 or restart < end):
            del buffer[: restart + 1]
            continue
        if end < 0:
            if len(buffer) >= FRAME_LEN:  # a full frame's length and still no ETX: noise
                del buffer[:1]
                continue
            break  # wait for the rest of the frame
        results.append(_frame_result(bytes(window[:end])))
        del buffer[: end + 2]
    return results


class Rdm6300Reader:
    """A ReaderBus for one RDM6300 on its own serial port.

    A tag held in the field is sent again and again: a frame of the same card is dropped
    while its previous frame is less than ``repeat_suppress_s`` old, so a held card reads
    once and must leave the field for that long before it reads again.
    """

    def __init__(
        self,
        reader_id: str,
        port: str,
        *,
        repeat_suppress_s: float = 1.0,
        retry_initial_s: float = 0.2,
        retry_max_s: float = 5.0,
    ) -> None:
        """Remember the port; a held card's repeats within ``repeat_suppress_s`` are dropped."""
        if not port:
            raise ConfigurationRefused(f"RDM6300 {reader_id}: no serial port")
        self._reader_id = reader_id
        self.port = port
        self._repeat_suppress_s = repeat_suppress_s
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._serial: serial.Serial | None = None
        self._buffer = bytearray()
        self._last_seen: dict[CardId, float] = {}
        self._sink: DeviceEventSink | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reconnect: asyncio.Task[None] | None = None
        self._running = False

    @property
    def reader_ids(self) -> tuple[str, ...]:
        """The one reader this driver serves."""
        return (self._reader_id,)

    async def start(self, sink: DeviceEventSink) -> None:
        """Open the port and read it; if it cannot be opened, report offline and keep trying."""
        if self._running:
            raise DeviceError(f"RDM6300 {self._reader_id} is already started")
        self._loop = asyncio.get_running_loop()
        self._sink = sink
        self._running = True
        try:
            self._open()
        except LinkError as exc:
            self._emit(ReaderLink(self._reader_id, online=False, secure=False, detail=str(exc)))
            self._reconnect = asyncio.create_task(self._reopen_forever(), name=self.port)

    async def stop(self) -> None:
        """Stop reading and close the port; nothing is delivered after this returns."""
        self._running = False
        task, self._reconnect = self._reconnect, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._close()

    def signal(self, reader_id: str, feedback: Feedback) -> None:
        """Nothing to show: the RDM6300 has no LED or buzzer control."""

    # ------------------------------------------------------------------------ internals

    def _emit(self, event: DeviceEvent) -> None:
        """Hand an event to the sink (we are on the loop thread)."""
        if self._running and self._sink is not None:
            self._sink(event)

    def _open(self) -> None:
        """Open the port non-blocking and watch its fd; LinkError when it cannot be opened."""
        assert self._loop is not None
        try:
            ser = serial.Serial(self.port, BAUD, timeout=0, exclusive=True)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise LinkError(f"cannot open {self.port}: {exc}") from exc
        self._serial = ser
        self._buffer.clear()
        self._loop.add_reader(ser.fileno(), self._on_readable)
        logger.info("RDM6300 %s: reading %s", self._reader_id, self.port)
        self._emit(
            ReaderLink(self._reader_id, online=True, secure=False, detail=f"{self.port} open")
        )

    def _close(self) -> None:
        """Stop watching the fd and close the port."""
        ser, self._serial = self._serial, None
        if ser is None:
            return
        if self._loop is not None:
            with contextlib.suppress(OSError, ValueError, serial.SerialException):
                self._loop.remove_reader(ser.fileno())
        with contextlib.suppress(OSError, serial.SerialException):
            ser.close()

    def _on_readable(self) -> None:
        """Loop callback: read what arrived, emit every complete frame at once."""
        ser = self._serial
        if ser is None:
            return
        try:
            data = ser.read(4096)
        except (serial.SerialException, OSError) as exc:
            self._lost(f"{self.port}: {exc}")
            return
        received_ns = time.perf_counter_ns()
        self._buffer += data
        for result in parse(self._buffer):
            if isinstance(result, BadFrame):
                self._emit(CardUnreadable(self._reader_id, str(result), result.length, received_ns))
            elif self._fresh(result):
                self._emit(CardRead(self._reader_id, result, received_ns))

    def _fresh(self, card: CardId) -> bool:
        """False for a repeat of a card still held in the field (seen within the window)."""
        now = time.monotonic()
        last = self._last_seen.get(card)
        self._last_seen[card] = now
        if len(self._last_seen) > 64:  # forget cards long gone
            cutoff = now - self._repeat_suppress_s
            self._last_seen = {c: t for c, t in self._last_seen.items() if t >= cutoff}
        return last is None or now - last > self._repeat_suppress_s

    def _lost(self, reason: str) -> None:
        """The port vanished: report offline, then try to reopen it with back-off."""
        logger.warning("RDM6300 %s: link lost (%s)", self._reader_id, reason)
        self._close()
        self._emit(ReaderLink(self._reader_id, online=False, secure=False, detail=reason))
        if self._running and self._reconnect is None:
            self._reconnect = asyncio.create_task(self._reopen_forever(), name=self.port)

    async def _reopen_forever(self) -> None:
        """Try to open the port again, doubling the wait up to ``retry_max_s``."""
        wait = self._retry_initial_s
        try:
            while self._running:
                await asyncio.sleep(wait)
                try:
                    self._open()
                except LinkError as exc:
                    logger.debug("RDM6300 %s: %s", self._reader_id, exc)
                    wait = min(wait * 2, self._retry_max_s)
                else:
                    return
        finally:
            if asyncio.current_task() is self._reconnect:
                self._reconnect = None
