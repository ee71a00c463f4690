"""Camera coverage of outsiders, pure: which camera watched which minutes of a visit.

Clause 4-8-7(1): outsiders are escorted by staff *or watched by surveillance*. In a zone whose
escort policy says ``monitored_by_camera``, an outsider who entered without an escort is a
visit; while the zone's cameras show a good picture, each of them covers it. A camera going
offline, frozen or blinded ends its segment; coming back starts a new one. When the outsider
leaves, the visit's coverage is written to the log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(slots=True)
class Segment:
    """One camera covering a visit from ``start`` until ``end`` (None: still covering)."""

    camera_id: str
    start: datetime
    end: datetime | None = None


@dataclass(slots=True)
class Visit:
    """An outsider inside a camera-monitored zone without an escort."""

    person_id: str
    person_kind: str
    zone_id: str
    since: datetime
    entry_seq: int | None
    segments: list[Segment] = field(default_factory=list)

    def covering(self) -> set[str]:
        """Cameras covering the visit now."""
        return {s.camera_id for s in self.segments if s.end is None}

    def report(self, until: datetime) -> dict[str, object]:
        """The record detail: the visit, each camera's minutes, and the minutes nobody saw."""
        spans = [(s.camera_id, s.start, s.end or until) for s in self.segments]
        total = max(0.0, (until - self.since).total_seconds())
        covered = _union_seconds([(a, b) for _, a, b in spans])
        return {
            "entry_seq": self.entry_seq,
            "from": self.since.isoformat(),
            "to": until.isoformat(),
            "minutes": round(total / 60, 2),
            "covered_minutes": round(covered / 60, 2),
            "uncovered_minutes": round(max(0.0, total - covered) / 60, 2),
            "cameras": [
                {
                    "camera": cam,
                    "from": a.isoformat(),
                    "to": b.isoformat(),
                    "minutes": round((b - a).total_seconds() / 60, 2),
                }
                for cam, a, b in spans
            ],
        }


def _union_seconds(spans: list[tuple[datetime, datetime]]) -> float:
    """Seconds covered by at least one span."""
    total = 0.0
    end: datetime | None = None
    for a, b in sorted(spans):
        if end is None or a > end:
            total += (b - a).total_seconds()
            end = b
        elif b > end:
            total += (b - end).total_seconds()
            end = b
    return total


class CoverageBook:
    """Visits in progress and the cameras covering them."""

    def __init__(self, zone_cameras: dict[str, list[str]]) -> None:
        """``zone_cameras``: for each monitored zone, the cameras watching it."""
        self._zone_cameras = zone_cameras
        self._visits: dict[tuple[str, str], Visit] = {}

    def visits(self, zone_id: str | None = None) -> list[Visit]:
        """Visits in progress (in one zone)."""
        return [v for v in self._visits.values() if zone_id is None or v.zone_id == zone_id]

    def tracked(self, zone_id: str, person_id: str) -> bool:
        """True while a visit of this person in this zone is open."""
        return (zone_id, person_id) in self._visits

    def entered(self, visit: Visit, healthy: set[str]) -> None:
        """An outsider came in; the zone's healthy cameras start covering them."""
        for cam in self._zone_cameras.get(visit.zone_id, []):
            if cam in healthy:
                visit.segments.append(Segment(cam, visit.since))
        self._visits[(visit.zone_id, visit.person_id)] = visit

    def left(self, zone_id: str, person_id: str, at: datetime) -> Visit | None:
        """The outsider left; the closed visit (None when it was not tracked)."""
        visit = self._visits.pop((zone_id, person_id), None)
        if visit is not None:
            for s in visit.segments:
                if s.end is None:
                    s.end = at
        return visit

    def camera(self, camera_id: str, healthy: bool, at: datetime) -> None:
        """A camera's picture became good (``healthy``) or was lost."""
        for visit in self._visits.values():
            if camera_id not in self._zone_cameras.get(visit.zone_id, []):
                continue
            open_ = camera_id in visit.covering()
            if healthy and not open_:
                visit.segments.append(Segment(camera_id, at))
            elif not healthy and open_:
                for s in visit.segments:
                    if s.camera_id == camera_id and s.end is None:
                        s.end = at

    def sync(
        self,
        zone_id: str,
        outsiders: list[dict[str, object]],
        healthy: set[str],
        at: datetime,
    ) -> list[Visit]:
        """Bring the zone's visits in line with the unescorted outsiders inside now.

        ``outsiders`` are occupants as the zone publishes them (``person_id``,
        ``person_kind``, ``since``, ``entry_seq``); new ones start a visit covered by the
        ``healthy`` cameras, visits of those no longer there end. Returns the ended visits.
        """
        present = set()
        for o in outsiders:
            person = str(o.get("person_id"))
            present.add(person)
            if self.tracked(zone_id, person):
                continue
            entry = o.get("entry_seq")
            since = o.get("since")
            if isinstance(since, str):
                try:
                    since = datetime.fromisoformat(since)
                except ValueError:
                    since = at
            self.entered(
                Visit(
                    person,
                    str(o.get("person_kind") or ""),
                    zone_id,
                    since if isinstance(since, datetime) else at,
                    entry if isinstance(entry, int) else None,
                ),
                healthy,
            )
        ended = []
        for visit in self.visits(zone_id):
            if visit.person_id not in present:
                closed = self.left(zone_id, visit.person_id, at)
                if closed is not None:
                    ended.append(closed)
        return ended

    def uncovered(self, zone_id: str) -> list[str]:
        """Outsiders in the zone no camera covers now."""
        return [v.person_id for v in self.visits(zone_id) if not v.covering()]
