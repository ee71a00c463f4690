"""Weekly schedules and holidays in site-local time (4-8-7(1): who may enter, and when)."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from gateway.config.site import ALWAYS, Schedule
from gateway.schedule import CompiledSchedule, SiteCalendar

OFFICE = Schedule(id="office", week={"mon": ["08:00-12:00", "13:00-19:00"], "tue": ["08:00-19:00"]})
TOKYO = SiteCalendar.of("Asia/Tokyo", [date(2026, 11, 23)])  # Labour Thanksgiving Day, a Monday


def jst(y: int, mo: int, d: int, h: int, mi: int) -> datetime:
    """A Tokyo wall-clock time as a UTC instant."""
    return datetime(y, mo, d, h, mi, tzinfo=ZoneInfo("Asia/Tokyo")).astimezone(UTC)


@pytest.mark.parametrize(
    ("when", "admitted"),
    [
        (jst(2026, 11, 24, 8, 0), True),  # Tuesday 08:00 local: first minute of the span
        (jst(2026, 11, 24, 18, 59), True),
        (jst(2026, 11, 24, 19, 0), False),  # end is exclusive
        (jst(2026, 11, 24, 7, 59), False),
        (jst(2026, 11, 30, 12, 30), False),  # Monday lunch gap
        (jst(2026, 11, 30, 13, 0), True),
        (jst(2026, 11, 25, 10, 0), False),  # Wednesday: no spans
        (jst(2026, 11, 23, 10, 0), False),  # a holiday Monday: closed
    ],
)
def test_office_hours_in_tokyo(when: datetime, admitted: bool) -> None:
    assert TOKYO.admits(CompiledSchedule.compile(OFFICE), when) is admitted


def test_utc_instant_is_judged_in_local_time() -> None:
    # 2026-11-24 23:30 UTC is Wednesday 08:30 in Tokyo: outside a Tuesday-only schedule.
    tue_only = CompiledSchedule.compile(Schedule(id="t", week={"tue": ["00:00-24:00"]}))
    assert not TOKYO.admits(tue_only, datetime(2026, 11, 24, 23, 30, tzinfo=UTC))
    assert TOKYO.admits(tue_only, datetime(2026, 11, 24, 14, 59, tzinfo=UTC))


def test_holiday_modes() -> None:
    holiday = jst(2026, 11, 23, 10, 0)
    base = {"id": "h", "week": {"mon": ["09:00-17:00"]}}
    closed = CompiledSchedule.compile(Schedule(**base, holidays="closed"))
    open_ = CompiledSchedule.compile(Schedule(id="o", week={}, holidays="open"))
    weekday = CompiledSchedule.compile(Schedule(**base, holidays="as_weekday"))
    assert not TOKYO.admits(closed, holiday)
    assert TOKYO.admits(open_, holiday)
    assert TOKYO.admits(weekday, holiday)


def test_always_admits_every_minute_including_holidays() -> None:
    always = CompiledSchedule.compile(ALWAYS)
    for hour in range(24):
        assert TOKYO.admits(always, datetime(2026, 11, 23, hour, 59, tzinfo=UTC))


@pytest.mark.parametrize("span", ["8:00-9:00", "09:00-08:00", "25:00-26:00", "09:00-24:30", "x"])
def test_bad_spans_are_refused(span: str) -> None:
    with pytest.raises(ValueError, match="mon"):
        Schedule(id="bad", week={"mon": [span]})
