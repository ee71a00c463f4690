"""A libosdp Channel over a pyserial port that never blocks and never raises into C.

libosdp calls ``read``/``write`` from the thread that runs ``refresh()``. Both return at once:
``read`` hands over what has arrived (possibly nothing), ``write`` puts what fits into the
driver's buffer. When the port fails (a USB adapter unplugged, a pty closed) the fault is
recorded, reads return b"" and writes 0, and the port is reopened, with back-off, on later
calls: the line comes back by itself when the device does.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time

import osdp
import serial

from devices.errors import LinkError

logger = logging.getLogger(__name__)

_channel_ids = itertools.count(1)  # libosdp tells lines apart by Channel.id: one per bus


class SerialChannel(osdp.Channel):  # type: ignore[misc]  # osdp ships no type information
    """One serial line (an RS-485 bus) as libosdp sees it."""

    def __init__(
        self,
        port: str,
        baud: int = 115200,
        *,
        reopen_initial_s: float = 0.5,
        reopen_max_s: float = 5.0,
    ) -> None:
        """Remember the port; it is opened by ``open`` (or lazily by the first read)."""
        super().__init__()
        self.id = next(_channel_ids)
        self.port = port
        self.baud = baud
        self._serial: serial.Serial | None = None
        self._fault: str | None = None
        self._reopen_initial_s = reopen_initial_s
        self._reopen_max_s = reopen_max_s
        self._reopen_wait_s = reopen_initial_s
        self._reopen_at = 0.0
        self._lock = threading.Lock()  # open/close may come from the event loop and libosdp

    @property
    def is_open(self) -> bool:
        """True while the port is open and has not failed."""
        return self._serial is not None

    @property
    def fault(self) -> str | None:
        """Why the port is not open (the last failure), or None."""
        return self._fault

    def open(self) -> None:
        """Open the port now; LinkError (with the reason) when it cannot be opened."""
        with self._lock:
            if self._serial is not None:
                return
            try:
                self._serial = serial.Serial(
                    self.port, self.baud, timeout=0, write_timeout=0, exclusive=True
                )
            except (serial.SerialException, OSError, ValueError) as exc:
                self._record_fault(f"cannot open {self.port}: {exc}")
                raise LinkError(self._fault or str(exc)) from exc
            if self._fault is not None:
                logger.info("serial port %s is open again", self.port)
            self._fault = None
            self._reopen_wait_s = self._reopen_initial_s

    def close(self) -> None:
        """Close the port (no automatic reopen until ``open`` or a later read)."""
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        """Close the port, ignoring errors from a port that is already gone."""
        ser, self._serial = self._serial, None
        if ser is not None:
            try:
                ser.close()
            except (serial.SerialException, OSError) as exc:
                logger.debug("closing %s: %s", self.port, exc)

    def _record_fault(self, reason: str) -> None:
        """Remember a failure and when to try the port again (doubling the wait each time)."""
        if reason != self._fault:
            logger.warning("serial port %s: %s", self.port, reason)
        self._fault = reason
        self._reopen_at = time.monotonic() + self._reopen_wait_s
        self._reopen_wait_s = min(self._reopen_wait_s * 2, self._reopen_max_s)

    def _fail(self, reason: str) -> None:
        """The open port failed: close it and schedule a reopen."""
        with self._lock:
            self._close_locked()
            self._record_fault(reason)

    def _port(self) -> serial.Serial | None:
        """The open port, reopening it when the back-off has passed; None while it is down."""
        ser = self._serial
        if ser is not None:
            return ser
        if time.monotonic() < self._reopen_at:
            return None
        try:
            self.open()
        except LinkError:
            return None
        return self._serial

    def read(self, max_bytes: int) -> bytes:
        """What has arrived, at most ``max_bytes``; b"" when nothing has or the port is down."""
        ser = self._port()
        if ser is None:
            return b""
        try:
            data: bytes = ser.read(max_bytes)
        except (serial.SerialException, OSError, TypeError) as exc:
            # TypeError: pyserial reading a port closed under it by another thread.
            self._fail(f"read failed: {exc}")
            return b""
        return data

    def write(self, buf: bytes) -> int:
        """Queue ``buf`` for sending without waiting; returns how many bytes were taken."""
        ser = self._port()
        if ser is None:
            return 0
        try:
            # Straight to the (non-blocking) fd: pyserial's write spins while the buffer is full.
            return os.write(ser.fileno(), bytes(buf))
        except BlockingIOError:
            return 0
        except (serial.SerialException, OSError, ValueError) as exc:
            self._fail(f"write failed: {exc}")
            return 0

    def flush(self) -> None:
        """Nothing to do: writes go straight to the driver."""
