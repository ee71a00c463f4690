"""The core's door to the record log: appends, publishes what was committed, retries failures.

A record whose write failed (disk full, database gone) is kept in memory and retried in order
every second until it is written — never dropped. Its ``ts`` keeps the time it happened.
Nothing overtakes a held record: while any are held, new records queue behind them, and an
awaited write first writes them (or fails as they do).

An outage of the log is said once, loudly, when it starts (a CRITICAL log line; the
``failing_since`` health flag; a ``StorageChanged`` on the bus, which the alarm console turns
into the ``system.storage_unavailable`` alarm) and recorded when it ends: a ``system`` record
``{"event": "storage_recovered", "since", "held", "error"}`` follows the held records, so the
log itself shows that it was unavailable and for how long (4-8-6(4)).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections import deque
from datetime import datetime
from typing import Protocol

from gateway.bus import Bus
from gateway.clock import utcnow
from gateway.core_events import RecordWritten, StorageChanged
from gateway.records import NewRecord, RecordKind

log = logging.getLogger(__name__)

RETRY_S = 1.0


class RecordSink(Protocol):
    """The durable log (``gateway.storage.record_log.RecordLog`` implements it)."""

    def start(self) -> None:
        """Open the log and start its writer."""

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then stop."""

    async def append(self, rec: NewRecord) -> int:
        """Append and wait for the durable commit; returns the seq."""

    def submit(self, rec: NewRecord) -> concurrent.futures.Future[int]:
        """Append without waiting; the future resolves after the durable commit."""


class Recorder:
    """Writes records through the log and announces each committed one on the bus."""

    def __init__(self, sink: RecordSink, bus: Bus) -> None:
        self._sink = sink
        self._bus = bus
        self._retry: deque[NewRecord] = deque()
        self._retry_task: asyncio.Task[None] | None = None
        self.failures = 0  # writes that failed at least once (for health and tests)
        self.failing_since: datetime | None = None  # health flag: the log is failing since then
        self._outage_error = ""
        self._held_peak = 0
        self._drain_lock = asyncio.Lock()

    @property
    def backlog(self) -> int:
        """Records waiting to be retried."""
        return len(self._retry)

    async def append(self, rec: NewRecord) -> int:
        """Write durably and wait; raises the log's error (the caller decides what it means).

        Held records go first: a record never overtakes one that happened before it.
        """
        if self._retry:
            await self._drain()
        seq = await self._sink.append(rec)
        self._bus.publish(RecordWritten(seq, rec))
        return seq

    def submit(self, rec: NewRecord) -> None:
        """Write durably without waiting; failures are retried, never dropped."""
        if self._retry:  # behind the held records, in order
            self._retry.append(rec)
            self._held_peak = max(self._held_peak, len(self._retry))
            self._ensure_retrying()
            return
        loop = asyncio.get_running_loop()
        fut = self._sink.submit(rec)
        fut.add_done_callback(lambda f: loop.call_soon_threadsafe(self._done, rec, f))

    def keep(self, rec: NewRecord, error: BaseException | None = None) -> None:
        """Queue a record whose write failed for retry."""
        self.failures += 1
        self._retry.append(rec)
        self._held_peak = max(self._held_peak, len(self._retry))
        if self.failing_since is None:
            self.failing_since = utcnow()
            self._outage_error = str(error or "write failed")[:200]
            log.critical(
                "record log unavailable (%s): records are held in memory and retried every "
                "%.0f s; grants are refused (doors stay locked) until it recovers",
                self._outage_error,
                RETRY_S,
            )
            self._bus.publish(StorageChanged(self.failing_since, self._outage_error))
        self._ensure_retrying()

    def _ensure_retrying(self) -> None:
        """Start the retry loop unless it runs."""
        if self._retry_task is None or self._retry_task.done():
            self._retry_task = asyncio.get_running_loop().create_task(self._retry_loop())

    def _done(self, rec: NewRecord, fut: concurrent.futures.Future[int]) -> None:
        exc = fut.exception()
        if exc is None:
            self._bus.publish(RecordWritten(fut.result(), rec))
            return
        log.error("record %s not written yet (%s); kept for retry", rec.kind.value, exc)
        self.keep(rec, exc)

    async def _retry_loop(self) -> None:
        """Every RETRY_S, try to write the held records."""
        while self._retry:
            await asyncio.sleep(RETRY_S)
            try:
                await self._drain()
            except Exception as exc:  # noqa: BLE001 -- any storage failure: wait and retry
                log.warning("record retry failed (%s); %d waiting", exc, len(self._retry))
        log.info("record backlog written")

    async def _drain(self) -> None:
        """Write the held records in order (then the outage's record); raises the log's error."""
        async with self._drain_lock:
            while self._retry:
                rec = self._retry[0]
                seq = await self._sink.append(rec)
                self._retry.popleft()
                self._bus.publish(RecordWritten(seq, rec))
                if not self._retry and self.failing_since is not None:
                    self._retry.append(self._recovery_record())

    def _recovery_record(self) -> NewRecord:
        """The backlog is written: the record of the outage that just ended."""
        since, self.failing_since = self.failing_since, None
        assert since is not None
        held, self._held_peak = self._held_peak, 0
        now = utcnow()
        log.warning(
            "record log recovered after %.1f s; %d held record(s) written in order",
            (now - since).total_seconds(),
            held,
        )
        self._bus.publish(StorageChanged(None, ""))
        return NewRecord(
            RecordKind.SYSTEM,
            now,
            detail={
                "event": "storage_recovered",
                "since": since.isoformat(),
                "held": held,
                "error": self._outage_error,
            },
        )

    async def close(self) -> None:
        """Try once more to write the backlog, then stop retrying."""
        if self._retry_task is not None:
            self._retry_task.cancel()
        while self._retry:
            try:
                await self.append(self._retry[0])
            except Exception:  # noqa: BLE001 -- shutting down: say what is lost and stop
                log.critical("%d records could not be written before shutdown", len(self._retry))
                return
            self._retry.popleft()
