"""Zones at run time: live occupancy, anti-passback presence, escorts, lone occupants.

Clause 4-8-7(1): who is inside each zone now, since when, escorted by whom; outsiders whose
escort left raise "visitor astray"; a person alone longer than the zone allows raises "lone
occupant". The pure rules live in ``gateway.occupancy``; this service feeds them, keeps the
working state in the ``presence`` table and writes what happens to the log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from sqlalchemy import Engine, delete, insert, select

from gateway import occupancy as occ
from gateway.bus import Bus
from gateway.config.site import SiteConfig, ZoneConfig
from gateway.core_events import OccupancyChanged
from gateway.decision import Presence
from gateway.door import Passage
from gateway.recorder import Recorder
from gateway.records import NewRecord, RecordKind
from gateway.storage.models import PRESENCE_TABLE

log = logging.getLogger(__name__)


class ZoneService:
    """Occupancy and presence of every zone of the site."""

    def __init__(
        self,
        site: SiteConfig,
        engine: Engine,
        recorder: Recorder,
        bus: Bus,
        clock: Callable[[], datetime],
    ) -> None:
        self._site_id = site.site.id
        self._zones: dict[str, ZoneConfig] = {z.id: z for z in site.zones}
        self._engine = engine
        self._recorder = recorder
        self._bus = bus
        self._clock = clock
        self._occupancy = {z: occ.ZoneOccupancy(z) for z in self._zones}
        self._last_in: dict[tuple[str, str], datetime] = {}
        self._astray: set[tuple[str, str]] = set()  # (zone, visitor) with an open astray record
        self._lone: dict[str, asyncio.TimerHandle] = {}
        self._lone_raised: dict[str, str] = {}  # zone → person alone, alarm written
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="presence")

    # --- state --------------------------------------------------------------------------

    def load(self) -> None:
        """Read the saved presence (at start; runs in a worker thread)."""
        t = PRESENCE_TABLE.c
        with self._engine.connect() as conn:
            rows = conn.execute(select(PRESENCE_TABLE).where(t.site_id == self._site_id)).all()
        inside: dict[str, list[occ.Occupant]] = {z: [] for z in self._zones}
        for r in rows:
            if r.last_in is not None:
                self._last_in[(r.zone_id, r.person_id)] = r.last_in
            if r.inside and r.zone_id in inside:
                inside[r.zone_id].append(
                    occ.Occupant(r.person_id, r.person_kind, r.since, r.escorted_by, r.entry_seq)
                )
        for zone, people in inside.items():
            people.sort(key=lambda o: o.since)
            self._occupancy[zone] = occ.ZoneOccupancy(zone, tuple(people))

    def occupancy(self, zone_id: str) -> occ.ZoneOccupancy:
        """Who is inside a zone now."""
        return self._occupancy[zone_id]

    def presence(self, zone_id: str, person_id: str) -> Presence:
        """Whether a person is inside a zone, and when they last went in (anti-passback)."""
        z = self._occupancy.get(zone_id)
        inside = z is not None and z.find(person_id) is not None
        return Presence(inside, self._last_in.get((zone_id, person_id)))

    def close(self) -> None:
        """Stop timers and let pending presence writes finish."""
        for h in self._lone.values():
            h.cancel()
        self._writer.shutdown(wait=True)

    # --- what the doors report ----------------------------------------------------------

    def passed(self, zone_id: str, door_id: str, p: Passage) -> None:
        """A granted person went through a door of the zone (AccessTaken)."""
        if p.person_id is None or zone_id not in self._zones:
            return
        now = self._clock()
        z = self._occupancy[zone_id]
        if p.direction == "in":
            o = occ.Occupant(p.person_id, p.person_kind or "", now, p.escorted_by, p.decision_seq)
            z, effects = occ.enter(z, o)
            self._last_in[(zone_id, p.person_id)] = now
        else:
            z, effects = occ.leave(z, p.person_id)
        self._apply(zone_id, door_id, z, effects)

    def rex_exit(self, zone_id: str, door_id: str) -> None:
        """A door of the zone opened by request-to-exit."""
        if zone_id not in self._zones:
            return
        z, effects = occ.rex_exit(self._occupancy[zone_id], self._zones[zone_id].rex_attribution)
        self._apply(zone_id, door_id, z, effects)

    async def forgive(self, zone_id: str, person_id: str, actor: str, note: str | None) -> int:
        """An operator resets a person's passback state: out of the zone, no recent entry."""
        if zone_id not in self._zones:
            raise KeyError(zone_id)
        z, effects = occ.leave(self._occupancy[zone_id], person_id, by="forgiven")
        self._last_in.pop((zone_id, person_id), None)
        seq = await self._recorder.append(
            NewRecord(
                RecordKind.ZONE_PASSBACK_FORGIVEN,
                self._clock(),
                zone_id=zone_id,
                person_id=person_id,
                actor=actor,
                detail={"note": note} if note else {},
            )
        )
        self._apply(zone_id, None, z, tuple(e for e in effects if not isinstance(e, occ.Left)))
        return seq

    # --- effects ------------------------------------------------------------------------

    def _apply(
        self,
        zone_id: str,
        door_id: str | None,
        z: occ.ZoneOccupancy,
        effects: tuple[occ.Effect, ...],
    ) -> None:
        before = self._occupancy[zone_id]
        self._occupancy[zone_id] = z
        now = self._clock()
        for e in effects:
            if isinstance(e, occ.Left):
                self._save(
                    zone_id,
                    e.occupant.person_id,
                    e.occupant.person_kind,
                    inside=False,
                    now=now,
                    o=None,
                )
                if e.by == "rex_last_in":
                    self._write(
                        RecordKind.ZONE_EXIT_ATTRIBUTED,
                        zone_id,
                        door_id,
                        e.occupant.person_id,
                        {"by": "rex", "attribution": "last_in"},
                        person_kind=e.occupant.person_kind,
                    )
                if (zone_id, e.occupant.person_id) in self._astray:
                    self._astray.discard((zone_id, e.occupant.person_id))
                    self._write(
                        RecordKind.ESCORT_ASTRAY_CLEARED,
                        zone_id,
                        door_id,
                        e.occupant.person_id,
                        {"why": "outsider left"},
                        person_kind=e.occupant.person_kind,
                    )
            elif isinstance(e, occ.Entered):
                o = e.occupant
                self._save(zone_id, o.person_id, o.person_kind, inside=True, now=now, o=o)
                for v in z.occupants:
                    if v.escorted_by == o.person_id and (zone_id, v.person_id) in self._astray:
                        self._astray.discard((zone_id, v.person_id))
                        self._write(
                            RecordKind.ESCORT_ASTRAY_CLEARED,
                            zone_id,
                            door_id,
                            v.person_id,
                            {"why": "escort back", "escort": o.person_id},
                            person_kind=v.person_kind,
                        )
            elif isinstance(e, occ.LeftUnknown):
                self._write(
                    RecordKind.ZONE_EXIT_UNATTRIBUTED,
                    zone_id,
                    door_id,
                    None,
                    {"by": "rex", "why": e.reason, "inside": z.count},
                )
            elif isinstance(e, occ.VisitorAstray):
                self._astray.add((zone_id, e.visitor.person_id))
                self._write(
                    RecordKind.ESCORT_ASTRAY,
                    zone_id,
                    door_id,
                    e.visitor.person_id,
                    {"escort": e.escort_id},
                    person_kind=e.visitor.person_kind,
                )
        if z.occupants != before.occupants:
            self._lone_check(zone_id, z)
            self._bus.publish(
                OccupancyChanged(zone_id, tuple(_occupant_data(o) for o in z.occupants))
            )

    def _lone_check(self, zone_id: str, z: occ.ZoneOccupancy) -> None:
        limit = self._zones[zone_id].lone_occupant_alarm_s
        if limit is None:
            return
        alone = z.occupants[0].person_id if z.count == 1 else None
        raised = self._lone_raised.get(zone_id)
        if raised is not None and raised != alone:
            del self._lone_raised[zone_id]
            self._write(RecordKind.ZONE_LONE_OCCUPANT_CLEARED, zone_id, None, raised, {})
        timer = self._lone.pop(zone_id, None)
        if timer is not None:
            timer.cancel()
        if alone is not None and raised != alone:
            loop = asyncio.get_running_loop()
            self._lone[zone_id] = loop.call_later(limit, self._lone_due, zone_id, alone)

    def _lone_due(self, zone_id: str, person_id: str) -> None:
        self._lone.pop(zone_id, None)
        z = self._occupancy[zone_id]
        if z.count == 1 and z.occupants[0].person_id == person_id:
            self._lone_raised[zone_id] = person_id
            o = z.occupants[0]
            self._write(
                RecordKind.ZONE_LONE_OCCUPANT,
                zone_id,
                None,
                person_id,
                {"since": o.since.isoformat()},
                person_kind=o.person_kind,
            )

    def _write(
        self,
        kind: RecordKind,
        zone_id: str,
        door_id: str | None,
        person_id: str | None,
        detail: dict[str, object],
        *,
        person_kind: str | None = None,
    ) -> None:
        self._recorder.submit(
            NewRecord(
                kind,
                self._clock(),
                door_id=door_id,
                zone_id=zone_id,
                person_id=person_id,
                person_kind=person_kind,
                detail=detail,
            )
        )

    def _save(
        self,
        zone_id: str,
        person_id: str,
        kind: str,
        *,
        inside: bool,
        now: datetime,
        o: occ.Occupant | None,
    ) -> None:
        row = {
            "site_id": self._site_id,
            "zone_id": zone_id,
            "person_id": person_id,
            "person_kind": kind,
            "inside": inside,
            "since": now,
            "last_in": self._last_in.get((zone_id, person_id)),
            "escorted_by": o.escorted_by if o else None,
            "entry_seq": o.entry_seq if o else None,
        }
        self._writer.submit(self._upsert, row)

    def _upsert(self, row: dict[str, object]) -> None:
        t = PRESENCE_TABLE.c
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    delete(PRESENCE_TABLE).where(
                        t.site_id == row["site_id"],
                        t.zone_id == row["zone_id"],
                        t.person_id == row["person_id"],
                    )
                )
                conn.execute(insert(PRESENCE_TABLE).values(**row))
        except Exception:  # the in-memory state holds; the next change saves again
            log.exception("saving presence of %s in %s failed", row["person_id"], row["zone_id"])

    def flush(self) -> None:
        """Wait until every queued presence write is done (tests, shutdown)."""
        self._writer.submit(lambda: None).result()


def _occupant_data(o: occ.Occupant) -> dict[str, object]:
    return {
        "person_id": o.person_id,
        "person_kind": o.person_kind,
        "since": o.since.isoformat(),
        "escorted_by": o.escorted_by,
        "entry_seq": o.entry_seq,
    }
