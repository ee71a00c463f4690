"""The ``alarm`` table: the console's working state, written through on every transition.

Blocking database calls; the service runs them on its own single worker thread, in order.
A whole row is written each time, so a failed write heals at the alarm's next transition. An
operator's transition stages its record in the row's transaction (``gateway.intents``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from gateway.alarms.model import Alarm
from gateway.intents import Staged, commit, stage
from gateway.records import NewRecord
from gateway.storage.models import AlarmRow

_FIELDS = (
    "site_id",
    "type",
    "priority",
    "source",
    "zone_id",
    "door_id",
    "raised_at",
    "last_at",
    "count",
    "condition_active",
    "acknowledged_by",
    "acknowledged_at",
    "closed_by",
    "closed_at",
    "note",
    "escalated",
    "escalate_at",
)


def to_alarm(row: AlarmRow) -> Alarm:
    """A stored row as the domain value."""
    return Alarm(alarm_id=row.id, **{f: getattr(row, f) for f in _FIELDS})


class AlarmStore:
    """Reads and writes the alarms of one site."""

    def __init__(self, engine: Engine, site_id: str) -> None:
        """Use ``engine`` for ``site_id``'s alarms."""
        self._engine = engine
        self._site_id = site_id

    def open_alarms(self) -> list[Alarm]:
        """Every alarm not yet closed, oldest first."""
        with Session(self._engine) as s:
            rows = s.exec(
                select(AlarmRow)
                .where(AlarmRow.site_id == self._site_id, col(AlarmRow.closed_at).is_(None))
                .order_by(col(AlarmRow.raised_at))
            )
            return [to_alarm(r) for r in rows]

    def get(self, alarm_id: str) -> Alarm | None:
        """One alarm of this site, closed or not."""
        with Session(self._engine) as s:
            row = s.get(AlarmRow, alarm_id)
            return to_alarm(row) if row is not None and row.site_id == self._site_id else None

    def history(self, *, since: datetime | None = None, limit: int = 100) -> list[Alarm]:
        """Alarms of this site, newest first (closed ones included)."""
        with Session(self._engine) as s:
            stmt = select(AlarmRow).where(AlarmRow.site_id == self._site_id)
            if since is not None:
                stmt = stmt.where(col(AlarmRow.last_at) >= since)
            rows = s.exec(stmt.order_by(col(AlarmRow.last_at).desc()).limit(limit))
            return [to_alarm(r) for r in rows]

    def save(self, alarm: Alarm, rec: NewRecord | None = None) -> Staged:
        """Insert or overwrite the whole row of ``alarm`` (staging ``rec`` with it); ``rec``."""
        with Session(self._engine) as s:
            row = s.get(AlarmRow, alarm.alarm_id)
            if row is None:
                row = AlarmRow(id=alarm.alarm_id, **{f: getattr(alarm, f) for f in _FIELDS})
            else:
                for f in _FIELDS:
                    setattr(row, f, getattr(alarm, f))
            s.add(row)
            if rec is not None:
                stage(s, self._site_id, rec)
            return commit(s)
