"""The pure alarm state machine: transitions, refusals, and invariants under any sequence.

4-8-7(4)(5): raised → acknowledged → cleared → closed; closed only after acknowledgement and
clearing; repeats are counted; escalation only while unacknowledged.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.alarms import machine
from gateway.alarms.catalogue import CATALOGUE
from gateway.alarms.model import Alarm, AlarmRefused, AlarmState, Transition

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
FORCED = CATALOGUE["door.forced"]
BULK = CATALOGUE["audit.bulk_export"]


def new(escalation_s: float | None = 60.0) -> Alarm:
    """A freshly raised door-forced alarm."""
    alarm, transition = machine.open_alarm(
        "a1",
        "hq",
        FORCED,
        priority=2,
        escalation_s=escalation_s,
        source="door:d1",
        zone_id="srv",
        door_id="d1",
        at=T0,
    )
    assert transition is Transition.RAISED
    return alarm


def test_the_documented_path_raised_acknowledged_cleared_closed() -> None:
    a = new()
    assert a.state is AlarmState.RAISED and a.escalate_at == T0 + timedelta(seconds=60)
    a, t = machine.acknowledge(a, "op", " on my way ", at=T0, momentary=False)
    assert (a.state, t, a.acknowledged_by, a.note, a.escalate_at) == (
        AlarmState.ACKNOWLEDGED,
        Transition.ACKNOWLEDGED,
        "op",
        "on my way",
        None,
    )
    step = machine.clear(a)
    assert step is not None
    a, t = step
    assert (a.state, t) == (AlarmState.CLEARED, Transition.CLEARED)
    a, t = machine.close(a, "op", None, at=T0)
    assert (a.state, t, a.closed_by, a.note) == (
        AlarmState.CLOSED,
        Transition.CLOSED,
        "op",
        "on my way",
    )


def test_closing_before_ack_or_while_active_is_refused() -> None:
    a = new()
    with pytest.raises(AlarmRefused, match="acknowledged"):
        machine.close(a, "op", None, at=T0)
    a, _ = machine.acknowledge(a, "op", None, at=T0, momentary=False)
    with pytest.raises(AlarmRefused, match="still active"):
        machine.close(a, "op", None, at=T0)


def test_cleared_unacknowledged_then_acknowledged_then_closed() -> None:
    step = machine.clear(new())
    assert step is not None
    a = step[0]
    assert a.state is AlarmState.CLEARED and not a.acknowledged
    a, _ = machine.acknowledge(a, "op", None, at=T0, momentary=False)
    assert a.state is AlarmState.CLEARED and a.acknowledged
    assert machine.close(a, "op", "done", at=T0)[0].state is AlarmState.CLOSED


def test_a_repeat_while_active_counts_and_after_clearing_needs_a_fresh_ack() -> None:
    a, _ = machine.acknowledge(new(), "op", None, at=T0, momentary=False)
    a, t = machine.repeat(a, escalation_s=60, at=T0 + timedelta(seconds=5))
    assert (t, a.count, a.state, a.acknowledged_by) == (
        Transition.REPEATED,
        2,
        AlarmState.ACKNOWLEDGED,
        "op",
    )
    step = machine.clear(a)
    assert step is not None
    later = T0 + timedelta(seconds=30)
    a, _ = machine.repeat(step[0], escalation_s=60, at=later)
    assert (a.count, a.state, a.acknowledged_by, a.last_at) == (3, AlarmState.RAISED, None, later)
    assert a.escalate_at == later + timedelta(seconds=60)


def test_an_event_alarm_ends_its_condition_when_acknowledged() -> None:
    a, _ = machine.open_alarm(
        "b1",
        "hq",
        BULK,
        priority=2,
        escalation_s=None,
        source="account:alice",
        zone_id=None,
        door_id=None,
        at=T0,
    )
    assert a.state is AlarmState.RAISED and a.escalate_at is None
    a, _ = machine.acknowledge(a, "chief", None, at=T0, momentary=BULK.momentary)
    assert a.state is AlarmState.CLEARED
    assert machine.close(a, "chief", None, at=T0)[0].closed


def test_escalation_only_when_due_and_unacknowledged_and_only_once() -> None:
    a = new(escalation_s=10)
    assert machine.escalate(a, at=T0 + timedelta(seconds=9)) is None
    step = machine.escalate(a, at=T0 + timedelta(seconds=10))
    assert step is not None and step[0].escalated and step[1] is Transition.ESCALATED
    assert machine.escalate(step[0], at=T0 + timedelta(hours=1)) is None
    acked, _ = machine.acknowledge(new(escalation_s=10), "op", None, at=T0, momentary=False)
    assert machine.escalate(acked, at=T0 + timedelta(hours=1)) is None


def test_nothing_changes_a_closed_alarm_and_double_ack_is_refused() -> None:
    a, _ = machine.acknowledge(new(), "op", None, at=T0, momentary=False)
    with pytest.raises(AlarmRefused, match="already acknowledged by op"):
        machine.acknowledge(a, "op2", None, at=T0, momentary=False)
    step = machine.clear(a)
    assert step is not None
    closed, _ = machine.close(step[0], "op", None, at=T0)
    for act in (
        lambda: machine.acknowledge(closed, "op", None, at=T0, momentary=False),
        lambda: machine.close(closed, "op", None, at=T0),
        lambda: machine.repeat(closed, escalation_s=1, at=T0),
    ):
        with pytest.raises(AlarmRefused, match="closed"):
            act()
    assert machine.clear(closed) is None
    assert machine.escalate(closed, at=T0 + timedelta(days=1)) is None


def test_a_note_is_trimmed_and_bounded() -> None:
    a, _ = machine.acknowledge(new(), "op", "x" * 2000, at=T0, momentary=False)
    assert a.note is not None and len(a.note) == machine.NOTE_MAX


EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["repeat", "clear", "ack", "close", "escalate"]),
        st.integers(min_value=0, max_value=120),  # seconds after the previous event
        st.booleans(),  # momentary type?
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(EVENTS)
def test_any_sequence_keeps_the_invariants(events: list[tuple[str, int, bool]]) -> None:
    """Closed only after ack and clear; counts never fall; a closed alarm never changes."""
    a = new(escalation_s=30)
    now = T0
    acked_ever = False
    for name, dt, momentary in events:
        now += timedelta(seconds=dt)
        before = a
        try:
            if name == "repeat":
                a, _ = machine.repeat(a, escalation_s=30, at=now)
            elif name == "clear":
                a = (machine.clear(a) or (a, None))[0]
            elif name == "ack":
                a, _ = machine.acknowledge(a, "op", None, at=now, momentary=momentary)
                acked_ever = True
            elif name == "close":
                a, _ = machine.close(a, "op", None, at=now)
            else:
                a = (machine.escalate(a, at=now) or (a, None))[0]
        except AlarmRefused:
            assert a == before  # a refusal changes nothing
        assert a.count >= before.count
        assert a.last_at >= before.last_at
        if before.closed:
            assert a == before
        if a.closed:
            assert a.acknowledged and not a.condition_active and acked_ever
            assert a.state is AlarmState.CLOSED
        if a.state is AlarmState.RAISED:
            assert a.condition_active and not a.acknowledged
        if before.escalated:
            assert a.escalated  # escalation is never undone
        if a.acknowledged or a.closed:
            assert a.escalate_at is None
