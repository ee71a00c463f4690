"""The store builder groups each person's rows: no reordering when they come grouped, and a
stable grouping (order within a person kept) when they do not."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.credential_store import _Owners

_CASES = st.integers(0, 8).flatmap(
    lambda people: st.tuples(
        st.just(people),
        st.lists(st.integers(0, people - 1), max_size=40) if people else st.just([]),
    )
)


@settings(max_examples=500)
@given(_CASES)
def test_grouping_is_a_stable_sort_by_person(case: tuple[int, list[int]]) -> None:
    people, owners = case
    o = _Owners()
    for person in owners:
        o.add(person)
    starts, order = o.group(people)
    expected = sorted(range(len(owners)), key=lambda row: (owners[row], row))
    got = list(range(len(owners))) if order is None else list(order)
    assert got == expected
    assert (order is None) == (owners == sorted(owners))  # grouped rows are not reordered
    assert len(starts) == people + 1
    assert starts[people] == len(owners)
    for p in range(people):
        assert [owners[r] for r in got[starts[p] : starts[p + 1]]] == [p] * owners.count(p)
