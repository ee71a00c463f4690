"""OSDP control-panel driver: one libosdp ControlPanel per RS-485 bus, several readers on it.

Every reader talks Secure Channel with its own 16-byte key (libosdp ``EnforceSecure``): card
data and keypad keys - PINs included - only ever travel encrypted (4-8-7(3)). The default key
SCBK-D and install mode are refused here; they exist only for ``osdp_commission``.

Threads: libosdp is driven by our own refresh thread (``devices.osdp_pump``, one for every bus
in the process), calling ``refresh()`` every ``refresh_ms`` under a per-bus lock that
``signal()`` also takes (the wrapper's ``start()`` refreshes every 20 ms, which is most of a
card read's latency). libosdp's callbacks run on that thread; they translate into
``gateway.events`` objects and hand them to the event loop with ``call_soon_threadsafe``.

libosdp 3.2.9 parks a reader that stopped answering for 300 s before it polls it again; the
panel instead re-enables such a reader itself after a short, growing back-off, so a
reader whose cable is mended is back within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import osdp_sys

from devices.errors import ConfigurationRefused, DeviceError, LinkError, WiegandError
from devices.osdp_pump import SHARED_PUMP, RefreshPump
from devices.serial_channel import SerialChannel
from devices.wiegand import decode
from gateway.events import (
    CardRead,
    CardUnreadable,
    DeviceEvent,
    KeypadKeys,
    ReaderLink,
    ReaderTamper,
)
from gateway.ports import DeviceEventSink, Feedback

logger = logging.getLogger(__name__)

SCBK_D = bytes(range(0x30, 0x40))
"""OSDP's published default Secure Channel key (install mode only)."""

KEY_LENGTH = 16
OSDP_BAUD_RATES = (9600, 19200, 38400, 57600, 115200, 230400)
MAX_REFRESH_MS = 50.0  # libosdp must be refreshed at least this often

_KEYPAD = {**{0x30 + d: str(d) for d in range(10)}, 0x7F: "*", 0x0D: "#"}
_TAMPER_BIT = 0x01  # first entry of a local status report: tamper; the second is power

_COMMAND_NAMES = {
    osdp_sys.CMD_OUTPUT: "OUTPUT",
    osdp_sys.CMD_LED: "LED",
    osdp_sys.CMD_BUZZER: "BUZZER",
    osdp_sys.CMD_TEXT: "TEXT",
    osdp_sys.CMD_KEYSET: "KEYSET",
    osdp_sys.CMD_COMSET: "COMSET",
    osdp_sys.CMD_MFG: "MFG",
    osdp_sys.CMD_STATUS: "STATUS",
}


@dataclass(frozen=True, slots=True)
class OsdpReaderSettings:
    """One reader on a bus: its id in the site file, OSDP address and Secure Channel key."""

    reader_id: str
    address: int
    scbk: bytes  # 16-byte Secure Channel base key


@dataclass(frozen=True, slots=True)
class PdConfig:
    """What libosdp needs to know about one PD on the panel's line."""

    name: str
    address: int
    scbk: bytes | None  # None: install mode with SCBK-D (commissioning only)
    flags: int


def _led(color: int, *, temporary_code: int, on: int, off: int, timer: int) -> dict[str, Any]:
    """A temporary LED command for LED 0 of reader 0 (counts and timer in 100 ms units)."""
    return {
        "command": osdp_sys.CMD_LED,
        "reader": 0,
        "led_number": 0,
        "temporary": True,
        "control_code": temporary_code,  # 1: cancel the temporary state, 2: set it
        "on_color": color,
        "off_color": osdp_sys.LED_COLOR_NONE,
        "on_count": on,
        "off_count": off,
        "timer_count": timer,
    }


def _beeps(count: int) -> dict[str, Any]:
    """``count`` short beeps (100 ms on, 100 ms off) in the default tone."""
    return {
        "command": osdp_sys.CMD_BUZZER,
        "reader": 0,
        "control_code": 2,  # default tone
        "on_count": 1,
        "off_count": 1,
        "rep_count": count,
    }


# The buzzer goes first so that the LED command, which sets what the reader shows, is last.
FEEDBACK_COMMANDS: dict[Feedback, tuple[dict[str, Any], ...]] = {
    Feedback.GRANTED: (
        _beeps(1),
        _led(osdp_sys.LED_COLOR_GREEN, temporary_code=2, on=20, off=0, timer=20),
    ),
    Feedback.DENIED: (
        _beeps(3),
        _led(osdp_sys.LED_COLOR_RED, temporary_code=2, on=20, off=0, timer=20),
    ),
    Feedback.PIN_REQUIRED: (
        _led(osdp_sys.LED_COLOR_AMBER, temporary_code=2, on=5, off=5, timer=100),
    ),
    Feedback.WAITING: (
        _beeps(1),
        _led(osdp_sys.LED_COLOR_AMBER, temporary_code=2, on=20, off=0, timer=150),
    ),
    Feedback.IDLE: (_led(osdp_sys.LED_COLOR_NONE, temporary_code=1, on=0, off=0, timer=0),),
}
"""The OSDP commands that show each feedback on a reader."""


class Panel:
    """A libosdp ControlPanel on one serial channel, refreshed by a ``RefreshPump``.

    ``on_event(pd_index, event_dict)`` is called on the pump's thread for every libosdp event,
    and ``after_refresh()`` after every refresh (to act once on what one refresh reported);
    they must not raise and must not block. A PD that goes offline is re-enabled after a
    back-off (``retry_initial_s`` doubling up to ``retry_max_s``) instead of libosdp's 300 s.
    """

    def __init__(
        self,
        name: str,
        channel: SerialChannel,
        pds: Sequence[PdConfig],
        on_event: Callable[[int, dict[str, Any]], None],
        *,
        after_refresh: Callable[[], None] | None = None,
        refresh_s: float = 0.001,
        retry_initial_s: float = 0.25,
        retry_max_s: float = 10.0,
        pump: RefreshPump = SHARED_PUMP,
    ) -> None:
        """Build the libosdp context (nothing is sent until ``start``)."""
        self.name = name
        self._channel = channel
        self._on_event = on_event
        self._after_refresh = after_refresh
        self._refresh_s = refresh_s
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._pump = pump
        self._backoff = [retry_initial_s] * len(pds)
        self._retry_at: dict[int, float] = {}
        self._reenable: set[int] = set()
        self._lock = threading.RLock()
        self._active = False  # set and read under _lock: refresh only while started
        self._refresh_errors = 0
        osdp_sys.set_loglevel(osdp_sys.LOG_ERROR)
        infos = [
            {
                "name": pd.name,
                "address": pd.address,
                "flags": pd.flags,
                "scbk": pd.scbk,
                "channel": channel,
                # PD identity fields: libosdp ignores them on the CP side.
                "version": 0,
                "model": 0,
                "vendor_code": 0,
                "serial_number": 0,
                "firmware_version": 0,
            }
            for pd in pds
        ]
        try:
            self._ctx: Any = osdp_sys.ControlPanel(infos)
        except Exception as exc:  # libosdp raises bare Exception/TypeError on bad pd_info
            raise ConfigurationRefused(f"{name}: libosdp refused the bus setup: {exc}") from exc
        self._ctx.set_event_callback(self._callback)

    @property
    def refresh_s(self) -> float:
        """Seconds between two refreshes."""
        return self._refresh_s

    def start(self) -> None:
        """Have the pump refresh this panel."""
        with self._lock:
            if self._active:
                return
            self._active = True
        self._pump.add(self)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop refreshing; no callback runs after this returns (unless ``timeout`` passed)."""
        self._pump.remove(self)
        # A refresh under way holds the lock: taking it waits for that refresh to end.
        if not self._lock.acquire(timeout=timeout):
            logger.error("%s: refresh did not end within %.1f s", self.name, timeout)
            return
        try:
            self._active = False
        finally:
            self._lock.release()

    def refresh_once(self) -> None:
        """One libosdp refresh, its after-refresh hook and due retries (the pump calls this)."""
        with self._lock:
            if not self._active:
                return
            try:
                self._ctx.refresh()
                if self._after_refresh is not None:
                    self._after_refresh()
                self._retry_offline()
            except Exception:  # a failing refresh must not stop the pump; log a few
                self._refresh_errors += 1
                if self._refresh_errors <= 10:
                    logger.exception("%s: libosdp refresh failed", self.name)

    def submit(self, pd: int, command: dict[str, Any]) -> bool:
        """Queue a command for a PD; False when libosdp refuses it (e.g. the PD is offline)."""
        with self._lock:
            try:
                return bool(self._ctx.submit_command(pd, command))
            except (ValueError, TypeError, KeyError) as exc:
                # Name the command only: a KEYSET carries a key.
                name = _COMMAND_NAMES.get(command.get("command"), "?")
                logger.warning("%s: %s command refused: %s", self.name, name, exc)
                return False

    def online_mask(self) -> int:
        """Bit i set: PD i is online."""
        with self._lock:
            return int(self._ctx.status())

    def secure_mask(self) -> int:
        """Bit i set: PD i has Secure Channel up."""
        with self._lock:
            return int(self._ctx.sc_status())

    def _callback(self, pd: int, event: dict[str, Any]) -> int:
        """libosdp's event callback: note link changes for the retry logic, pass it on."""
        try:
            if (
                event.get("event") == osdp_sys.EVENT_NOTIFICATION
                and event.get("type") == osdp_sys.EVENT_NOTIFICATION_PD_STATUS
            ):
                self._note_pd_status(pd, online=bool(event.get("arg0")))
            self._on_event(pd, event)
        except Exception:  # anything raised here would be left pending inside libosdp's C code
            # The event type only: keypad data may be a PIN (4-8-7(3)).
            logger.exception("%s: event handler failed on event %s", self.name, event.get("event"))
        return 0

    def _note_pd_status(self, pd: int, *, online: bool) -> None:
        """Online: forget the back-off. Offline (not by our own disable): schedule a retry."""
        if online:
            self._backoff[pd] = self._retry_initial_s
            self._retry_at.pop(pd, None)
        elif pd not in self._reenable:
            self._retry_at[pd] = time.monotonic() + self._backoff[pd]
            self._backoff[pd] = min(self._backoff[pd] * 2, self._retry_max_s)

    def _retry_offline(self) -> None:
        """Disable then (next round) enable PDs due for a retry: libosdp restarts them at once."""
        for pd in list(self._reenable):
            if self._ctx.enable_pd(pd):
                self._reenable.discard(pd)
        now = time.monotonic()
        for pd, due in list(self._retry_at.items()):
            if now >= due:
                del self._retry_at[pd]
                if self._ctx.disable_pd(pd):
                    self._reenable.add(pd)


def _check_settings(bus_id: str, port: str, readers: Sequence[OsdpReaderSettings]) -> None:
    """ConfigurationRefused unless the readers form a safe, valid bus."""
    if not port:
        raise ConfigurationRefused(f"OSDP bus {bus_id}: no serial port")
    if not readers:
        raise ConfigurationRefused(f"OSDP bus {bus_id}: no readers")
    seen_ids: set[str] = set()
    seen_addresses: set[int] = set()
    for r in readers:
        where = f"OSDP bus {bus_id}, reader {r.reader_id}"
        if r.reader_id in seen_ids:
            raise ConfigurationRefused(f"{where}: reader id used twice")
        if not 0 <= r.address <= 126:
            raise ConfigurationRefused(f"{where}: address {r.address} is not in 0-126")
        if r.address in seen_addresses:
            raise ConfigurationRefused(f"{where}: address {r.address} used twice on the bus")
        seen_ids.add(r.reader_id)
        seen_addresses.add(r.address)
        if not isinstance(r.scbk, bytes) or len(r.scbk) != KEY_LENGTH:
            size = len(r.scbk) if isinstance(r.scbk, bytes) else 0
            raise ConfigurationRefused(
                f"{where}: a Secure Channel key of {KEY_LENGTH} bytes is required (got {size})"
            )
        if r.scbk == SCBK_D:
            raise ConfigurationRefused(
                f"{where}: the default key SCBK-D is public; commission the reader first"
            )
        if len(set(r.scbk)) == 1:
            raise ConfigurationRefused(f"{where}: a key of one repeated byte is not a secret")


class OsdpBus:
    """A ReaderBus for the OSDP readers on one serial line (multi-drop RS-485)."""

    def __init__(
        self,
        bus_id: str,
        port: str,
        readers: Sequence[OsdpReaderSettings],
        *,
        baud: int = 115200,
        refresh_ms: float = 1.0,
        commissioning: bool = False,
    ) -> None:
        """Check the configuration; refuse SCBK-D and missing or trivial keys (4-8-7(3)).

        Install mode is off unless ``commissioning``: then libosdp gives a factory-fresh
        reader its configured key (KEYSET under SCBK-D) instead of refusing it. SCBK-D itself
        and empty keys are refused even then: libosdp 3.2.9 runs a reader without a key in
        clear text, which would put PINs on the wire unencrypted.
        """
        _check_settings(bus_id, port, readers)
        if baud not in OSDP_BAUD_RATES:
            raise ConfigurationRefused(f"OSDP bus {bus_id}: baud {baud} is not an OSDP rate")
        if not 0 < refresh_ms <= MAX_REFRESH_MS:
            raise ConfigurationRefused(
                f"OSDP bus {bus_id}: refresh_ms must be in (0, {MAX_REFRESH_MS:g}]"
            )
        self.bus_id = bus_id
        self.port = port
        self._readers = tuple(readers)
        self._index = {r.reader_id: i for i, r in enumerate(self._readers)}
        self._baud = baud
        self._refresh_s = refresh_ms / 1000.0
        self._commissioning = commissioning
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sink: DeviceEventSink | None = None
        self._running = False
        self._channel: SerialChannel | None = None
        self._panel: Panel | None = None
        n = len(self._readers)
        # Link state per PD, touched on the pump thread only.
        self._online = [False] * n
        self._secure = [False] * n
        self._scbk_d = [False] * n
        self._reported = [(False, False)] * n
        self._link_changed: set[int] = set()
        self._tamper: list[bool | None] = [None] * n

    @property
    def reader_ids(self) -> tuple[str, ...]:
        """Readers on this bus, in site-file order."""
        return tuple(r.reader_id for r in self._readers)

    def _pd_config(self, r: OsdpReaderSettings) -> PdConfig:
        """libosdp settings for one reader: Secure Channel enforced unless commissioning."""
        notify = osdp_sys.FLAG_ENABLE_NOTIFICATION
        if self._commissioning:
            # libosdp's install mode: Secure Channel with the reader's key, or else with SCBK-D
            # followed by KEYSET(reader's key). Not enforced: a reader without SC would be
            # accepted in clear (its ReaderLink then says secure=False).
            return PdConfig(r.reader_id, r.address, r.scbk, osdp_sys.FLAG_INSTALL_MODE | notify)
        return PdConfig(r.reader_id, r.address, r.scbk, osdp_sys.FLAG_ENFORCE_SECURE | notify)

    async def start(self, sink: DeviceEventSink) -> None:
        """Open the port and start polling; every reader is reported offline until it answers."""
        if self._running:
            raise DeviceError(f"OSDP bus {self.bus_id} is already started")
        loop = asyncio.get_running_loop()
        channel = SerialChannel(self.port, self._baud)
        detail = "waiting for the reader"
        try:
            channel.open()
        except LinkError as exc:
            detail = str(exc)  # the channel keeps retrying; the readers come up when it opens
        try:
            panel = Panel(
                self.bus_id,
                channel,
                [self._pd_config(r) for r in self._readers],
                self._on_event,
                after_refresh=self._report_links,
                refresh_s=self._refresh_s,
            )
        except BaseException:
            channel.close()
            raise
        self._loop, self._sink, self._channel, self._panel = loop, sink, channel, panel
        n = len(self._readers)
        self._online, self._secure, self._scbk_d = [False] * n, [False] * n, [False] * n
        self._reported = [(False, False)] * n
        self._link_changed = set()
        self._tamper = [None] * n
        self._running = True
        for r in self._readers:
            offline = ReaderLink(r.reader_id, online=False, secure=False, detail=detail)
            loop.call_soon(self._deliver, offline)
        panel.start()

    async def stop(self) -> None:
        """Stop polling and close the port; no event reaches the sink after this returns."""
        self._running = False
        panel, self._panel = self._panel, None
        channel, self._channel = self._channel, None
        if panel is not None:
            await asyncio.to_thread(panel.stop)
        if channel is not None:
            channel.close()

    def signal(self, reader_id: str, feedback: Feedback) -> None:
        """Show feedback on a reader's LED and buzzer; logs, never raises, on any failure."""
        pd = self._index.get(reader_id)
        panel = self._panel
        if pd is None:
            logger.warning("OSDP bus %s: signal for unknown reader %r", self.bus_id, reader_id)
            return
        if panel is None:
            logger.warning("OSDP bus %s: signal %s while stopped", self.bus_id, feedback)
            return
        for command in FEEDBACK_COMMANDS.get(feedback, ()):
            if not panel.submit(pd, command):
                logger.info(
                    "OSDP bus %s: %s command for %s not queued (reader offline?)",
                    self.bus_id,
                    _COMMAND_NAMES.get(command["command"], command["command"]),
                    reader_id,
                )

    # ------------------------------------------------------------- pump thread → loop

    def _deliver(self, event: DeviceEvent) -> None:
        """On the loop: hand an event to the sink unless the bus has been stopped."""
        if self._running and self._sink is not None:
            self._sink(event)

    def _post(self, event: DeviceEvent) -> None:
        """From the pump thread: schedule delivery on the loop."""
        loop = self._loop
        if loop is None or not self._running:
            return
        with contextlib.suppress(RuntimeError):  # the loop has been closed: nobody listens
            loop.call_soon_threadsafe(self._deliver, event)

    def _on_event(self, pd: int, event: dict[str, Any]) -> None:
        """Translate one libosdp event (pump thread); never raises into libosdp."""
        received_ns = time.perf_counter_ns()
        if not 0 <= pd < len(self._readers):
            logger.warning("OSDP bus %s: event for unknown PD %d", self.bus_id, pd)
            return
        reader_id = self._readers[pd].reader_id
        kind = event.get("event")
        if kind == osdp_sys.EVENT_CARDREAD:
            self._post(_card_event(reader_id, event, received_ns))
        elif kind == osdp_sys.EVENT_KEYPRESS:
            keys = "".join(_KEYPAD.get(b, "") for b in bytes(event.get("data", b"")))
            if keys:
                self._post(KeypadKeys(reader_id, keys, received_ns))
        elif kind == osdp_sys.EVENT_STATUS:
            self._on_status(pd, event)
        elif kind == osdp_sys.EVENT_NOTIFICATION:
            self._on_notification(pd, event)

    def _on_status(self, pd: int, event: dict[str, Any]) -> None:
        """A local status report carries the tamper switch (4-8-7(4)); report changes."""
        if event.get("type") != osdp_sys.STATUS_REPORT_LOCAL:
            return
        report = bytes(event.get("report", b""))
        if not report:
            return
        active = bool(report[0] & _TAMPER_BIT)
        if self._tamper[pd] != active:
            self._tamper[pd] = active
            self._post(ReaderTamper(self._readers[pd].reader_id, active))

    def _on_notification(self, pd: int, event: dict[str, Any]) -> None:
        """PD and Secure Channel status notifications become ReaderLink on every change."""
        kind = event.get("type")
        if kind == osdp_sys.EVENT_NOTIFICATION_PD_STATUS:
            self._online[pd] = bool(event.get("arg0"))
        elif kind == osdp_sys.EVENT_NOTIFICATION_SC_STATUS:
            self._secure[pd] = bool(event.get("arg0"))
            self._scbk_d[pd] = bool(event.get("arg1"))
        elif kind == osdp_sys.EVENT_NOTIFICATION_COMMAND:
            if not event.get("arg1"):  # libosdp passes non-zero on success
                name = _COMMAND_NAMES.get(event.get("arg0"), str(event.get("arg0")))
                logger.warning(
                    "OSDP bus %s: %s command to %s failed",
                    self.bus_id,
                    name,
                    self._readers[pd].reader_id,
                )
            return
        else:
            return
        self._link_changed.add(pd)

    def _report_links(self) -> None:
        """After a refresh: one ReaderLink per reader whose link state changed in it.

        libosdp reports a dropped link as "Secure Channel off" then "offline" in one refresh;
        settling first avoids a false "online without Secure Channel" in between.
        """
        while self._link_changed:
            self._report_link(self._link_changed.pop())

    def _report_link(self, pd: int) -> None:
        """Emit a ReaderLink for one reader if its (online, secure) state changed."""
        online = self._online[pd]
        secure = online and self._secure[pd] and not self._scbk_d[pd]
        if (online, secure) == self._reported[pd]:
            return
        self._reported[pd] = (online, secure)
        if online:
            detail = "secure channel with SCBK-D (install mode)" if self._scbk_d[pd] else ""
            detail = detail or ("secure channel up" if secure else "no secure channel")
        else:
            fault = self._channel.fault if self._channel is not None else None
            detail = fault or "no reply from the reader"
        reader_id = self._readers[pd].reader_id
        state = "online" if online else "offline"
        log = logger.info if online else logger.warning
        log("OSDP bus %s: reader %s %s (%s)", self.bus_id, reader_id, state, detail)
        self._post(ReaderLink(reader_id, online, secure, detail))


def _card_event(
    reader_id: str, event: dict[str, Any], received_ns: int
) -> CardRead | CardUnreadable:
    """A card read event as CardRead, or CardUnreadable when its bits do not decode."""
    data = bytes(event.get("data", b""))
    fmt = event.get("format")
    if fmt not in (osdp_sys.CARD_FMT_RAW_WIEGAND, osdp_sys.CARD_FMT_RAW_UNSPECIFIED):
        return CardUnreadable(
            reader_id, f"card data format {fmt} is not raw Wiegand", len(data) * 8, received_ns
        )
    bit_count = int(event.get("length", len(data) * 8))
    try:
        card = decode(data, bit_count)
    except WiegandError as exc:
        return CardUnreadable(reader_id, str(exc), bit_count, received_ns)
    return CardRead(reader_id, card, received_ns)
