"""One thread that refreshes every libosdp control panel in the process, each on its own period.

libosdp must be refreshed about every millisecond for a card read to come through quickly, and
every refresh is a burst of Python calls (the channel's ``read``/``write``) under the GIL. A
thread per bus woke eight times a millisecond on an eight-bus site, and each wake-up took the
GIL from the event loop or the record writer; one thread for all buses wakes once.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

logger = logging.getLogger(__name__)


class Refreshable(Protocol):
    """A control panel the pump drives: its period and one refresh (which must not raise)."""

    @property
    def refresh_s(self) -> float:
        """Seconds between two refreshes."""
        ...

    def refresh_once(self) -> None:
        """Refresh once; never raises, never blocks."""
        ...


class RefreshPump:
    """Refreshes each added panel every ``refresh_s`` from one daemon thread.

    The thread starts with the first panel and ends when the last one is removed. A panel is
    refreshed at most once per round, in the order it was added; a slow round delays the next
    one rather than catching up.
    """

    def __init__(self, name: str = "osdp-refresh") -> None:
        """An idle pump (no thread until a panel is added)."""
        self.name = name
        self._lock = threading.Lock()
        self._due: dict[Refreshable, float] = {}  # panel → monotonic time of its next refresh
        self._changed = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """True while the pump's thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def add(self, panel: Refreshable) -> None:
        """Refresh ``panel`` from now on (at once, then every ``panel.refresh_s``)."""
        with self._lock:
            self._due[panel] = time.monotonic()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
        self._changed.set()

    def remove(self, panel: Refreshable) -> None:
        """Stop refreshing ``panel`` (a refresh already under way may still finish)."""
        with self._lock:
            self._due.pop(panel, None)
        self._changed.set()

    def _run(self) -> None:
        """Refresh the panels that are due, sleep until the next is, until none is left."""
        while True:
            with self._lock:
                if not self._due:
                    self._thread = None
                    return
                now = time.monotonic()
                due = [p for p, at in self._due.items() if at <= now]
                for p in due:
                    self._due[p] = now + p.refresh_s
                wake_at = min(self._due.values())
                self._changed.clear()
            for p in due:
                p.refresh_once()
            delay = wake_at - time.monotonic()
            if delay > 0:
                self._changed.wait(delay)


SHARED_PUMP = RefreshPump()
"""The pump every control panel uses unless it is given another (tests give their own)."""
