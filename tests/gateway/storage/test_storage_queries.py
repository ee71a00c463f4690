"""Reading records back: each filter, inclusive/exclusive time bounds, keyset paging, counts."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session

from gateway.records import RecordKind
from gateway.storage.engine import make_engine
from gateway.storage.errors import QueryFailed
from gateway.storage.queries import (
    MAX_LIMIT,
    StoredRecord,
    count_records,
    get_record,
    query_records,
)
from gateway.storage.record_log import RecordLog
from tests.gateway.storage.storage_support import new_record

BASE = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
KINDS = (RecordKind.ACCESS, RecordKind.DOOR_OPENED, RecordKind.DOOR_FORCED)
COUNT = 40


@dataclass(frozen=True, slots=True)
class Written:
    """What the test wrote for one seq, to filter in Python as the oracle."""

    seq: int
    ts: datetime
    person_id: str
    door_id: str
    zone_id: str
    kind: str
    outcome: str | None


@pytest.fixture
def written(engine: Engine) -> Iterator[list[Written]]:
    """Forty records of site-a with varied fields (and a few of site-b that must never show)."""
    log, other = RecordLog(engine, "site-a"), RecordLog(engine, "site-b")
    log.start()
    other.start()
    rows = []
    try:
        for i in range(COUNT):
            kind = KINDS[i % 3]
            fields: dict[str, Any] = {
                "ts": BASE + timedelta(minutes=i),
                "person_id": f"p{i % 3}",
                "door_id": f"d{i % 2}",
                "zone_id": f"z{i % 4}",
                "kind": kind,
                "outcome": ("granted" if i % 4 else "denied")
                if kind is RecordKind.ACCESS
                else None,
            }
            seq = log.submit(new_record(**fields)).result(timeout=30)
            rows.append(Written(seq=seq, **{**fields, "kind": kind.value}))
            if i % 10 == 0:
                other.submit(new_record(**fields)).result(timeout=30)
        yield rows
    finally:
        log.close()
        other.close()


def _seqs(records: Sequence[StoredRecord]) -> list[int]:
    """The seqs of ``records`` in the order given."""
    return [r.seq for r in records]


FILTERS: list[dict[str, Any]] = [
    {},
    {"person_id": "p1"},
    {"door_id": "d0"},
    {"zone_id": "z3"},
    {"kinds": [RecordKind.DOOR_FORCED, RecordKind.DOOR_OPENED]},
    {"kinds": []},
    {"outcome": "denied"},
    {"since": BASE + timedelta(minutes=10)},
    {"until": BASE + timedelta(minutes=20)},
    {"since": BASE + timedelta(minutes=10), "until": BASE + timedelta(minutes=20)},
    {"person_id": "p2", "door_id": "d1", "kinds": ["access.decision"], "outcome": "granted"},
    {"after_seq": 5, "before_seq": 12},
    {"person_id": "nobody"},
]


def _oracle(rows: list[Written], f: dict[str, Any]) -> list[int]:
    """Seqs matching ``f`` by plain Python, ascending."""

    def keep(w: Written) -> bool:
        """True when ``w`` passes every filter in ``f``."""
        checks = [
            "person_id" not in f or w.person_id == f["person_id"],
            "door_id" not in f or w.door_id == f["door_id"],
            "zone_id" not in f or w.zone_id == f["zone_id"],
            "kinds" not in f or w.kind in {str(k) for k in f["kinds"]},
            "outcome" not in f or w.outcome == f["outcome"],
            "since" not in f or w.ts >= f["since"],
            "until" not in f or w.ts < f["until"],
            "after_seq" not in f or w.seq > f["after_seq"],
            "before_seq" not in f or w.seq < f["before_seq"],
        ]
        return all(checks)

    return [w.seq for w in rows if keep(w)]


def test_filters_select_exactly_the_matching_records(
    engine: Engine, written: list[Written]
) -> None:
    """Every filter alone and combined gives what a plain Python filter gives, in seq order."""
    with engine.connect() as conn:
        for filters in FILTERS:
            expected = _oracle(written, filters)
            newest = query_records(conn, "site-a", **filters)
            oldest = query_records(conn, "site-a", newest_first=False, **filters)
            assert _seqs(newest) == expected[::-1], filters
            assert _seqs(oldest) == expected, filters
            assert count_records(conn, "site-a", **filters) == len(expected), filters


def test_time_bounds_are_inclusive_since_and_exclusive_until(
    engine: Engine, written: list[Written]
) -> None:
    """A record stamped exactly at ``since`` is in; one exactly at ``until`` is out."""
    at_10, at_20 = written[10], written[20]
    with engine.connect() as conn:
        found = query_records(conn, "site-a", since=at_10.ts, until=at_20.ts, newest_first=False)
    assert found[0].seq == at_10.seq
    assert found[-1].seq == written[19].seq
    assert at_20.seq not in _seqs(found)


@pytest.mark.parametrize("newest_first", [True, False])
def test_keyset_paging_walks_every_record_once(
    engine: Engine, written: list[Written], newest_first: bool
) -> None:
    """Pages of 4, each continuing after the previous page's last seq, cover the filter once."""
    expected = _oracle(written, {"person_id": "p0"})
    pages: list[list[int]] = []
    cursor: int | None = None
    with engine.connect() as conn:
        while True:
            page = query_records(
                conn,
                "site-a",
                person_id="p0",
                limit=4,
                newest_first=newest_first,
                before_seq=cursor if newest_first else None,
                after_seq=None if newest_first else cursor,
            )
            if not page:
                break
            assert len(page) <= 4
            pages.append(_seqs(page))
            cursor = page[-1].seq
    walked = [seq for page in pages for seq in page]
    assert walked == (expected[::-1] if newest_first else expected)
    assert len(pages) == -(-len(expected) // 4)


def test_get_record_finds_one_record_of_its_site(engine: Engine, written: list[Written]) -> None:
    """get_record returns the record with every field; another site's or a missing seq is None."""
    with Session(engine) as session:
        record = get_record(session, "site-a", written[7].seq)
        assert get_record(session, "site-a", COUNT + 1) is None
        assert get_record(session, "site-c", 1) is None
    assert record is not None
    assert (record.site_id, record.seq, record.ts) == ("site-a", written[7].seq, written[7].ts)
    assert (record.person_id, record.door_id, record.kind) == ("p1", "d1", written[7].kind)
    assert record.detail == {"purpose": "maintenance"}


def test_queries_work_through_a_session_and_see_one_site_only(
    engine: Engine, written: list[Written]
) -> None:
    """A sqlmodel Session works as well as a Connection; site-b's records never show."""
    with Session(engine) as session:
        everything = query_records(session, "site-a", limit=MAX_LIMIT)
        assert count_records(session, "site-b") == 4
    assert len(everything) == COUNT
    assert {r.site_id for r in everything} == {"site-a"}


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"since": datetime(2026, 1, 1)}, "timezone-aware"),  # noqa: DTZ001  (the naive datetime under test)
        ({"until": datetime(2026, 1, 1)}, "timezone-aware"),  # noqa: DTZ001  (the naive datetime under test)
        ({"limit": 0}, "limit"),
        ({"limit": MAX_LIMIT + 1}, "limit"),
        ({"kinds": "access.decision"}, "sequence of kinds"),
    ],
)
def test_bad_arguments_are_value_errors(
    sqlite_url: str, kwargs: dict[str, Any], words: str
) -> None:
    """Naive bounds, a limit out of range and a bare string for kinds are refused."""
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as conn, pytest.raises(ValueError, match=words):
            query_records(conn, "site-a", **kwargs)
    finally:
        engine.dispose()


def test_a_failing_read_is_a_query_failed(sqlite_url: str) -> None:
    """A database without the record table gives QueryFailed, not a library exception."""
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as conn, pytest.raises(QueryFailed, match="record"):
            query_records(conn, "site-a")
    finally:
        engine.dispose()


def test_the_filters_are_served_from_indexes(engine: Engine, written: list[Written]) -> None:
    """The statements query_records runs can be answered by an index, not a full table scan.

    SQLite's plan is checked as it is; PostgreSQL prefers a sequential scan of a tiny table, so
    there the check is that an index plan exists once sequential scans are priced out.
    """
    statements: list[tuple[str, Any]] = []

    def capture(_c: object, _cur: object, statement: str, parameters: Any, *_: object) -> None:
        """Keep each statement with its parameters."""
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with engine.connect() as conn:
            query_records(conn, "site-a", person_id="p1", before_seq=30)
            query_records(conn, "site-a", since=BASE, until=BASE + timedelta(hours=1))
            query_records(conn, "site-a", door_id="d0", kinds=["door.opened"])
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if not sqlite:
            conn.exec_driver_sql("SET enable_seqscan = off")
        for statement, parameters in statements:
            explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            plan = " | ".join(
                str(row[-1]) for row in conn.exec_driver_sql(explain + statement, parameters)
            )
            if sqlite:
                assert "USING" in plan, plan
                assert not re.search(r"SCAN record(?! USING)", plan), plan
            else:
                assert "Index" in plan, plan
                assert "Seq Scan" not in plan, plan
