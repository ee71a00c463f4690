"""Occupancy of a zone (4-8-7(1)): never negative, escorts and outsiders, REX attribution."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from gateway.config.site import RexAttribution
from gateway.occupancy import (
    Entered,
    Left,
    LeftUnknown,
    NotInside,
    Occupant,
    VisitorAstray,
    ZoneOccupancy,
    enter,
    leave,
    rex_exit,
)

T = datetime(2026, 11, 24, tzinfo=UTC)


def occ(pid: str, escort: str | None = None) -> Occupant:
    return Occupant(pid, "visitor" if escort else "staff", T, escort)


def test_enter_and_leave() -> None:
    z, fx = enter(ZoneOccupancy("sr"), occ("a"))
    assert z.count == 1 and isinstance(fx[0], Entered)
    z, fx = leave(z, "a")
    assert z.count == 0 and isinstance(fx[0], Left)


def test_leaving_twice_changes_nothing_and_says_so() -> None:
    z, fx = leave(ZoneOccupancy("sr"), "ghost")
    assert z.count == 0 and fx == (NotInside("ghost"),)


def test_escort_leaving_leaves_the_visitor_astray() -> None:
    z, _ = enter(ZoneOccupancy("sr"), occ("s"))
    z, _ = enter(z, occ("v", escort="s"))
    z, fx = leave(z, "s")
    assert z.count == 1
    assert [type(e) for e in fx] == [Left, VisitorAstray]
    assert isinstance(fx[1], VisitorAstray) and fx[1].visitor.person_id == "v"


def test_rex_exit_attribution() -> None:
    z, _ = enter(ZoneOccupancy("sr"), occ("a"))
    z, _ = enter(z, occ("b"))
    same, fx = rex_exit(z, RexAttribution.UNKNOWN)
    assert same.count == 2 and fx == (LeftUnknown("unattributed"),)
    z, fx = rex_exit(z, RexAttribution.LAST_IN)
    assert [o.person_id for o in z.occupants] == ["a"]
    assert isinstance(fx[0], Left) and fx[0].by == "rex_last_in"
    empty, fx = rex_exit(ZoneOccupancy("sr"), RexAttribution.LAST_IN)
    assert empty.count == 0 and fx == (LeftUnknown("empty"),)


ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("in"), st.sampled_from(["a", "b", "c"]), st.none() | st.sampled_from(["a", "b"])
        ),
        st.tuples(st.just("out"), st.sampled_from(["a", "b", "c"]), st.none()),
        st.tuples(st.just("rex"), st.sampled_from(list(RexAttribution)), st.none()),
    ),
    max_size=40,
)


@given(ops)
def test_occupancy_matches_a_set_model(seq: list[tuple[str, object, object]]) -> None:
    z = ZoneOccupancy("sr")
    model: set[str] = set()
    for op, a, b in seq:
        if op == "in":
            z, _ = enter(z, occ(str(a), b if b != a else None))  # type: ignore[arg-type]
            model.add(str(a))
        elif op == "out":
            z, _ = leave(z, str(a))
            model.discard(str(a))
        else:
            z, fx = rex_exit(z, a)  # type: ignore[arg-type]
            for e in fx:
                if isinstance(e, Left):
                    model.discard(e.occupant.person_id)
        assert z.count == len(model) >= 0
        assert {o.person_id for o in z.occupants} == model
        assert len(z.occupants) == len({o.person_id for o in z.occupants})
