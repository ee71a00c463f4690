"""The visitor log's passages from access records, pure (NIST SP 800-53 PE-8, 4-8-7(1))."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.records import RecordKind
from gateway.storage.queries import StoredRecord
from gateway.visits.log import escorts_in, passages

T0 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)


def rec(
    minute: int,
    zone: str,
    direction: str | None,
    *,
    kind: RecordKind = RecordKind.ACCESS_TAKEN,
    escort: str | None = None,
) -> StoredRecord:
    """A record as the doors write it, ``minute`` minutes after T0."""
    detail: dict[str, object] = {"decision_seq": minute}
    if escort is not None:
        detail["escorted_by"] = escort
    return StoredRecord(
        "hq",
        minute,
        T0 + timedelta(minutes=minute),
        kind.value,
        f"d-{zone}",
        zone,
        None,
        "v1",
        "visitor",
        None,
        direction,
        None,
        None,
        None,
        detail,
    )


def test_entries_pair_with_their_exits_per_zone_and_name_the_escort() -> None:
    records = [
        rec(0, "srv", "in", escort="e1"),
        rec(5, "vault", "in", escort="e2"),
        rec(9, "vault", "out"),
        rec(12, "srv", None, kind=RecordKind.ZONE_EXIT_ATTRIBUTED),
    ]
    assert escorts_in(records) == {"e1", "e2"}
    got = passages(records, {"e1": "Eiji", "e2": "Emi"})
    assert [(p.zone_id, p.escort_name, p.exit_by) for p in got] == [
        ("srv", "Eiji", "rex"),
        ("vault", "Emi", "badge"),
    ]
    assert got[1].exited_at is not None and got[1].entered_at is not None
    assert got[1].exited_at - got[1].entered_at == timedelta(minutes=4)


def test_an_open_entry_an_exit_without_entry_and_a_second_entry() -> None:
    records = [
        rec(0, "srv", "out"),  # in before the log's window (or tailgated in)
        rec(2, "srv", "in", escort="e1"),
        rec(4, "srv", "in", escort="e1"),  # in again: the first stay's exit is unknown
    ]
    got = passages(records, {})
    assert [(p.entered_at is None, p.exited_at is None, p.escort_id) for p in got] == [
        (True, False, None),
        (False, True, "e1"),
        (False, True, "e1"),
    ]
    assert got[1].escort_name is None  # no name known: the id is still there
