"""The incident tables: incidents, their timeline and legal deadlines (blocking calls).

The service runs these on its own single worker thread, so changes to one incident never
interleave. ``change`` is the one way to modify an incident: a check-and-change function runs
inside one transaction, which a refusal (an exception) rolls back whole. The records a change
stages there (``gateway.intents``) commit with it; both calls return them for writing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from gateway.incidents.config import IncidentsConfig
from gateway.incidents.model import (
    IncidentState,
    IncidentStep,
    IncidentView,
    LegalDeadline,
    StepKind,
    UnknownIncident,
)
from gateway.intents import Staged, commit, stage
from gateway.records import NewRecord
from gateway.storage.models import IncidentDeadlineRow, IncidentRow, IncidentStepRow


@dataclass
class Loaded:
    """One incident's rows inside a transaction, for a check-and-change function."""

    session: Session
    incident: IncidentRow
    deadlines: list[IncidentDeadlineRow]

    def deadline(self, step: str) -> IncidentDeadlineRow | None:
        """The deadline row of ``step``, if the incident has one."""
        return next((d for d in self.deadlines if d.step == step), None)


class IncidentStore:
    """Reads and writes the incidents of one site."""

    def __init__(self, engine: Engine, site_id: str, config: IncidentsConfig) -> None:
        """Use ``engine`` for ``site_id``; ``config`` names the legal steps."""
        self._engine = engine
        self._site_id = site_id
        self._config = config

    def create(self, incident: IncidentRow, step: IncidentStepRow, rec: NewRecord) -> Staged:
        """Insert a new incident with its first step and stage its record; returns the record."""
        with Session(self._engine, expire_on_commit=False) as s:
            s.add(incident)
            s.flush()
            s.add(step)
            stage(s, self._site_id, rec)
            return commit(s)

    def change(self, incident_id: str, fn: Callable[[Loaded], list[IncidentStepRow]]) -> Staged:
        """Run ``fn`` on the incident's rows and commit with its steps; the records it staged."""
        with Session(self._engine, expire_on_commit=False) as s:
            row = s.get(IncidentRow, incident_id)
            if row is None or row.site_id != self._site_id:
                raise UnknownIncident(f"no incident {incident_id!r}")
            deadlines = list(
                s.exec(select(IncidentDeadlineRow).where(IncidentDeadlineRow.incident_id == row.id))
            )
            for step in fn(Loaded(s, row, deadlines)):
                s.add(step)
            s.add(row)
            return commit(s)

    def view(self, incident_id: str) -> IncidentView:
        """An incident with its deadlines and timeline; UnknownIncident when there is none."""
        with Session(self._engine) as s:
            row = s.get(IncidentRow, incident_id)
            if row is None or row.site_id != self._site_id:
                raise UnknownIncident(f"no incident {incident_id!r}")
            return self._view(s, row)

    def recent(self, *, open_only: bool = False, limit: int = 100) -> list[IncidentView]:
        """Incidents newest first."""
        with Session(self._engine) as s:
            stmt = select(IncidentRow).where(IncidentRow.site_id == self._site_id)
            if open_only:
                stmt = stmt.where(col(IncidentRow.closed_at).is_(None))
            rows = s.exec(stmt.order_by(col(IncidentRow.opened_at).desc()).limit(limit))
            return [self._view(s, r) for r in rows]

    def pending_deadlines(self) -> list[tuple[str, str, datetime]]:
        """(incident, step, due) of every legal step not done nor marked overdue yet."""
        with Session(self._engine) as s:
            rows = s.exec(
                select(IncidentDeadlineRow).where(
                    IncidentDeadlineRow.site_id == self._site_id,
                    col(IncidentDeadlineRow.done_at).is_(None),
                    IncidentDeadlineRow.overdue == False,  # noqa: E712 -- SQL comparison
                )
            )
            return [(d.incident_id, d.step, d.due_at) for d in rows]

    def _view(self, s: Session, row: IncidentRow) -> IncidentView:
        """Build the view of one incident inside an open session."""
        deadlines = s.exec(
            select(IncidentDeadlineRow)
            .where(IncidentDeadlineRow.incident_id == row.id)
            .order_by(col(IncidentDeadlineRow.due_at))
        )
        steps = s.exec(
            select(IncidentStepRow)
            .where(IncidentStepRow.incident_id == row.id)
            .order_by(col(IncidentStepRow.at), col(IncidentStepRow.id))
        )
        return IncidentView(
            incident_id=row.id,
            site_id=row.site_id,
            title=row.title,
            description=row.description,
            zone_id=row.zone_id,
            alarm_id=row.alarm_id,
            state=IncidentState.CLOSED if row.closed_at is not None else IncidentState.OPEN,
            opened_at=row.opened_at,
            opened_by=row.opened_by,
            personal_data=row.personal_data,
            root_cause=row.root_cause,
            measures=row.measures,
            closed_at=row.closed_at,
            closed_by=row.closed_by,
            deadlines=tuple(self._deadline(d) for d in deadlines),
            steps=tuple(
                IncidentStep(st.id, st.at, StepKind(st.kind), st.actor, st.text, dict(st.detail))
                for st in steps
            ),
        )

    def _deadline(self, d: IncidentDeadlineRow) -> LegalDeadline:
        """A deadline row with the step's names from the site file."""
        try:
            cfg = self._config.step(d.step)
            ja, en = cfg.ja, cfg.en
        except KeyError:  # a step the site file no longer lists
            ja = en = d.step
        return LegalDeadline(d.step, ja, en, d.due_at, d.done_at, d.done_by, d.overdue)
