"""Door state machine: release, AccessTaken / NotTaken, forced, held-open with pre-alarm, REX,
fault (4-8-7(4))."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway import door as sm
from gateway.domain import DoorState
from gateway.records import RecordKind

T = sm.DoorTimings(strike_s=5.0, held_open_s=30.0, prealarm_s=10.0, rex_strike=True)
P = sm.Passage(
    decision_seq=7, person_id="p1", person_kind="staff", credential="H10301:…001", direction="in"
)


def kinds(step: sm.Step) -> list[RecordKind]:
    return [e.kind for e in step.effects if isinstance(e, sm.Emit)]


def strikes(step: sm.Step) -> list[bool]:
    return [e.active for e in step.effects if isinstance(e, sm.SetStrike)]


def locked(now: float = 0.0) -> sm.Door:
    """A door after its module first reported it closed."""
    return sm.contact(sm.Door(), T, False, now).door


def test_first_reading_brings_the_door_up_locked_and_relocks_the_strike() -> None:
    step = sm.contact(sm.Door(), T, False, 0.0)
    assert step.door.state is DoorState.LOCKED
    assert strikes(step) == [False]
    assert kinds(step) == []  # start-up is not a fault clearing


def test_grant_then_open_is_access_taken_and_close_relocks() -> None:
    s = sm.release(locked(), T, sm.ReleaseKind.GRANT, 1.0, (P,))
    assert s.door.state is DoorState.RELEASED and strikes(s) == [True] and s.deadline == 6.0
    s = sm.contact(s.door, T, True, 2.0)
    assert s.door.state is DoorState.OPEN
    assert kinds(s) == [RecordKind.ACCESS_TAKEN]
    assert s.effects[0].passage == P  # type: ignore[union-attr]
    s = sm.contact(s.door, T, False, 4.0)
    assert s.door.state is DoorState.LOCKED and strikes(s) == [False]
    assert kinds(s) == [RecordKind.DOOR_CLOSED]


def test_grant_not_used_is_access_not_taken_at_strike_time() -> None:
    s = sm.release(locked(), T, sm.ReleaseKind.GRANT, 1.0, (P,))
    early = sm.tick(s.door, T, 5.9)
    assert early.door.state is DoorState.RELEASED and kinds(early) == []
    s = sm.tick(s.door, T, 6.0)
    assert s.door.state is DoorState.LOCKED
    assert strikes(s) == [False]
    assert kinds(s) == [RecordKind.ACCESS_NOT_TAKEN]


def test_opening_while_locked_is_forced_until_closed() -> None:
    s = sm.contact(locked(), T, True, 3.0)
    assert s.door.state is DoorState.FORCED and kinds(s) == [RecordKind.DOOR_FORCED]
    assert s.deadline is None  # forced stays until the door closes
    s = sm.contact(s.door, T, False, 9.0)
    assert s.door.state is DoorState.LOCKED
    assert kinds(s) == [RecordKind.DOOR_CLOSED]


def test_held_open_prealarm_then_alarm() -> None:
    s = sm.release(locked(), T, sm.ReleaseKind.GRANT, 0.0, (P,))
    s = sm.contact(s.door, T, True, 1.0)
    s = sm.tick(s.door, T, 5.0)  # strike relocks while the door stands open
    assert strikes(s) == [False] and s.door.state is DoorState.OPEN
    assert s.deadline == 21.0  # pre-alarm 10 s before the 30 s limit
    s = sm.tick(s.door, T, 21.0)
    assert s.door.state is DoorState.HELD_PREALARM and kinds(s) == [RecordKind.DOOR_HELD_PREALARM]
    assert s.deadline == 31.0
    s = sm.tick(s.door, T, 31.0)
    assert s.door.state is DoorState.HELD and kinds(s) == [RecordKind.DOOR_HELD]
    s = sm.contact(s.door, T, False, 40.0)
    assert s.door.state is DoorState.LOCKED and kinds(s) == [RecordKind.DOOR_CLOSED]


def test_rex_releases_and_the_opening_is_not_forced() -> None:
    s = sm.rex(locked(), T, 1.0)
    assert kinds(s) == [RecordKind.DOOR_REX] and strikes(s) == [True]
    s = sm.contact(s.door, T, True, 1.5)
    assert s.door.state is DoorState.OPEN and kinds(s) == [RecordKind.DOOR_OPENED]


def test_rex_on_a_mechanical_egress_door_shunts_without_the_strike() -> None:
    mech = sm.DoorTimings(5.0, 30.0, 10.0, rex_strike=False)
    s = sm.rex(sm.contact(sm.Door(), mech, False, 0).door, mech, 1.0)
    assert strikes(s) == []
    s2 = sm.contact(s.door, mech, True, 2.0)
    assert s2.door.state is DoorState.OPEN
    # an unused REX shunt ends at strike time; opening after it is forced
    s3 = sm.tick(s.door, mech, 6.0)
    assert s3.door.state is DoorState.LOCKED
    assert sm.contact(s3.door, mech, True, 7.0).door.state is DoorState.FORCED


def test_grant_while_the_door_is_already_open_is_taken_at_once() -> None:
    s = sm.contact(sm.release(locked(), T, sm.ReleaseKind.DESK, 0.0).door, T, True, 0.5)
    s = sm.release(s.door, T, sm.ReleaseKind.GRANT, 2.0, (P,))
    assert kinds(s) == [RecordKind.ACCESS_TAKEN] and s.door.state is DoorState.OPEN


def test_module_loss_is_a_fault_and_a_pending_grant_is_not_taken() -> None:
    s = sm.release(locked(), T, sm.ReleaseKind.GRANT, 0.0, (P,))
    s = sm.link_lost(s.door, T, 1.0, "timeout")
    assert s.door.state is DoorState.FAULT
    assert kinds(s) == [RecordKind.DOOR_FAULT, RecordKind.ACCESS_NOT_TAKEN]
    assert not s.door.strike and s.deadline is None
    assert sm.release(s.door, T, sm.ReleaseKind.GRANT, 2.0, (P,)).effects == ()
    back = sm.contact(s.door, T, False, 3.0)
    assert back.door.state is DoorState.LOCKED
    assert kinds(back) == [RecordKind.DOOR_FAULT_CLEARED] and strikes(back) == [False]


inputs = st.lists(
    st.one_of(
        st.tuples(st.just("release"), st.sampled_from(list(sm.ReleaseKind))),
        st.tuples(st.just("contact"), st.booleans()),
        st.tuples(st.just("rex"), st.none()),
        st.tuples(st.just("tick"), st.none()),
        st.tuples(st.just("lost"), st.none()),
    ),
    max_size=40,
)


@given(seq=inputs, gaps=st.lists(st.floats(0.0, 40.0), min_size=40, max_size=40))
def test_invariants_hold_for_any_input_sequence(
    seq: list[tuple[str, object]], gaps: list[float]
) -> None:
    d = sm.Door()
    now = 0.0
    taken = 0
    passages = 0
    for (op, arg), gap in zip(seq, gaps, strict=False):
        now += gap
        if op == "release":
            kind = sm.ReleaseKind(arg)
            p = P if kind is sm.ReleaseKind.GRANT else None
            if p is not None and d.state is not DoorState.FAULT:
                passages += 1
            step = sm.release(d, T, kind, now, (p,) if p else ())
        elif op == "contact":
            step = sm.contact(d, T, bool(arg), now)
        elif op == "rex":
            step = sm.rex(d, T, now)
        elif op == "tick":
            step = sm.tick(d, T, now)
        else:
            step = sm.link_lost(d, T, now, "x")
        d = step.door
        taken += sum(
            k in (RecordKind.ACCESS_TAKEN, RecordKind.ACCESS_NOT_TAKEN) for k in kinds(step)
        )
        # the strike is never energised at a closed, relocked or faulted door
        if d.state in (DoorState.LOCKED, DoorState.FAULT):
            assert not d.strike or d.release_until is not None
        if d.state is DoorState.FAULT:
            assert not d.strike and d.contact_open is None
        # a released or open door always has a deadline to come back
        if d.state in (DoorState.RELEASED, DoorState.OPEN, DoorState.HELD_PREALARM):
            assert step.deadline is not None
        if d.state in (DoorState.OPEN, DoorState.HELD_PREALARM, DoorState.HELD, DoorState.FORCED):
            assert d.contact_open
    # each grant ends as at most one AccessTaken/NotTaken (a newer grant may supersede one)
    assert taken <= passages


def test_a_module_unreachable_from_the_start_is_recorded_once() -> None:
    s = sm.link_lost(sm.Door(), T, 0.0, "connection refused")
    assert kinds(s) == [RecordKind.DOOR_FAULT]
    assert kinds(sm.link_lost(s.door, T, 1.0, "again")) == []


def test_free_mode_holds_the_strike_and_opening_is_not_forced() -> None:
    s = sm.set_free(locked(), T, True, 1.0)
    assert s.door.state is DoorState.RELEASED and strikes(s) == [True] and s.deadline is None
    s = sm.contact(s.door, T, True, 2.0)
    assert s.door.state is DoorState.OPEN and kinds(s) == [RecordKind.DOOR_OPENED]
    assert s.deadline is None  # no held-open alarm while free
    assert kinds(sm.tick(s.door, T, 1000.0)) == []
    s = sm.contact(s.door, T, False, 3.0)
    assert s.door.state is DoorState.RELEASED and strikes(s) == []  # stays released
    s = sm.set_free(s.door, T, False, 4.0)
    assert s.door.state is DoorState.LOCKED and strikes(s) == [False]


def test_ending_free_mode_while_open_starts_the_held_clock() -> None:
    s = sm.contact(sm.set_free(locked(), T, True, 0.0).door, T, True, 1.0)
    s = sm.set_free(s.door, T, False, 10.0)
    assert s.door.state is DoorState.OPEN and s.deadline == 10.0 + 30.0 - 10.0


def test_rex_without_release_records_but_keeps_the_strike() -> None:
    s = sm.rex(locked(), T, 1.0, release_strike=False)
    assert kinds(s) == [RecordKind.DOOR_REX] and strikes(s) == []
    assert sm.contact(s.door, T, True, 2.0).door.state is DoorState.FORCED


def test_a_free_door_back_from_fault_is_released_again() -> None:
    s = sm.set_free(sm.link_lost(locked(), T, 0.0, "x").door, T, True, 1.0)
    assert s.door.state is DoorState.FAULT and s.door.free
    back = sm.contact(s.door, T, False, 2.0)
    assert back.door.state is DoorState.RELEASED and strikes(back) == [True]
