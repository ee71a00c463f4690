"""Periodic analysis (4-8-6(3)): findings with counts and seqs, periods in site-local time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from api.accounts import create_account
from gateway.analysis.periods import last_complete, next_local, period_containing
from gateway.audit.scheduler import AuditSchedule
from gateway.config.site import SiteConfig
from gateway.records import NewRecord, RecordKind
from gateway.storage.queries import get_record
from gateway.storage.record_log import RecordLog
from tests.api.api_env import SITE
from tests.gateway.audit.audit_support import append_all, record

TOKYO = ZoneInfo("Asia/Tokyo")
MONDAY = datetime(2026, 11, 2, tzinfo=TOKYO)  # local midnight
NOW = datetime(2026, 11, 3, 3, 0, tzinfo=TOKYO).astimezone(UTC)  # Tuesday 03:00 local


def _at(i: int, day: datetime, hour: int, kind: RecordKind, **detail: str) -> NewRecord:
    """Record ``i`` of ``kind`` at ``hour`` o'clock (UTC) of ``day``, with ``detail``."""
    return record(i, ts=day + timedelta(hours=hour), kind=kind, detail=detail)


def test_periods_follow_the_local_calendar() -> None:
    """Days, ISO weeks and months end at local midnight; runs happen at local HH:MM."""
    assert last_complete("daily", NOW, TOKYO) == (
        MONDAY.astimezone(UTC),
        (MONDAY + timedelta(days=1)).astimezone(UTC),
    )
    start, end = last_complete("weekly", NOW, TOKYO)
    assert start.astimezone(TOKYO) == datetime(2026, 10, 26, tzinfo=TOKYO) and end == MONDAY
    start, end = last_complete("monthly", NOW, TOKYO)
    assert start.astimezone(TOKYO) == datetime(2026, 10, 1, tzinfo=TOKYO)
    assert end.astimezone(TOKYO) == datetime(2026, 11, 1, tzinfo=TOKYO)
    assert (
        period_containing("monthly", datetime(2026, 12, 31, 20, tzinfo=UTC), TOKYO)[0]
        .astimezone(TOKYO)
        .month
        == 1
    )
    assert next_local("02:00", NOW, TOKYO).astimezone(TOKYO) == datetime(
        2026, 11, 4, 2, 0, tzinfo=TOKYO
    )
    assert next_local("04:00", NOW, TOKYO).astimezone(TOKYO) == datetime(
        2026, 11, 3, 4, 0, tzinfo=TOKYO
    )
    with pytest.raises(ValueError, match="unknown period"):
        period_containing("hourly", NOW, TOKYO)


async def test_daily_report_counts_each_finding_and_lists_its_records(engine: Engine) -> None:
    """On Monday in Tokyo: entries at 09:00+ are in hours, at 22:00 after hours; denials by
    reason; forced and held doors; one alarm acknowledged, one not; one media item overdue and
    not back; kinds no one writes yet count 0. Tuesday's records are not in Monday's report."""
    site = SiteConfig.model_validate({**SITE, "audit": {"analysis": {"periods": ["daily"]}}})
    log = RecordLog(engine, "hq")
    log.start()
    day = MONDAY.astimezone(UTC)
    recs = [
        record(0, ts=day + timedelta(hours=9)),  # seq 1: denied (i % 5 == 0), Unauthorized
        record(1, ts=day + timedelta(hours=9, minutes=5)),  # 2: granted, in hours
        record(2, ts=day + timedelta(hours=22)),  # 3: granted after hours
        record(3, ts=day + timedelta(hours=23), direction="out"),  # 4: leaving: not an entry
        record(5, ts=day + timedelta(hours=10), reason="CredentialExpired"),  # 5: denied
        record(7, ts=day + timedelta(hours=10), kind=RecordKind.DOOR_FORCED),  # 6
        record(8, ts=day + timedelta(hours=11), kind=RecordKind.DOOR_HELD),  # 7
        _at(9, day, 12, RecordKind.ALARM_RAISED, alarm_id="a1"),  # 8
        _at(11, day, 12, RecordKind.ALARM_RAISED, alarm_id="a2"),  # 9
        _at(12, day, 13, RecordKind.ALARM_ACKNOWLEDGED, alarm_id="a1"),  # 10
        _at(13, day, 14, RecordKind.MEDIA_OVERDUE, item_id="usb-7"),  # 11
        record(14, ts=day + timedelta(days=1, hours=1)),  # 12: Tuesday: not in the report
    ]  # fmt: skip
    try:
        await append_all(log, recs)
        schedule = AuditSchedule(site, engine, log.append, clock=lambda: NOW)
        [seq] = await schedule.run_analyses()
    finally:
        log.close()
    with engine.connect() as conn:
        report = get_record(conn, "hq", seq)
    assert report is not None and report.kind == RecordKind.AUDIT_ANALYSIS
    assert (
        report.detail["period"] == "daily"
        and report.detail["from"] == "2026-11-01T15:00:00.000000Z"
    )
    found = report.detail["findings"]
    assert isinstance(found, dict)
    assert found["after_hours_entries"] == {"count": 1, "seqs": [3]}
    assert found["denials"]["count"] == 2
    assert found["denials"]["by_reason"]["Unauthorized"] == {"count": 1, "seqs": [1]}
    assert found["denials"]["by_reason"]["CredentialExpired"] == {"count": 1, "seqs": [5]}
    assert found["forced_doors"] == {"count": 1, "seqs": [6]}
    assert found["held_doors"] == {"count": 1, "seqs": [7]}
    assert found["unacknowledged_alarms"] == {"count": 1, "seqs": [9]}
    assert found["unreturned_media"] == {"count": 1, "seqs": [11]}
    for future in ("anti_passback", "escort_breaches", "tailgating", "lapsed_recertifications"):
        assert found[future] == {"count": 0, "seqs": []}
    assert report.detail["records_examined"] == 7  # decisions, forced, held of Monday


async def test_the_scheduled_purge_needs_an_approved_policy(engine: Engine) -> None:
    """Without approved_by the chore does nothing; with a chief it purges and records it."""
    log = RecordLog(engine, "hq")
    log.start()
    try:
        await append_all(log, [record(i) for i in range(10)])
        plain = SiteConfig.model_validate({**SITE, "audit": {"retention": {"days": 1}}})
        assert await AuditSchedule(plain, engine, log.append, clock=lambda: NOW).run_purge() is None
        with Session(engine) as session:
            create_account(session, "hq", "boss", "correct horse battery staple", "chief")
            session.commit()
        approved = SiteConfig.model_validate(
            {**SITE, "audit": {"retention": {"days": 1, "approved_by": "boss"}}}
        )
        later = NOW + timedelta(days=2)  # the records (Monday 09:00 local) are a day past
        result = await AuditSchedule(approved, engine, log.append, clock=lambda: later).run_purge()
        assert result is not None and (result.purge_seq, result.purged) == (11, 10)
    finally:
        log.close()


def test_the_audit_section_is_validated() -> None:
    """Unknown schedules, audit kinds in the policy and bad clock times are refused."""
    for audit in (
        {"analysis": {"business_hours": "nope"}},
        {"retention": {"kinds": {"audit.purge": 5}}},
        {"retention": {"purge_at": "25:00"}},
        {"checkpoint_every_records": 0},
        {"origin": "has space"},
    ):
        with pytest.raises(ValueError):  # noqa: PT011  (pydantic's ValidationError is one)
            SiteConfig.model_validate({**SITE, "audit": audit})
    ok = SiteConfig.model_validate({**SITE, "audit": {"analysis": {"business_hours": "office"}}})
    assert ok.audit.retention.days_for("access.decision") == 1095
