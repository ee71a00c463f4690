"""A raw pseudo-terminal pair with a symlink to its slave end: a serial cable in software.

The simulated device keeps the master end; the gateway opens the symlink as if it were
``/dev/ttyUSB0``. The sim also keeps the slave end open, so the master never reads EIO while
the gateway is not (yet) connected.
"""

from __future__ import annotations

import contextlib
import os
import tty
from pathlib import Path


class PtyLink:
    """One pty pair, both ends raw, the master non-blocking, linked at ``link_path``."""

    def __init__(self, link_path: Path) -> None:
        """Remember where the link goes; nothing is created until ``open``."""
        self._link_path = Path(link_path)
        self._master: int | None = None
        self._slave: int | None = None
        self._slave_name = ""

    @property
    def link_path(self) -> Path:
        """The symlink the other side opens as its serial port."""
        return self._link_path

    @property
    def master_fd(self) -> int:
        """The master end (the device's side of the cable); ValueError when closed."""
        if self._master is None:
            raise ValueError(f"pty link {self._link_path} is not open")
        return self._master

    @property
    def is_open(self) -> bool:
        """True between ``open`` and ``close``."""
        return self._master is not None

    def open(self) -> None:
        """Create the pty pair and the symlink (replacing a stale symlink left behind)."""
        if self._master is not None:
            return
        if self._link_path.is_symlink():
            self._link_path.unlink()
        elif self._link_path.exists():
            raise FileExistsError(f"{self._link_path} exists and is not a symlink")
        master, slave = os.openpty()
        try:
            tty.setraw(master)
            tty.setraw(slave)
            os.set_blocking(master, False)
            self._slave_name = os.ttyname(slave)
            self._link_path.symlink_to(self._slave_name)
        except BaseException:
            os.close(master)
            os.close(slave)
            raise
        self._master, self._slave = master, slave

    def close(self) -> None:
        """Unlink the symlink (if it is still ours) and close both ends."""
        if self._master is None:
            return
        with contextlib.suppress(OSError):
            if self._link_path.is_symlink() and os.readlink(self._link_path) == self._slave_name:
                self._link_path.unlink()
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None

    def write(self, data: bytes) -> int:
        """Write toward the other side without blocking; bytes that do not fit are dropped."""
        if self._master is None:
            return 0
        try:
            return os.write(self._master, data)
        except OSError:  # EAGAIN (buffer full or empty) or the pty is gone
            return 0

    def read(self, max_bytes: int = 4096) -> bytes:
        """Read what the other side wrote, without blocking (b"" when nothing is there)."""
        if self._master is None:
            return b""
        try:
            return os.read(self._master, max_bytes)
        except OSError:  # EAGAIN (buffer full or empty) or the pty is gone
            return b""
