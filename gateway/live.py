"""Live updates for dashboards: bus events fanned out to per-subscriber bounded queues."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from enum import Enum

from gateway.bus import Bus
from gateway.core_api import LiveUpdate
from gateway.core_events import (
    AlarmChanged,
    DoorChanged,
    NotificationSent,
    OccupancyChanged,
    ReaderChanged,
    RecordWritten,
    SensorChanged,
)


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def record_data(seq: int, rec: object) -> dict[str, object]:
    """A record as JSON-ready data (the shape the events API returns)."""
    assert dataclasses.is_dataclass(rec)
    data = {f.name: _plain(getattr(rec, f.name)) for f in dataclasses.fields(rec)}
    data["seq"] = seq
    return data


def status_data(status: object) -> dict[str, object]:
    """A door or reader status as JSON-ready data."""
    assert dataclasses.is_dataclass(status)
    return {f.name: _plain(getattr(status, f.name)) for f in dataclasses.fields(status)}


class LiveFeed:
    """Fans bus events out to subscribers; a slow subscriber loses its oldest updates, not ours."""

    def __init__(self, bus: Bus, queue_size: int = 1000) -> None:
        self._queues: set[asyncio.Queue[LiveUpdate]] = set()
        self._size = queue_size
        # The data is built only when someone listens: with no dashboard open the badge path
        # pays nothing for it.
        bus.subscribe(RecordWritten, lambda e: self._put("record", record_data, e.seq, e.record))
        bus.subscribe(DoorChanged, lambda e: self._put("door", status_data, e.status))
        bus.subscribe(ReaderChanged, lambda e: self._put("reader", status_data, e.status))
        bus.subscribe(AlarmChanged, lambda e: self._put("alarm", status_data, e.alarm))
        bus.subscribe(SensorChanged, lambda e: self._put("sensor", status_data, e))
        bus.subscribe(NotificationSent, lambda e: self._put("notification", status_data, e))
        bus.subscribe(OccupancyChanged, lambda e: self._put("occupancy", status_data, e))

    @property
    def subscribers(self) -> int:
        """How many subscribers are listening."""
        return len(self._queues)

    def _put(self, kind: str, build: Callable[..., dict[str, object]], *args: object) -> None:
        """Hand every subscriber the update ``build(*args)`` makes (built once, if anyone)."""
        if not self._queues:
            return
        update = LiveUpdate(kind, build(*args))
        for q in self._queues:
            if q.full():
                q.get_nowait()
            q.put_nowait(update)

    async def updates(self) -> AsyncIterator[LiveUpdate]:
        """Iterate over updates from now on; leaving the loop unsubscribes."""
        q: asyncio.Queue[LiveUpdate] = asyncio.Queue(self._size)
        self._queues.add(q)
        try:
            while True:
                yield await q.get()
        finally:
            self._queues.discard(q)
