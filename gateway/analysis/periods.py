"""Report periods in the site's local time: the day, ISO week or month that just ended."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

PERIODS: Final = ("daily", "weekly", "monthly")


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    """Local midnight starting ``day``, in UTC."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def period_containing(period: str, when: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the ``period`` (daily, weekly, monthly) that contains ``when``."""
    day = when.astimezone(tz).date()
    if period == "daily":
        first, after = day, day + timedelta(days=1)
    elif period == "weekly":
        first = day - timedelta(days=day.weekday())
        after = first + timedelta(days=7)
    elif period == "monthly":
        first = day.replace(day=1)
        after = (first + timedelta(days=32)).replace(day=1)
    else:
        raise ValueError(f"unknown period {period!r}; one of {', '.join(PERIODS)}")
    return _midnight(first, tz), _midnight(after, tz)


def last_complete(period: str, now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The most recent ``period`` that has fully ended by ``now``."""
    start, _ = period_containing(period, now, tz)
    return period_containing(period, start - timedelta(seconds=1), tz)


def next_local(at: str, now: datetime, tz: ZoneInfo) -> datetime:
    """The next instant after ``now`` when the site's clock shows ``at`` (HH:MM), in UTC."""
    hour, minute = (int(part) for part in at.split(":"))
    local = now.astimezone(tz)
    candidate = datetime.combine(local.date(), time(hour, minute), tzinfo=tz)
    if candidate.astimezone(UTC) <= now:
        candidate = datetime.combine(
            local.date() + timedelta(days=1), time(hour, minute), tzinfo=tz
        )
    return candidate.astimezone(UTC)
