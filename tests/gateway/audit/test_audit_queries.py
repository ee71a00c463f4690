"""The audit query's time order: newest event first, ties by seq, pages that never skip."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import Engine

from gateway.storage.queries import query_by_time
from gateway.storage.record_log import RecordLog
from tests.gateway.audit.audit_support import T0, append_all, record


def test_pages_follow_event_time_even_when_records_arrive_late(engine: Engine) -> None:
    """A record written late with an old ts (a retried write) sorts by its ts; equal ts by
    seq; paging with before_seq visits every record once."""
    log = RecordLog(engine, "hq")
    log.start()
    minutes = [0, 1, 2, 2, 2, 3, 1, 4]  # seq 7 arrives late with minute 1
    try:
        asyncio.run(
            append_all(
                log, [record(i, ts=T0 + timedelta(minutes=m)) for i, m in enumerate(minutes)]
            )
        )
    finally:
        log.close()
    with engine.connect() as conn:
        seen: list[int] = []
        before = None
        while True:
            page = query_by_time(conn, "hq", before_seq=before, limit=3)
            seen += [r.seq for r in page]
            if len(page) < 3:
                break
            before = page[-1].seq
        assert seen == [8, 6, 5, 4, 3, 7, 2, 1]
        window = query_by_time(
            conn, "hq", since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3),
            person_id="p1",
        )  # fmt: skip
        assert [r.seq for r in window] == [5, 2]
        assert query_by_time(conn, "hq", before_seq=999) == []
