"""Coverage of outsiders by camera, pure: which camera watched which minutes (4-8-7(1))."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.cameras.coverage import CoverageBook, Visit

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def minutes(m: float) -> datetime:
    """T0 plus ``m`` minutes."""
    return T0 + timedelta(minutes=m)


def visit(person: str = "v1") -> Visit:
    """A visitor in the server room since T0."""
    return Visit(person, "visitor", "server-room", T0, entry_seq=41)


def test_a_visit_fully_covered_by_one_camera() -> None:
    book = CoverageBook({"server-room": ["cam-a"]})
    book.entered(visit(), healthy={"cam-a"})
    assert book.tracked("server-room", "v1")
    closed = book.left("server-room", "v1", minutes(12))
    assert closed is not None and not book.tracked("server-room", "v1")
    report = closed.report(minutes(12))
    assert report["minutes"] == 12.0
    assert report["covered_minutes"] == 12.0
    assert report["uncovered_minutes"] == 0.0
    assert report["entry_seq"] == 41
    assert report["cameras"] == [
        {"camera": "cam-a", "from": T0.isoformat(), "to": minutes(12).isoformat(), "minutes": 12.0}
    ]


def test_a_camera_lost_in_the_middle_leaves_a_gap_that_the_record_shows() -> None:
    book = CoverageBook({"server-room": ["cam-a", "cam-b"]})
    book.entered(visit(), healthy={"cam-a"})  # cam-b was down when they came in
    book.camera("cam-a", False, minutes(5))  # covered
    assert book.uncovered("server-room") == ["v1"]
    book.camera("cam-b", True, minutes(7))  # back: a new segment from cam-b
    assert book.uncovered("server-room") == []
    book.camera("cam-a", True, minutes(8))
    closed = book.left("server-room", "v1", minutes(10))
    assert closed is not None
    report = closed.report(minutes(10))
    spans = report["cameras"]
    assert isinstance(spans, list)
    cams = [(c["camera"], c["minutes"]) for c in spans]
    assert cams == [("cam-a", 5.0), ("cam-b", 3.0), ("cam-a", 2.0)]
    assert report["covered_minutes"] == 8.0
    assert report["uncovered_minutes"] == 2.0


def test_cameras_of_other_zones_do_not_count() -> None:
    book = CoverageBook({"server-room": ["cam-a"], "vault": ["cam-v"]})
    book.entered(visit(), healthy={"cam-v"})
    assert book.uncovered("server-room") == ["v1"]
    book.camera("cam-v", False, minutes(1))
    book.camera("cam-v", True, minutes(2))
    closed = book.left("server-room", "v1", minutes(3))
    assert closed is not None and closed.segments == []


def test_leaving_unknown_visitors_is_harmless() -> None:
    book = CoverageBook({"server-room": ["cam-a"]})
    assert book.left("server-room", "nobody", minutes(1)) is None
    assert book.visits() == []


def test_sync_follows_the_occupants_the_zone_publishes() -> None:
    book = CoverageBook({"server-room": ["cam-a"]})
    inside = [
        {"person_id": "v1", "person_kind": "visitor", "since": T0.isoformat(), "entry_seq": 7},
        {"person_id": "c1", "person_kind": "contractor", "since": minutes(1), "entry_seq": None},
    ]
    assert book.sync("server-room", inside, {"cam-a"}, minutes(2)) == []
    assert [v.person_id for v in book.visits()] == ["v1", "c1"]
    assert book.visits()[0].since == T0 and book.visits()[0].entry_seq == 7
    assert book.sync("server-room", inside, {"cam-a"}, minutes(3)) == []  # nothing new
    (ended,) = book.sync("server-room", inside[1:], {"cam-a"}, minutes(5))
    assert ended.person_id == "v1"
    assert ended.report(minutes(5))["covered_minutes"] == 5.0
    assert [v.person_id for v in book.visits()] == ["c1"]
