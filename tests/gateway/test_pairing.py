"""Escort and two-person rules at a door (4-8-7(1)): nobody enters on one badge where a rule
applies, outsiders go in only with a staff escort, and waiting ends with the window."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.decision import Companion
from gateway.pairing import Badger, DoorQueue, offer, prune

W = 15.0


def staff(pid: str, at: float, needs: Companion | None = None) -> Badger:
    return Badger(pid, needs, can_escort=True, at=at)


def visitor(pid: str, at: float) -> Badger:
    return Badger(pid, Companion.ESCORT, can_escort=False, at=at)


def test_visitor_first_then_escort_goes_in_together() -> None:
    q, admits, _ = offer(DoorQueue(), visitor("v", 0.0), 0.0, W)
    assert admits == () and [b.person_id for b in q.waiting] == ["v"]
    q, admits, _ = offer(q, staff("s", 5.0), 5.0, W)
    assert [(a.badger.person_id, a.escort.person_id if a.escort else None) for a in admits] == [
        ("s", None),
        ("v", "s"),
    ]
    assert q.waiting == ()


def test_escort_first_then_visitor_within_the_window() -> None:
    q, admits, _ = offer(DoorQueue(), staff("s", 0.0), 0.0, W)
    assert [a.badger.person_id for a in admits] == ["s"]
    _, admits, _ = offer(q, visitor("v", 10.0), 10.0, W)
    assert admits[0].badger.person_id == "v" and admits[0].escort is not None
    # ... but not after the window
    _, late, _ = offer(q, visitor("v", 15.0), 15.0, W)
    assert late == ()


def test_two_visitors_never_escort_each_other() -> None:
    q, _, _ = offer(DoorQueue(), visitor("v1", 0.0), 0.0, W)
    q, admits, _ = offer(q, visitor("v2", 1.0), 1.0, W)
    assert admits == () and len(q.waiting) == 2


def test_two_person_rule_needs_two_different_people() -> None:
    q, admits, _ = offer(DoorQueue(), staff("a", 0.0, Companion.SECOND_PERSON), 0.0, W)
    assert admits == ()
    q, admits, _ = offer(q, staff("a", 1.0, Companion.SECOND_PERSON), 1.0, W)
    assert admits == () and len(q.waiting) == 1  # the same card twice is still one person
    _, admits, _ = offer(q, staff("b", 2.0, Companion.SECOND_PERSON), 2.0, W)
    assert sorted(a.badger.person_id for a in admits) == ["a", "b"]


def test_waiting_expires_with_the_window() -> None:
    q, _, _ = offer(DoorQueue(), visitor("v", 0.0), 0.0, W)
    q, expired = prune(q, 14.9, W)
    assert expired == ()
    q, expired = prune(q, 15.0, W)
    assert [b.person_id for b in expired] == ["v"] and q.waiting == ()


people = st.sampled_from(["s1", "s2", "v1", "v2", "c1"])


@st.composite
def badge(draw: st.DrawFn) -> tuple[str, Companion | None]:
    pid = draw(people)
    if pid.startswith("s"):
        return pid, draw(st.sampled_from([None, Companion.SECOND_PERSON]))
    return pid, Companion.ESCORT


@given(st.lists(st.tuples(badge(), st.floats(0.0, 20.0)), max_size=25))
def test_no_rule_is_ever_met_by_one_badge(
    seq: list[tuple[tuple[str, Companion | None], float]],
) -> None:
    q = DoorQueue()
    now = 0.0
    for (pid, needs), gap in seq:
        now += gap
        b = Badger(pid, needs, can_escort=pid.startswith("s"), at=now)
        q, admits, expired = offer(q, b, now, W)
        ids = [a.badger.person_id for a in admits]
        assert len(ids) == len(set(ids))
        for a in admits:
            if a.badger.needs is Companion.ESCORT:
                assert a.escort is not None and a.escort.can_escort
                assert a.escort.person_id != a.badger.person_id
                assert now - a.escort.at < W  # the escort badged within the window
            if a.badger.needs is Companion.SECOND_PERSON:
                assert len(admits) >= 2
        for e in expired:
            assert now - e.at >= W
        assert all(now - w.at < W for w in q.waiting)
        assert len({w.person_id for w in q.waiting}) == len(q.waiting)
