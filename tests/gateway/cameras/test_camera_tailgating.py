"""Tailgating, pure: inward crossings of a door opening against its grants (4-8-7(1))."""

from __future__ import annotations

from gateway.cameras.tailgating import LEAD_NS, DoorCount

S = 1_000_000_000  # one second in ns
SETTLE = S + S // 2


def counted(crossings: list[int], grants: int, *, free: bool = False) -> DoorCount:
    """A door opened at 10 s, closed at 14 s, with these crossings and grants."""
    d = DoorCount("sr-door", "sr-cam", SETTLE)
    d.opened(10 * S, free=free)
    for seq in range(1, grants + 1):
        d.granted(seq)
    for t in crossings:
        d.crossing(t, inward=True)
    d.closed(14 * S)
    return d


def test_two_in_on_one_grant_is_tailgating_and_names_the_second_crossing() -> None:
    d = counted([11 * S, 12 * S], grants=1)
    assert d.due(14 * S + SETTLE - 1) == []  # not before the settle time
    (v,) = d.due(14 * S + SETTLE)
    assert v.tailgating
    assert (v.crossed, v.granted) == (2, 1)
    assert v.first_extra_ns == 12 * S
    assert d.due(30 * S) == []  # judged once


def test_as_many_in_as_granted_is_not_tailgating() -> None:
    (v,) = counted([11 * S], grants=1).due(20 * S)
    assert not v.tailgating
    assert v.first_extra_ns is None
    (v,) = counted([11 * S, 12 * S], grants=2).due(20 * S)
    assert not v.tailgating


def test_a_door_opened_without_a_grant_and_someone_slips_in() -> None:
    (v,) = counted([11 * S], grants=0).due(20 * S)
    assert v.tailgating and v.first_extra_ns == 11 * S


def test_a_door_held_free_is_not_judged() -> None:
    (v,) = counted([11 * S, 12 * S, 13 * S], grants=0, free=True).due(20 * S)
    assert not v.tailgating


def test_crossings_outside_any_opening_are_not_counted() -> None:
    d = DoorCount("sr-door", "sr-cam", SETTLE)
    assert d.crossing(5 * S, inward=True) is False  # the door was shut
    d.opened(10 * S, free=False)
    assert d.crossing(10 * S - LEAD_NS - 1, inward=True) is False  # long before it opened
    assert d.crossing(10 * S - LEAD_NS // 2, inward=True) is True  # camera/contact skew
    d.closed(14 * S)
    assert d.crossing(14 * S + SETTLE + 1, inward=True) is False  # after the settle
    (v,) = d.due(20 * S)
    assert v.crossed == 1


def test_outward_crossings_do_not_count_against_the_grants() -> None:
    d = DoorCount("sr-door", "sr-cam", SETTLE)
    d.opened(10 * S, free=False)
    d.granted(7)
    d.crossing(11 * S, inward=True)
    d.crossing(11 * S, inward=False)
    d.crossing(12 * S, inward=False)
    d.closed(13 * S)
    (v,) = d.due(20 * S)
    assert not v.tailgating
    assert v.opening.crossings_out == 2
    assert v.opening.decision_seqs == [7]


def test_a_grant_recorded_after_the_close_still_counts_for_that_opening() -> None:
    d = DoorCount("sr-door", "sr-cam", SETTLE)
    d.opened(10 * S, free=False)
    d.crossing(11 * S, inward=True)
    d.closed(12 * S)
    d.granted(3)  # its record was committed a moment after the contact closed
    d.granted(3)  # the same grant twice is one grant
    (v,) = d.due(20 * S)
    assert not v.tailgating and v.granted == 1


def test_crossings_go_to_the_opening_they_happened_in() -> None:
    d = DoorCount("sr-door", "sr-cam", SETTLE)
    d.opened(10 * S, free=False)
    d.granted(1)
    d.closed(11 * S)
    d.opened(11 * S + S // 10, free=False)  # opened again at once
    d.crossing(10 * S + S // 2, inward=True)  # falls in the first opening only
    d.crossing(12 * S, inward=True)
    d.crossing(12 * S + S // 2, inward=True)
    d.closed(13 * S)
    first, second = d.due(30 * S)
    assert (first.crossed, first.granted, first.tailgating) == (1, 1, False)
    assert (second.crossed, second.granted, second.tailgating) == (2, 0, True)
