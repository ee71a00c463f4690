"""Commission a factory-fresh OSDP reader: replace the public default key with its own.

This is the only code that uses install mode and SCBK-D (4-8-7(3): the reader's key must be a
secret before any PIN crosses the wire). It talks to one reader, alone, on its port:

1. a libosdp control panel in install mode, configured with the new key, opens a Secure
   Channel with SCBK-D (the reader is factory-fresh) and sends KEYSET with the new key inside
   it; libosdp then restarts the Secure Channel with the new key;
2. a second panel, with the new key and Secure Channel enforced (as ``OsdpBus`` runs), must
   see the reader come back online: only then has commissioning succeeded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import osdp_sys

from devices.errors import ConfigurationRefused, DeviceError
from devices.osdp_bus import KEY_LENGTH, OSDP_BAUD_RATES, SCBK_D, Panel, PdConfig
from devices.serial_channel import SerialChannel

logger = logging.getLogger(__name__)

_KEY_TYPE_SCBK = 1  # OSDP KEYSET key type: Secure Channel base key


class CommissioningFailed(DeviceError):
    """The reader did not take the new key (not factory-fresh, refused, or went silent)."""


class _Watch:
    """Link notifications of the single PD, moved from the panel thread onto the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start with the PD offline and no Secure Channel."""
        self._loop = loop
        self.online = False
        self.secure = False
        self.scbk_d = False
        self.saw_scbk_d = False  # a Secure Channel with SCBK-D came up at some point
        self.keyset_result: bool | None = None
        self._changed = asyncio.Event()

    def on_event(self, pd: int, event: dict[str, Any]) -> None:
        """Panel thread: forward notifications to the loop."""
        if event.get("event") == osdp_sys.EVENT_NOTIFICATION:
            note = (event.get("type"), event.get("arg0"), event.get("arg1"))
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._apply, note)

    def _apply(self, note: tuple[Any, Any, Any]) -> None:
        """Loop: update the state and wake waiters."""
        kind, arg0, arg1 = note
        if kind == osdp_sys.EVENT_NOTIFICATION_PD_STATUS:
            self.online = bool(arg0)
        elif kind == osdp_sys.EVENT_NOTIFICATION_SC_STATUS:
            self.secure, self.scbk_d = bool(arg0), bool(arg0) and bool(arg1)
            self.saw_scbk_d = self.saw_scbk_d or self.scbk_d
        elif kind == osdp_sys.EVENT_NOTIFICATION_COMMAND and arg0 == osdp_sys.CMD_KEYSET:
            self.keyset_result = bool(arg1)
        self._changed.set()

    async def until(self, condition: Callable[[], bool], deadline: float, failure: str) -> None:
        """Wait until ``condition()`` holds; CommissioningFailed(failure) at the deadline."""
        while not condition():
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                raise CommissioningFailed(failure)
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)


def _check_key(new_key: bytes) -> None:
    """ConfigurationRefused for a key that is not a fresh 16-byte secret."""
    if not isinstance(new_key, bytes) or len(new_key) != KEY_LENGTH:
        raise ConfigurationRefused(f"a Secure Channel key is {KEY_LENGTH} bytes")
    if new_key == SCBK_D:
        raise ConfigurationRefused("the new key must not be the public default key SCBK-D")
    if len(set(new_key)) == 1:
        raise ConfigurationRefused("a key of one repeated byte is not a secret")


def _run_panel(port: str, baud: int, pd: PdConfig, watch: _Watch) -> tuple[SerialChannel, Panel]:
    """Open the port and start a one-PD panel on it (LinkError if the port cannot open)."""
    channel = SerialChannel(port, baud)
    channel.open()
    try:
        panel = Panel(f"commission@{port}", channel, [pd], watch.on_event)
    except BaseException:
        channel.close()
        raise
    panel.start()
    return channel, panel


async def _shut(channel: SerialChannel, panel: Panel) -> None:
    """Stop a panel and close its port."""
    await asyncio.to_thread(panel.stop)
    channel.close()


async def commission(
    port: str, address: int, new_key: bytes, *, baud: int = 115200, timeout_s: float = 10.0
) -> None:
    """Give the factory-fresh reader at ``address`` on ``port`` the key ``new_key``."""
    _check_key(new_key)
    if not 0 <= address <= 126:
        raise ConfigurationRefused(f"OSDP address {address} is not in 0-126")
    if baud not in OSDP_BAUD_RATES:
        raise ConfigurationRefused(f"baud {baud} is not an OSDP rate")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    notify = osdp_sys.FLAG_ENABLE_NOTIFICATION

    watch = _Watch(loop)
    # Install mode: Secure Channel with the new key, else with SCBK-D and then KEYSET(new_key).
    fresh = PdConfig(f"fresh@{address}", address, new_key, osdp_sys.FLAG_INSTALL_MODE | notify)
    channel, panel = _run_panel(port, baud, fresh, watch)
    try:
        # Online in clear text does not count: install mode lets libosdp fall back to it.
        await watch.until(
            lambda: watch.saw_scbk_d or (watch.online and watch.secure and not watch.scbk_d),
            deadline,
            f"no Secure Channel with SCBK-D from address {address} on {port} within "
            f"{timeout_s:g} s: is the reader factory-fresh (install mode) and on this port?",
        )
        await watch.until(
            lambda: watch.keyset_result is not None or not watch.saw_scbk_d,
            deadline,
            "the reader opened a Secure Channel with SCBK-D but did not answer KEYSET",
        )
        if watch.keyset_result is False:
            raise CommissioningFailed("the reader refused the new key (KEYSET was NAKed)")
        await watch.until(
            lambda: watch.online and watch.secure and not watch.scbk_d,
            deadline,
            "the reader took the KEYSET but no Secure Channel came up with the new key",
        )
        if not watch.saw_scbk_d:
            logger.info("reader at address %d on %s already had this key", address, port)
    finally:
        await _shut(channel, panel)
    logger.info("reader at address %d on %s: new key set; verifying", address, port)

    verify = _Watch(loop)
    keyed = PdConfig(f"keyed@{address}", address, new_key, osdp_sys.FLAG_ENFORCE_SECURE | notify)
    channel, panel = _run_panel(port, baud, keyed, verify)
    try:
        await verify.until(
            lambda: verify.online and verify.secure and not verify.scbk_d,
            deadline,
            "the reader did not come back online with the new key",
        )
    finally:
        await _shut(channel, panel)
    logger.info("reader at address %d on %s: commissioned", address, port)
