"""The durable outbox: MQTT events stored before they are sent, deleted once the broker has them.

Blocking database calls; the service runs them in a worker thread. One writer per site (the
service), so ``id`` order is the order events happened in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, func, insert, select
from sqlmodel import SQLModel

from gateway.storage.models import MqttOutboxEntry

TABLE = SQLModel.metadata.tables[MqttOutboxEntry.__tablename__]


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """An event to deliver: topic, JSON payload, and when it happened."""

    topic: str
    payload: bytes
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event in the outbox, with its delivery-order id."""

    id: int
    topic: str
    payload: bytes
    created_at: datetime


class Outbox:
    """One site's rows of ``mqtt_outbox``."""

    def __init__(self, engine: Engine, site_id: str) -> None:
        """An outbox for ``site_id`` on ``engine``."""
        self._engine = engine
        self._site = site_id

    def add(self, events: Sequence[OutboxEvent]) -> None:
        """Store events in the order given, in one transaction."""
        if not events:
            return
        rows = [
            {
                "site_id": self._site,
                "created_at": e.created_at,
                "topic": e.topic,
                "payload": e.payload.decode(),
            }
            for e in events
        ]
        with self._engine.begin() as conn:
            # executemany without RETURNING runs the rows in list order on SQLite and on
            # psycopg, so ids keep the order; one row at a time cost 4x the CPU (75 µs/event).
            conn.execute(insert(TABLE), rows)

    def head(self, limit: int) -> list[StoredEvent]:
        """The oldest ``limit`` events, oldest first."""
        stmt = (
            select(TABLE.c.id, TABLE.c.topic, TABLE.c.payload, TABLE.c.created_at)
            .where(TABLE.c.site_id == self._site)
            .order_by(TABLE.c.id)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [
                StoredEvent(int(r.id), r.topic, r.payload.encode(), r.created_at)
                for r in conn.execute(stmt)
            ]

    def remove_through(self, last_id: int) -> int:
        """Delete every event up to and including ``last_id``; returns how many went."""
        with self._engine.begin() as conn:
            result = conn.execute(
                delete(TABLE).where(TABLE.c.site_id == self._site, TABLE.c.id <= last_id)
            )
            return int(result.rowcount)

    def count(self) -> int:
        """Events waiting."""
        with self._engine.connect() as conn:
            n = conn.scalar(
                select(func.count()).select_from(TABLE).where(TABLE.c.site_id == self._site)
            )
        return int(n or 0)
