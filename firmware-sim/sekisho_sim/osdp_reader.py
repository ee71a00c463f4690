"""Simulated OSDP card readers: real libosdp PeripheralDevices sharing one pty like an RS-485 bus.

Every reader is a libosdp PD with its own address and Secure Channel key. One thread owns the
line: it reads the pty master and hands every byte to every PD (they all hear the bus and
answer only their own address), then refreshes each PD about every ``refresh_s``. Tests and the
site orchestrator drive the readers from any thread (``card``, ``keys``, ``tamper``, ``cut``)
and read back what the gateway commanded (``feedback``: every LED and buzzer command).

A reader with ``scbk=None`` is factory-fresh: it runs in install mode with the default key
SCBK-D until a control panel sends it a KEYSET; from then on it uses the new key (kept in
memory, ``key_of``), as a real reader keeps it in flash.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import osdp_sys

from sekisho_sim import wiegand
from sekisho_sim.pty_link import PtyLink

logger = logging.getLogger(__name__)

_KEYPAD_CODES = {**{str(d): 0x30 + d for d in range(10)}, "*": 0x7F, "#": 0x0D}
_LED_COLORS = {
    osdp_sys.LED_COLOR_NONE: "black",
    osdp_sys.LED_COLOR_RED: "red",
    osdp_sys.LED_COLOR_GREEN: "green",
    osdp_sys.LED_COLOR_AMBER: "amber",
    osdp_sys.LED_COLOR_BLUE: "blue",
    osdp_sys.LED_COLOR_MAGENTA: "magenta",
    osdp_sys.LED_COLOR_CYAN: "cyan",
    osdp_sys.LED_COLOR_WHITE: "white",
}
_RX_LIMIT = 1 << 16  # bytes a PD may have unread before older ones are dropped
_VENDOR_CODE = 0x00534B  # "SK": what the simulated readers report as their vendor
_MAX_CARD_BYTES = 64  # libosdp's OSDP_EVENT_CARDREAD_MAX_DATALEN


@dataclass(frozen=True, slots=True)
class SimReaderSpec:
    """One simulated reader on a bus."""

    reader_id: str
    address: int
    scbk: bytes | None  # None: factory-fresh (install mode, SCBK-D) until commissioned
    keypad: bool = True


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    """An LED or buzzer command the reader received from the control panel."""

    at: float  # time.monotonic()
    kind: str  # "led" or "buzzer"
    color: str | None  # "green", "red", "amber", "black", ... for LEDs
    temporary: bool
    detail: dict[str, int]


class _PdChannel:
    """What one PD hears and says: bytes fanned out from the line, replies onto the line."""

    def __init__(self, link: PtyLink, reader: _SimReader) -> None:
        """Bind to the shared line and to the reader whose ``cut`` flag silences it."""
        self.id = 0  # osdp.Channel's attribute: all PDs of a sim bus are on one line
        self._link = link
        self._reader = reader
        self._rx = bytearray()

    def hear(self, data: bytes) -> None:
        """Bytes seen on the line (called on the line thread only)."""
        self._rx += data
        if len(self._rx) > _RX_LIMIT:
            del self._rx[: len(self._rx) - _RX_LIMIT]

    def read(self, max_bytes: int) -> bytes:
        """libosdp reads what the PD has heard."""
        chunk = bytes(self._rx[:max_bytes])
        del self._rx[:max_bytes]
        return chunk

    def write(self, buf: bytes) -> int:
        """libosdp's reply goes onto the line, unless the reader is cut off."""
        if self._reader.cut:
            return len(buf)
        return self._link.write(bytes(buf))

    def flush(self) -> None:
        """Nothing is buffered on our side."""


class _SimReader:
    """Mutable state of one simulated reader (its libosdp PD is rebuilt on each start)."""

    def __init__(self, spec: SimReaderSpec) -> None:
        """Start with the spec's key and no history."""
        self.spec = spec
        self.key = spec.scbk
        self.cut = False
        self.tamper = False
        self.pd: Any = None  # osdp_sys.PeripheralDevice while the bus runs
        self.channel: _PdChannel | None = None
        self.lock = threading.Lock()  # libosdp is not thread-safe: one caller at a time
        self.cond = threading.Condition()  # guards feedback and key
        self.feedback: list[FeedbackRecord] = []

    def on_command(self, cmd: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        """libosdp's command callback (line thread): record feedback, accept a new key."""
        try:
            self._record(cmd)
        except Exception:  # an exception here would surface inside libosdp's C code
            logger.exception(
                "reader %s: cannot handle command %s", self.spec.reader_id, cmd.get("command")
            )
            return -1, None
        return 0, None

    def _record(self, cmd: dict[str, Any]) -> None:
        """Turn one command dict into a FeedbackRecord or a key change."""
        code = cmd.get("command")
        now = time.monotonic()
        if code == osdp_sys.CMD_LED:
            detail = {k: int(v) for k, v in cmd.items() if k not in ("command", "temporary")}
            record = FeedbackRecord(
                now,
                "led",
                _LED_COLORS.get(int(cmd.get("on_color", -1)), f"color-{cmd.get('on_color')}"),
                bool(cmd.get("temporary", False)),
                detail,
            )
        elif code == osdp_sys.CMD_BUZZER:
            detail = {k: int(v) for k, v in cmd.items() if k != "command"}
            record = FeedbackRecord(now, "buzzer", None, temporary=False, detail=detail)
        elif code == osdp_sys.CMD_KEYSET:
            with self.cond:
                self.key = bytes(cmd["data"])
            logger.info("reader %s: new Secure Channel key installed", self.spec.reader_id)
            return
        else:
            return
        with self.cond:
            self.feedback.append(record)
            self.cond.notify_all()


class SimOsdpBus:
    """Several simulated OSDP readers on one simulated RS-485 line (a pty)."""

    def __init__(
        self,
        bus_id: str,
        link_path: Path,
        readers: Sequence[SimReaderSpec],
        *,
        refresh_s: float = 0.001,
    ) -> None:
        """Check the readers (unique ids and addresses, 16-byte keys); nothing runs yet."""
        if not readers:
            raise ValueError(f"bus {bus_id}: no readers")
        self.bus_id = bus_id
        self._link = PtyLink(Path(link_path))
        self._refresh_s = refresh_s
        self._readers: dict[str, _SimReader] = {}
        addresses: set[int] = set()
        for spec in readers:
            if spec.reader_id in self._readers:
                raise ValueError(f"bus {bus_id}: reader {spec.reader_id!r} is listed twice")
            if not 0 <= spec.address <= 126:
                raise ValueError(f"reader {spec.reader_id}: address {spec.address} not in 0-126")
            if spec.address in addresses:
                raise ValueError(f"bus {bus_id}: address {spec.address} is used twice")
            if spec.scbk is not None and len(spec.scbk) != 16:
                raise ValueError(f"reader {spec.reader_id}: a Secure Channel key is 16 bytes")
            addresses.add(spec.address)
            self._readers[spec.reader_id] = _SimReader(spec)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def link_path(self) -> Path:
        """The symlink the gateway opens as its serial port."""
        return self._link.link_path

    # ----------------------------------------------------------------------------- life

    def start(self) -> None:
        """Create the pty and its symlink, build one libosdp PD per reader, start the line."""
        if self._thread is not None:
            return
        osdp_sys.set_loglevel(osdp_sys.LOG_ERROR)
        self._link.open()
        try:
            for reader in self._readers.values():
                self._build_pd(reader)
        except BaseException:
            self._teardown()
            raise
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"sim-osdp-{self.bus_id}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the line thread, tear the PDs down, remove the pty and its symlink."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(timeout=10)
        self._teardown()

    def _teardown(self) -> None:
        """Drop every PD and close the link."""
        for reader in self._readers.values():
            with reader.lock:
                reader.pd = None
                reader.channel = None
        self._link.close()

    def _build_pd(self, reader: _SimReader) -> None:
        """A libosdp PD for this reader, on the shared line, with its current key."""
        channel = _PdChannel(self._link, reader)
        with reader.cond:
            key = reader.key
        info = {
            "name": f"{self.bus_id}/{reader.spec.reader_id}",
            "address": reader.spec.address,
            # A keyed reader insists on Secure Channel; a fresh one waits in install mode.
            "flags": osdp_sys.FLAG_ENFORCE_SECURE if key else osdp_sys.FLAG_INSTALL_MODE,
            "scbk": key,
            "channel": channel,
            "version": 1,
            "model": 1,
            "vendor_code": _VENDOR_CODE,
            "serial_number": 0x5E000000 + reader.spec.address,
            "firmware_version": 0x010000,
        }
        caps = [
            (osdp_sys.CAP_CARD_DATA_FORMAT, 1, 1),
            (osdp_sys.CAP_READER_LED_CONTROL, 1, 1),
            (osdp_sys.CAP_READER_AUDIBLE_OUTPUT, 1, 1),
            (osdp_sys.CAP_COMMUNICATION_SECURITY, 1, 1),
            (osdp_sys.CAP_CONTACT_STATUS_MONITORING, 1, 1),
        ]
        # OSDP has no capability code for a keypad: keypad=False readers refuse keys() instead.
        pd = osdp_sys.PeripheralDevice(
            info,
            capabilities=[
                {"function_code": fc, "compliance_level": level, "num_items": items}
                for fc, level, items in caps
            ],
        )
        pd.set_command_callback(reader.on_command)
        with reader.lock:
            reader.pd = pd
            reader.channel = channel

    def _run(self) -> None:
        """The line: fan incoming bytes out to every PD, refresh every PD, repeat."""
        fd = self._link.master_fd
        readers = list(self._readers.values())
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([fd], [], [], self._refresh_s)
            except (OSError, ValueError):  # the fd was closed under us: stop() is running
                return
            if ready:
                data = self._link.read()
                for reader in readers:
                    if data and not reader.cut and reader.channel is not None:
                        reader.channel.hear(data)
            for reader in readers:
                with reader.lock:
                    if reader.pd is not None:
                        reader.pd.refresh()

    # -------------------------------------------------------------------------- actions

    def _reader(self, reader_id: str) -> _SimReader:
        """The reader with this id; KeyError naming the known ones otherwise."""
        reader = self._readers.get(reader_id)
        if reader is None:
            known = ", ".join(self._readers)
            raise KeyError(f"bus {self.bus_id} has no reader {reader_id!r} (known: {known})")
        return reader

    def _submit(self, reader: _SimReader, event: dict[str, Any]) -> None:
        """Queue an event in the reader's PD; ValueError when it cannot be queued."""
        with reader.lock:
            if reader.pd is None:
                raise ValueError(f"bus {self.bus_id} is not running")
            queued = reader.pd.submit_event(event)
        if not queued:
            raise ValueError(f"reader {reader.spec.reader_id}: its event queue is full")

    def card_raw(self, reader_id: str, data: bytes, bit_count: int) -> None:
        """Present raw Wiegand bits (MSB first, left-aligned) as if a card was read."""
        reader = self._reader(reader_id)
        if not 1 <= bit_count <= _MAX_CARD_BYTES * 8:
            raise ValueError(f"bit count {bit_count} not in 1-{_MAX_CARD_BYTES * 8}")
        if len(data) != (bit_count + 7) // 8:
            raise ValueError(f"{bit_count} bits need {(bit_count + 7) // 8} bytes, not {len(data)}")
        self._submit(
            reader,
            {
                "event": osdp_sys.EVENT_CARDREAD,
                "reader_no": 0,
                "format": osdp_sys.CARD_FMT_RAW_WIEGAND,
                "direction": 0,
                "length": bit_count,
                "data": bytes(data),
            },
        )

    def card(self, reader_id: str, card_key: str) -> None:
        """Present a card by key (``H10301:12:3456``), encoded by the sim's Wiegand encoder."""
        self._reader(reader_id)
        data, bits = wiegand.encode(card_key)
        self.card_raw(reader_id, data, bits)

    def keys(self, reader_id: str, keys: str) -> None:
        """Press keys on the reader's keypad: '0'-'9', '*' and '#'."""
        reader = self._reader(reader_id)
        if not reader.spec.keypad:
            raise ValueError(f"reader {reader_id} has no keypad")
        if not keys or any(k not in _KEYPAD_CODES for k in keys):
            raise ValueError("keys are one or more of 0-9, * and #")
        data = bytes(_KEYPAD_CODES[k] for k in keys)
        self._submit(reader, {"event": osdp_sys.EVENT_KEYPRESS, "reader_no": 0, "data": data})

    def tamper(self, reader_id: str, active: bool) -> None:
        """Open (``active``) or close the reader's tamper switch: a local status report."""
        reader = self._reader(reader_id)
        reader.tamper = active
        self._submit(
            reader,
            {
                "event": osdp_sys.EVENT_STATUS,
                "type": osdp_sys.STATUS_REPORT_LOCAL,
                "report": bytes([1 if active else 0, 0]),  # tamper, power
            },
        )

    def cut(self, reader_id: str | None = None) -> None:
        """Stop answering: one reader, or every reader on the bus (a cut cable)."""
        for reader in self._targets(reader_id):
            reader.cut = True

    def restore(self, reader_id: str | None = None) -> None:
        """Answer again after ``cut``."""
        for reader in self._targets(reader_id):
            reader.cut = False

    def _targets(self, reader_id: str | None) -> list[_SimReader]:
        """One reader, or all of them."""
        return list(self._readers.values()) if reader_id is None else [self._reader(reader_id)]

    def noise(self, nbytes: int = 64) -> None:
        """Put random junk on the line toward the control panel."""
        if nbytes < 0:
            raise ValueError("nbytes must not be negative")
        self._link.write(os.urandom(nbytes))

    # ---------------------------------------------------------------------------- state

    def is_secure(self, reader_id: str) -> bool:
        """True while the reader has a Secure Channel up with the control panel."""
        reader = self._reader(reader_id)
        with reader.lock:
            return bool(reader.pd is not None and reader.pd.is_sc_active())

    def feedback(self, reader_id: str) -> list[FeedbackRecord]:
        """Every LED and buzzer command the reader received, oldest first."""
        reader = self._reader(reader_id)
        with reader.cond:
            return list(reader.feedback)

    def wait_feedback(
        self,
        reader_id: str,
        predicate: Callable[[FeedbackRecord], bool],
        timeout: float = 5.0,
        after: float | None = None,
    ) -> FeedbackRecord | None:
        """The first record newer than ``after`` matching ``predicate``; None after ``timeout``."""
        reader = self._reader(reader_id)
        deadline = time.monotonic() + timeout
        with reader.cond:
            while True:
                for record in reader.feedback:
                    if (after is None or record.at > after) and predicate(record):
                        return record
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                reader.cond.wait(remaining)

    def key_of(self, reader_id: str) -> bytes | None:
        """The reader's current Secure Channel key (None while factory-fresh)."""
        reader = self._reader(reader_id)
        with reader.cond:
            return reader.key
