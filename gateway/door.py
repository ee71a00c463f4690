"""The door state machine, pure: (state, input, now) → (state, effects, next deadline).

Clause 4-8-7(4): door-forced and door-held-open alarms. Times are monotonic seconds supplied by
the caller; the machine never reads a clock and never does I/O — the runtime carries out its
effects (strike coil writes, records) and calls ``tick`` at the deadline it asks for.

A door may be held *free* (door modes unlocked and locked-open): the strike stays released, an
opening is not forced and staying open is not held-open.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from gateway.domain import DoorState
from gateway.records import RecordKind


class ReleaseKind(StrEnum):
    """Why the strike is released."""

    GRANT = "grant"  # a badge was granted: expect the person through (AccessTaken / NotTaken)
    REX = "rex"  # request-to-exit pressed
    DESK = "desk"  # momentary unlock from the security desk


@dataclass(frozen=True, slots=True)
class Passage:
    """One person a release is for, so the door's records can name them."""

    decision_seq: int
    person_id: str | None
    person_kind: str | None
    credential: str | None
    direction: str
    escorted_by: str | None = None


@dataclass(frozen=True, slots=True)
class DoorTimings:
    """A door's timings from the site file."""

    strike_s: float
    held_open_s: float
    prealarm_s: float
    rex_strike: bool


@dataclass(frozen=True, slots=True)
class Door:
    """Everything the machine knows about one door."""

    state: DoorState = DoorState.FAULT  # unknown until the module first answers
    contact_open: bool | None = None
    strike: bool = False  # strike coil energised (lock released)
    release_until: float | None = None  # when a momentary release ends
    opened_at: float | None = None  # when the current opening began
    release_kind: ReleaseKind | None = None
    passages: tuple[Passage, ...] = ()  # the grants waiting to be taken
    since: float = 0.0  # when ``state`` was entered
    faulted: bool = False  # a fault was recorded and its clearing is still to be recorded
    free: bool = False  # held released by the door mode (unlocked, locked-open)


@dataclass(frozen=True, slots=True)
class SetStrike:
    """Effect: energise (True) or de-energise the strike coil."""

    active: bool


@dataclass(frozen=True, slots=True)
class Emit:
    """Effect: write a door record of ``kind`` (with the passage it concerns, if any)."""

    kind: RecordKind
    passage: Passage | None = None
    detail: tuple[tuple[str, str], ...] = ()


Effect = SetStrike | Emit


@dataclass(frozen=True, slots=True)
class Step:
    """Result of one input: the new door, what to do, and when to call ``tick`` next."""

    door: Door
    effects: tuple[Effect, ...]
    deadline: float | None


def _deadline(d: Door, t: DoorTimings) -> float | None:
    times: list[float] = []
    if d.release_until is not None:
        times.append(d.release_until)
    if (
        not d.free
        and d.state in (DoorState.OPEN, DoorState.HELD_PREALARM)
        and d.opened_at is not None
    ):
        held_at = d.opened_at + t.held_open_s
        pre_at = held_at - t.prealarm_s
        times.append(pre_at if d.state is DoorState.OPEN and t.prealarm_s > 0 else held_at)
    return min(times) if times else None


def _step(d: Door, t: DoorTimings, effects: list[Effect]) -> Step:
    return Step(d, tuple(effects), _deadline(d, t))


def _enter(d: Door, state: DoorState, now: float, **changes: object) -> Door:
    if state is not d.state:
        changes["since"] = now
    return replace(d, state=state, **changes)  # type: ignore[arg-type]  # dataclass kwargs


def _taken(passages: tuple[Passage, ...]) -> list[Effect]:
    return [Emit(RecordKind.ACCESS_TAKEN, p) for p in passages]


def release(
    d: Door,
    t: DoorTimings,
    kind: ReleaseKind,
    now: float,
    passages: tuple[Passage, ...] = (),
) -> Step:
    """Release the strike for the strike time (a grant, REX or a desk unlock)."""
    effects: list[Effect] = []
    if d.state is DoorState.FAULT:
        return _step(d, t, effects)  # nothing can be driven; the caller has denied already
    if d.free:
        # Already released by the door mode: whoever was granted walks through.
        if d.contact_open:
            effects += _taken(passages)
            return _step(d, t, effects)
        return _step(replace(d, passages=d.passages + passages, release_kind=kind), t, effects)
    energise = kind is not ReleaseKind.REX or t.rex_strike
    if energise and not d.strike:
        effects.append(SetStrike(active=True))
    d = replace(d, strike=d.strike or energise, release_until=now + t.strike_s, release_kind=kind)
    if d.contact_open:
        effects += _taken(passages)
        if d.state is not DoorState.FORCED:
            d = _enter(d, DoorState.OPEN, now, opened_at=now, passages=())
        return _step(d, t, effects)
    d = _enter(d, DoorState.RELEASED, now, passages=d.passages + passages)
    return _step(d, t, effects)


def set_free(d: Door, t: DoorTimings, free: bool, now: float) -> Step:
    """Hold the door released (unlocked / locked-open modes) or return it to normal."""
    if d.free == free:
        return _step(d, t, [])
    if d.state is DoorState.FAULT:
        return _step(replace(d, free=free), t, [])
    effects: list[Effect] = []
    if free:
        if not d.strike:
            effects.append(SetStrike(active=True))
        state = DoorState.OPEN if d.contact_open else DoorState.RELEASED
        d = _enter(d, state, now, free=True, strike=True, release_until=None)
        return _step(d, t, effects)
    if d.strike:
        effects.append(SetStrike(active=False))
    for p in d.passages:
        effects.append(Emit(RecordKind.ACCESS_NOT_TAKEN, p))
    if d.contact_open:
        # Still open as the mode ends: the held-open clock starts now.
        d = _enter(d, DoorState.OPEN, now, free=False, strike=False, opened_at=now, passages=())
    else:
        d = _enter(d, DoorState.LOCKED, now, free=False, strike=False, opened_at=None, passages=())
    return _step(replace(d, release_until=None, release_kind=None), t, effects)


def contact(d: Door, t: DoorTimings, is_open: bool, now: float) -> Step:
    """The door position switch changed (or was first read)."""
    effects: list[Effect] = []
    if d.state is DoorState.FAULT:
        # First reading after a fault (or at start): come back in a safe state.
        if d.faulted:
            effects.append(Emit(RecordKind.DOOR_FAULT_CLEARED))
        d = replace(
            d,
            contact_open=is_open,
            release_until=None,
            passages=(),
            faulted=False,
            release_kind=None,
            strike=d.free,
        )
        effects.append(SetStrike(active=d.free))
        if is_open:
            d = _enter(d, DoorState.OPEN, now, opened_at=now)
        else:
            d = _enter(d, DoorState.RELEASED if d.free else DoorState.LOCKED, now, opened_at=None)
        return _step(d, t, effects)
    if is_open == d.contact_open:
        return _step(d, t, effects)
    d = replace(d, contact_open=is_open)
    if is_open:
        if d.state is DoorState.RELEASED:
            if d.passages:
                effects += _taken(d.passages)
            else:
                by = "unlocked" if d.free else (d.release_kind or "").lower()
                effects.append(Emit(RecordKind.DOOR_OPENED, None, (("by", by),)))
            d = _enter(d, DoorState.OPEN, now, opened_at=now, passages=())
        else:
            effects.append(Emit(RecordKind.DOOR_FORCED))
            d = _enter(d, DoorState.FORCED, now, opened_at=now)
        return _step(d, t, effects)
    was = d.state
    effects.append(Emit(RecordKind.DOOR_CLOSED, None, (("after", was.value),)))
    if d.free:
        return _step(_enter(d, DoorState.RELEASED, now, opened_at=None), t, effects)
    if d.strike:
        effects.append(SetStrike(active=False))
    d = _enter(
        d,
        DoorState.LOCKED,
        now,
        strike=False,
        release_until=None,
        opened_at=None,
        release_kind=None,
        passages=(),
    )
    return _step(d, t, effects)


def rex(d: Door, t: DoorTimings, now: float, release_strike: bool = True) -> Step:
    """Request-to-exit pressed: record it and release (unless the door mode forbids it)."""
    if d.state is DoorState.FAULT or not release_strike:
        return _step(d, t, [Emit(RecordKind.DOOR_REX)])
    step = release(d, t, ReleaseKind.REX, now)
    return Step(step.door, (Emit(RecordKind.DOOR_REX), *step.effects), step.deadline)


def tick(d: Door, t: DoorTimings, now: float) -> Step:
    """Time passed: end a momentary release, raise held-open pre-alarm and alarm when due."""
    effects: list[Effect] = []
    if d.release_until is not None and now >= d.release_until:
        if d.strike and not d.free:
            effects.append(SetStrike(active=False))
        d = replace(d, strike=d.free, release_until=None)
        if d.state is DoorState.RELEASED and not d.free:
            for p in d.passages:
                effects.append(Emit(RecordKind.ACCESS_NOT_TAKEN, p))
            d = _enter(d, DoorState.LOCKED, now, passages=(), release_kind=None)
    if (
        not d.free
        and d.state in (DoorState.OPEN, DoorState.HELD_PREALARM)
        and d.opened_at is not None
    ):
        held_at = d.opened_at + t.held_open_s
        if now >= held_at:
            effects.append(Emit(RecordKind.DOOR_HELD))
            d = _enter(d, DoorState.HELD, now)
        elif d.state is DoorState.OPEN and t.prealarm_s > 0 and now >= held_at - t.prealarm_s:
            effects.append(Emit(RecordKind.DOOR_HELD_PREALARM))
            d = _enter(d, DoorState.HELD_PREALARM, now)
    return _step(d, t, effects)


def link_lost(d: Door, t: DoorTimings, now: float, detail: str) -> Step:
    """The door's I/O module is unreachable: fault; the lock stays as its hardware leaves it."""
    if d.state is DoorState.FAULT and d.faulted:
        return _step(d, t, [])
    effects: list[Effect] = [Emit(RecordKind.DOOR_FAULT, None, (("detail", detail),))]
    if d.state is DoorState.RELEASED:
        effects += [Emit(RecordKind.ACCESS_NOT_TAKEN, p) for p in d.passages]
    d = _enter(
        d,
        DoorState.FAULT,
        now,
        contact_open=None,
        strike=False,
        release_until=None,
        opened_at=None,
        release_kind=None,
        passages=(),
        faulted=True,
    )
    return _step(d, t, effects)
