"""Record events come from the record log itself: a cursor says how far the broker has them.

Every published record (``payloads.publishes``) up to the cursor was acknowledged by the broker;
those after it are in the record log anyway (durable, gap-free ``seq``), so they are never
copied: after a restart or an outage they are read back from the log in ``seq`` order and sent.
Blocking database calls; the service runs them in a worker thread. One writer per site (the
service), and the cursor only moves forward.
"""

from __future__ import annotations

import logging

from sqlalchemy import ColumnElement, Engine, and_, func, insert, or_, select, update
from sqlmodel import SQLModel

from gateway.clock import utcnow
from gateway.mqtt.payloads import EVENT_PREFIXES, NEVER_PUBLISHED
from gateway.storage.models import RECORD_TABLE, MqttCursor
from gateway.storage.queries import MAX_LIMIT, StoredRecord, query_records

log = logging.getLogger(__name__)

TABLE = SQLModel.metadata.tables[MqttCursor.__tablename__]


def published_kinds() -> ColumnElement[bool]:
    """``payloads.publishes(record.kind)`` in SQL."""
    kind = RECORD_TABLE.c.kind
    return and_(
        kind.not_in(sorted(NEVER_PUBLISHED)),
        or_(*(kind.startswith(prefix, autoescape=True) for prefix in EVENT_PREFIXES)),
    )


class RecordCursor:
    """One site's delivery point in its record log (``mqtt_cursor``)."""

    def __init__(self, engine: Engine, site_id: str) -> None:
        """The cursor of ``site_id`` on ``engine``."""
        self._engine = engine
        self._site = site_id

    def open(self) -> tuple[int, int]:
        """``(cursor, head)``: the delivered seq and the log's highest seq now.

        A site without a cursor yet (MQTT turned on for the first time) starts at the log's
        head: records from before are not sent, as before the cursor existed.
        """
        site = self._site
        with self._engine.begin() as conn:
            head = int(
                conn.execute(
                    select(func.coalesce(func.max(RECORD_TABLE.c.seq), 0)).where(
                        RECORD_TABLE.c.site_id == site
                    )
                ).scalar_one()
            )
            stored = conn.execute(
                select(TABLE.c.delivered_seq).where(TABLE.c.site_id == site)
            ).scalar()
            if stored is None:
                conn.execute(
                    insert(TABLE).values(site_id=site, delivered_seq=head, updated_at=utcnow())
                )
                return head, head
            if int(stored) > head:  # a log shorter than what was delivered: not this log's cursor
                log.warning(
                    "MQTT cursor of %r at seq %d, beyond the record log's head %d: moved back",
                    site,
                    stored,
                    head,
                )
                conn.execute(
                    update(TABLE)
                    .where(TABLE.c.site_id == site)
                    .values(delivered_seq=head, updated_at=utcnow())
                )
                return head, head
        return int(stored), head

    def save(self, seq: int) -> None:
        """Move the cursor forward to ``seq`` (never back)."""
        with self._engine.begin() as conn:
            conn.execute(
                update(TABLE)
                .where(TABLE.c.site_id == self._site, TABLE.c.delivered_seq < seq)
                .values(delivered_seq=seq, updated_at=utcnow())
            )

    def load(self) -> int | None:
        """The stored cursor (None: none yet)."""
        with self._engine.connect() as conn:
            stored = conn.execute(
                select(TABLE.c.delivered_seq).where(TABLE.c.site_id == self._site)
            ).scalar()
        return None if stored is None else int(stored)

    def count_published(self, after: int, through: int) -> int:
        """Published records with ``after < seq <= through``."""
        if through <= after:
            return 0
        with self._engine.connect() as conn:
            n = conn.execute(
                select(func.count())
                .select_from(RECORD_TABLE)
                .where(
                    RECORD_TABLE.c.site_id == self._site,
                    RECORD_TABLE.c.seq > after,
                    RECORD_TABLE.c.seq <= through,
                    published_kinds(),
                )
            ).scalar()
        return int(n or 0)

    def read(self, after: int, through: int, limit: int) -> list[StoredRecord]:
        """Records (every kind) with ``after < seq <= through``, oldest first, at most ``limit``."""
        if through <= after:
            return []
        with self._engine.connect() as conn:
            return query_records(
                conn,
                self._site,
                after_seq=after,
                before_seq=through + 1,
                limit=min(limit, MAX_LIMIT),
                newest_first=False,
            )

    def nth_published(self, after: int, through: int, n: int) -> int | None:
        """The seq of the ``n``-th (1-based) published record after ``after``, up to ``through``."""
        with self._engine.connect() as conn:
            seq = conn.execute(
                select(RECORD_TABLE.c.seq)
                .where(
                    RECORD_TABLE.c.site_id == self._site,
                    RECORD_TABLE.c.seq > after,
                    RECORD_TABLE.c.seq <= through,
                    published_kinds(),
                )
                .order_by(RECORD_TABLE.c.seq)
                .offset(n - 1)
                .limit(1)
            ).scalar()
        return None if seq is None else int(seq)
