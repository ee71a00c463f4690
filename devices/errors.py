"""The one error root of every driver; library exceptions are translated into these here."""

from __future__ import annotations

from gateway.ports import DeviceFault


class DeviceError(DeviceFault):
    """Root of every error a driver raises."""


class ConfigurationRefused(DeviceError):
    """A driver was asked to run in an unsafe or impossible configuration."""


class LinkError(DeviceError):
    """The link to a device (serial port, TCP connection) failed or is down."""


class FrameError(DeviceError):
    """Bytes from a device did not form a valid frame (checksum, parity, length)."""


class WiegandError(FrameError):
    """Raw Wiegand bits did not decode: unsupported length, wrong byte count or a parity failure."""
