"""Weekly schedules with site holidays, evaluated in the site's local time."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from gateway.config.site import WEEKDAYS, Schedule


@dataclass(frozen=True, slots=True)
class CompiledSchedule:
    """A schedule turned into minute ranges per weekday, for quick checks on the badge path."""

    schedule_id: str
    week: tuple[tuple[tuple[int, int], ...], ...]  # per weekday (Mon=0): (start_min, end_min)
    holidays: str  # "closed", "open" or "as_weekday"

    @classmethod
    def compile(cls, schedule: Schedule) -> CompiledSchedule:
        """Precompute minute ranges from a site-file schedule."""
        days = []
        for day in WEEKDAYS:
            spans = []
            for start, end in schedule.spans(day):
                end_min = 24 * 60 if end is None else end.hour * 60 + end.minute
                spans.append((start.hour * 60 + start.minute, end_min))
            days.append(tuple(spans))
        return cls(schedule.id, tuple(days), schedule.holidays)

    def admits(self, local: datetime, holidays: frozenset[date]) -> bool:
        """True when the local time falls inside one of the schedule's spans."""
        if local.date() in holidays:
            if self.holidays == "closed":
                return False
            if self.holidays == "open":
                return True
        minute = local.hour * 60 + local.minute
        return any(a <= minute < b for a, b in self.week[local.weekday()])


@dataclass(frozen=True, slots=True)
class SiteCalendar:
    """The site's time zone and holidays: turns UTC instants into schedule answers."""

    tz: ZoneInfo
    holidays: frozenset[date]

    @classmethod
    def of(cls, timezone: str, holidays: Iterable[date]) -> SiteCalendar:
        """Build from the site file's time zone name and holiday list."""
        return cls(ZoneInfo(timezone), frozenset(holidays))

    def admits(self, schedule: CompiledSchedule, when_utc: datetime) -> bool:
        """True when ``schedule`` admits the instant ``when_utc`` in site-local time."""
        return schedule.admits(when_utc.astimezone(self.tz), self.holidays)
