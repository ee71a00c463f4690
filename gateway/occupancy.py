"""Live occupancy of one zone, pure: who is inside, since when, escorted by whom.

Clause 4-8-7(1) (入退の記録, outsiders escorted). Fed by passages the doors confirm (AccessTaken),
request-to-exit openings, and operator forgiveness; returns what the runtime must record.
Occupancy can never go below zero: an exit of someone not inside changes nothing and is noted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway.config.site import RexAttribution


@dataclass(frozen=True, slots=True)
class Occupant:
    """One person inside."""

    person_id: str
    person_kind: str
    since: datetime
    escorted_by: str | None = None
    entry_seq: int | None = None  # the access record that let them in


@dataclass(frozen=True, slots=True)
class Entered:
    """Effect: someone is now inside."""

    occupant: Occupant
    already_inside: bool = False  # they were inside already (passback): the entry is refreshed


@dataclass(frozen=True, slots=True)
class Left:
    """Effect: someone left (``by`` says how we know)."""

    occupant: Occupant
    by: str  # "badge", "rex_last_in", "forgiven"


@dataclass(frozen=True, slots=True)
class LeftUnknown:
    """Effect: the door opened from inside but nobody can be named as leaving."""

    reason: str  # "unattributed" or "empty"


@dataclass(frozen=True, slots=True)
class NotInside:
    """Effect: an exit by someone the zone did not have inside (tailgated in, or forgiven)."""

    person_id: str


@dataclass(frozen=True, slots=True)
class VisitorAstray:
    """Effect: an escort left while the outsider they brought in is still inside."""

    visitor: Occupant
    escort_id: str


Effect = Entered | Left | LeftUnknown | NotInside | VisitorAstray


@dataclass(frozen=True, slots=True)
class ZoneOccupancy:
    """Who is inside one zone, in order of entry."""

    zone_id: str
    occupants: tuple[Occupant, ...] = ()

    @property
    def count(self) -> int:
        """How many people are inside."""
        return len(self.occupants)

    def find(self, person_id: str) -> Occupant | None:
        """The occupant with this id, if inside."""
        return next((o for o in self.occupants if o.person_id == person_id), None)


def enter(z: ZoneOccupancy, o: Occupant) -> tuple[ZoneOccupancy, tuple[Effect, ...]]:
    """Someone went in."""
    already = z.find(o.person_id) is not None
    rest = tuple(x for x in z.occupants if x.person_id != o.person_id)
    return ZoneOccupancy(z.zone_id, (*rest, o)), (Entered(o, already),)


def leave(
    z: ZoneOccupancy, person_id: str, by: str = "badge"
) -> tuple[ZoneOccupancy, tuple[Effect, ...]]:
    """Someone went out."""
    o = z.find(person_id)
    if o is None:
        return z, (NotInside(person_id),)
    rest = tuple(x for x in z.occupants if x.person_id != person_id)
    effects: list[Effect] = [Left(o, by)]
    for v in rest:
        if v.escorted_by == person_id:
            effects.append(VisitorAstray(v, person_id))
    return ZoneOccupancy(z.zone_id, rest), tuple(effects)


def rex_exit(
    z: ZoneOccupancy, attribution: RexAttribution
) -> tuple[ZoneOccupancy, tuple[Effect, ...]]:
    """The door opened by request-to-exit: attribute it as the zone's rule says."""
    if not z.occupants:
        return z, (LeftUnknown("empty"),)
    if attribution is RexAttribution.LAST_IN:
        return leave(z, z.occupants[-1].person_id, by="rex_last_in")
    return z, (LeftUnknown("unattributed"),)
