"""Escort and two-person rules at one door, pure: who waits, who may enter together.

Clause 4-8-7(1): outsiders go in only with an escort (同行); a two-person zone opens only when
two different authorized people badge at its door within the window. Nobody enters on one
badge where either rule applies. Times are monotonic seconds supplied by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.decision import Companion


@dataclass(frozen=True, slots=True)
class Badger:
    """A person whose badge at this door passed every check but the companion rules."""

    person_id: str
    needs: Companion | None  # what they still need; None: may enter alone
    can_escort: bool  # staff, authorized for the zone
    at: float  # when they badged (monotonic seconds)
    token: int = 0  # the caller's handle (the seq of their decision record)


@dataclass(frozen=True, slots=True)
class Admit:
    """Someone who may go in now, and the escort they go in with (if an outsider)."""

    badger: Badger
    escort: Badger | None = None


@dataclass(frozen=True, slots=True)
class DoorQueue:
    """People waiting at the door, and recent escorts who went in alone."""

    waiting: tuple[Badger, ...] = ()
    recent: tuple[Badger, ...] = ()  # escort-capable people admitted within the window


def prune(q: DoorQueue, now: float, window_s: float) -> tuple[DoorQueue, tuple[Badger, ...]]:
    """Drop waiting people and recent escorts older than the window; returns who expired."""
    alive = tuple(b for b in q.waiting if now - b.at < window_s)
    expired = tuple(b for b in q.waiting if now - b.at >= window_s)
    recent = tuple(b for b in q.recent if now - b.at < window_s)
    return DoorQueue(alive, recent), expired


def offer(
    q: DoorQueue, b: Badger, now: float, window_s: float
) -> tuple[DoorQueue, tuple[Admit, ...], tuple[Badger, ...]]:
    """A new badge: returns the queue after it, who goes in now, and who expired meanwhile."""
    q, expired = prune(q, now, window_s)
    # A second badge of the same person replaces their earlier one: one person, one place.
    waiting = tuple(w for w in q.waiting if w.person_id != b.person_id)
    if b.needs is None:
        admits = [Admit(b)]
        recent = q.recent + ((b,) if b.can_escort else ())
        # Outsiders waiting for an escort go in with this one.
        still: list[Badger] = []
        for w in waiting:
            if w.needs is Companion.ESCORT and b.can_escort:
                admits.append(Admit(w, b))
            else:
                still.append(w)
        return DoorQueue(tuple(still), recent), tuple(admits), expired
    group, rest = _group((*waiting, b), q.recent)
    if not group:
        return DoorQueue((*waiting, b), q.recent), (), expired
    recent = q.recent + tuple(a.badger for a in group if a.badger.can_escort)
    return DoorQueue(rest, recent), group, expired


def _group(
    candidates: tuple[Badger, ...], recent: tuple[Badger, ...]
) -> tuple[tuple[Admit, ...], tuple[Badger, ...]]:
    """The largest set of waiting people whose needs the set itself (and recent escorts) meet."""
    members = list(candidates)
    while members:
        escorts = [m for m in members if m.can_escort]
        ok = []
        for m in members:
            if m.needs is Companion.ESCORT:
                escort = next((e for e in escorts if e.person_id != m.person_id), None)
                escort = escort or next((r for r in recent if r.person_id != m.person_id), None)
                if escort is None:
                    continue
                ok.append(Admit(m, escort))
            elif m.needs is Companion.SECOND_PERSON:
                if len(members) < 2:
                    continue
                ok.append(Admit(m))
            else:
                ok.append(Admit(m))
        if len(ok) == len(members):
            admitted = {a.badger.person_id for a in ok}
            rest = tuple(c for c in candidates if c.person_id not in admitted)
            return tuple(ok), rest
        kept = {a.badger.person_id for a in ok}
        members = [m for m in members if m.person_id in kept]
    return (), candidates
