"""Turn the site file's device sections into driver objects that implement the core's ports."""

from __future__ import annotations

from pathlib import Path

from devices.errors import ConfigurationRefused
from devices.modbus_io import ModbusIOModule
from devices.osdp_bus import OsdpBus, OsdpReaderSettings
from devices.rdm6300 import Rdm6300Reader
from gateway.config.site import ReaderKind, SiteConfig
from gateway.ports import IOModule, ReaderBus


class KeyFileError(ConfigurationRefused):
    """A Secure Channel key file is missing, unreadable, badly formed or too open."""


def read_scbk(path: Path) -> bytes:
    """Read a 16-byte Secure Channel key (32 hex digits); refuse files others can read."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"{path}: cannot read the Secure Channel key ({exc})") from exc
    if mode & 0o077:
        raise KeyFileError(f"{path}: key file is readable by others (chmod 600 it)")
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise KeyFileError(f"{path}: not hex") from None
    if len(key) != 16:
        raise KeyFileError(f"{path}: a Secure Channel key is 16 bytes, this is {len(key)}")
    return key


def build_readers(site: SiteConfig, base: Path) -> list[ReaderBus]:
    """One OsdpBus per bus (multi-drop), one Rdm6300Reader per serial reader."""
    out: list[ReaderBus] = []
    for bus in site.osdp_buses:
        settings = [
            OsdpReaderSettings(r.id, r.address or 0, read_scbk(base / (r.scbk_file or "")))
            for r in site.readers
            if r.kind is ReaderKind.OSDP and r.bus == bus.id
        ]
        if settings:
            out.append(
                OsdpBus(bus.id, bus.port, settings, baud=bus.baud, refresh_ms=bus.refresh_ms)
            )
    for r in site.readers:
        if r.kind is ReaderKind.RDM6300:
            out.append(Rdm6300Reader(r.id, r.port or ""))
    return out


def build_modules(site: SiteConfig) -> list[IOModule]:
    """One ModbusIOModule per module, polling as many inputs as the site file uses."""
    used: dict[str, int] = {}
    for d in site.doors:
        for p in (d.contact_input, d.rex_input):
            if p is not None:
                used[d.module] = max(used.get(d.module, 0), p + 1)
    for r in site.readers:
        if r.tamper_input is not None:
            m = r.tamper_input.module
            used[m] = max(used.get(m, 0), r.tamper_input.point + 1)
    registers: dict[str, int] = {}  # environment sensors (issue 6): inputs and input registers
    for s in site.sensors:
        if s.input is not None:
            used[s.module] = max(used.get(s.module, 0), s.input + 1)
        if s.input_register is not None:
            registers[s.module] = max(registers.get(s.module, 0), s.input_register + 1)
    return [
        ModbusIOModule(
            m.id,
            m.host,
            m.port,
            device_id=m.device_id,
            input_count=max(8, used.get(m.id, 0)),
            register_count=registers.get(m.id, 0),
            poll_ms=m.poll_ms,
            timeout_s=m.timeout_s,
        )
        for m in site.modules
    ]
