"""Tailgating, pure: people the camera saw go in during a door opening against its grants.

Clause 4-8-7(1) (入退の記録: every entry recorded): a door opening runs from the contact opening
to its closing. Granted entries are the door's ``door.access_taken`` records going in during
it; crossings are the camera's inward door-line crossings whose frames fall in it (a little
before it opened and ``settle`` after it closed, for timing skew and analysis lag). Once
``settle`` has passed after the close, more crossings than grants is tailgating. Openings of a
door held free (unlocked modes) are not judged: nobody badges there.

Times are ``time.perf_counter_ns()`` values, the clock camera frames are stamped with.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LEAD_NS = 1_000_000_000  # a crossing this long before the contact was seen open still counts


@dataclass(slots=True)
class Opening:
    """One opening of one door, as far as it is known."""

    door_id: str
    opened_ns: int
    free: bool  # the door was held free (unlocked / locked-open): not judged
    closed_ns: int | None = None
    decision_seqs: list[int] = field(default_factory=list)  # grants going in
    crossings_in: list[int] = field(default_factory=list)  # frame times of inward crossings
    crossings_out: int = 0


@dataclass(frozen=True, slots=True)
class Verdict:
    """A judged opening: tailgating when more went in than were granted."""

    opening: Opening
    camera_id: str

    @property
    def granted(self) -> int:
        """Grants going in during the opening."""
        return len(self.opening.decision_seqs)

    @property
    def crossed(self) -> int:
        """Inward crossings the camera saw."""
        return len(self.opening.crossings_in)

    @property
    def tailgating(self) -> bool:
        """More people went in than were granted."""
        return not self.opening.free and self.crossed > self.granted

    @property
    def first_extra_ns(self) -> int | None:
        """Frame time of the first crossing beyond the grants (the evidence frame)."""
        if not self.tailgating:
            return None
        return sorted(self.opening.crossings_in)[self.granted]


class DoorCount:
    """The openings of one door as one camera counts them."""

    def __init__(self, door_id: str, camera_id: str, settle_ns: int) -> None:
        """Count for ``door_id`` with ``camera_id``; judge ``settle_ns`` after each close."""
        self.door_id = door_id
        self.camera_id = camera_id
        self._settle = settle_ns
        self._open: Opening | None = None
        self._closed: list[Opening] = []  # closed, waiting for their settle time

    @property
    def current(self) -> Opening | None:
        """The opening in progress, if the door is open."""
        return self._open

    def opened(self, now_ns: int, *, free: bool) -> None:
        """The door's contact opened."""
        if self._open is None:
            self._open = Opening(self.door_id, now_ns, free)

    def closed(self, now_ns: int) -> None:
        """The door's contact closed."""
        if self._open is not None:
            self._open.closed_ns = now_ns
            self._closed.append(self._open)
            self._open = None

    def granted(self, decision_seq: int) -> None:
        """A grant going in was taken at this door (its ``door.access_taken`` record)."""
        target = self._open or (self._closed[-1] if self._closed else None)
        if target is not None and decision_seq not in target.decision_seqs:
            target.decision_seqs.append(decision_seq)

    def crossing(self, frame_ns: int, *, inward: bool) -> bool:
        """A door-line crossing; False when it falls in no opening (the door was shut).

        An opening that spans the frame's time takes it; failing that, the latest opening
        whose tolerance (``LEAD_NS`` before, ``settle`` after) does.
        """
        openings = [o for o in (self._open, *reversed(self._closed)) if o is not None]
        spans = [o for o in openings if o.opened_ns <= frame_ns <= (o.closed_ns or frame_ns)]
        near = [
            o
            for o in openings
            if o.opened_ns - LEAD_NS <= frame_ns
            and (o.closed_ns is None or frame_ns <= o.closed_ns + self._settle)
        ]
        candidates = spans or near
        if not candidates:
            return False
        target = candidates[0]
        if inward:
            target.crossings_in.append(frame_ns)
        else:
            target.crossings_out += 1
        return True

    def due(self, now_ns: int) -> list[Verdict]:
        """Openings whose settle time is over, judged, oldest first."""
        ready = [
            o
            for o in self._closed
            if o.closed_ns is not None and now_ns >= o.closed_ns + self._settle
        ]
        self._closed = [o for o in self._closed if o not in ready]
        return [Verdict(o, self.camera_id) for o in ready]
