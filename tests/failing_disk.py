"""A record log behind a switch: while ``down`` every write fails as a broken disk would.

The log itself is real (``RecordLog`` on SQLite or PostgreSQL); only the disk's refusal is
played here, at the storage edge. The full-disk drill in ``tests/resilience/test_disk.py`` does
it with a real full file system.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass

from gateway.records import NewRecord
from gateway.storage.errors import WriteFailed
from gateway.storage.record_log import RecordLog

MESSAGE = "record not stored: disk I/O error"


@dataclass
class FailingDisk:
    """A record sink over ``log`` that refuses every write while ``down``."""

    log: RecordLog
    down: bool = False

    def start(self) -> None:
        """The log is started by whoever made it."""

    def close(self, timeout: float = 5.0) -> None:
        """The log is closed by whoever made it."""

    async def append(self, rec: NewRecord) -> int:
        """Append, unless down."""
        if self.down:
            raise WriteFailed(MESSAGE)
        return await self.log.append(rec)

    def submit(self, rec: NewRecord) -> Future[int]:
        """Submit, unless down (then a failed future, as the log gives)."""
        if self.down:
            fut: Future[int] = Future()
            fut.set_exception(WriteFailed(MESSAGE))
            return fut
        return self.log.submit(rec)
