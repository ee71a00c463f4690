"""Site-local days and hours for the chart aggregations: clock changes included."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from api.routes.stats import day_window, hour_edges

NY = ZoneInfo("America/New_York")


def test_a_local_day_has_24_hours_or_23_and_25_at_the_clock_changes() -> None:
    assert len(hour_edges(date(2026, 3, 7), NY)) == 25  # 24 buckets
    spring = hour_edges(date(2026, 3, 8), NY)  # 02:00 does not exist
    assert len(spring) == 24
    assert [e.astimezone(NY).hour for e in spring[:4]] == [0, 1, 3, 4]
    fall = hour_edges(date(2026, 11, 1), NY)  # 01:00 happens twice
    assert len(fall) == 26
    assert [e.astimezone(NY).hour for e in fall[:4]] == [0, 1, 1, 2]
    tokyo = hour_edges(date(2026, 3, 8), ZoneInfo("Asia/Tokyo"))
    assert tokyo[0] == datetime(2026, 3, 7, 15, tzinfo=UTC) and len(tokyo) == 25


def test_a_window_of_days_runs_from_local_midnight_to_local_midnight() -> None:
    window = day_window(date(2026, 3, 10), 7, NY)
    assert window.since == datetime(2026, 3, 4, 5, tzinfo=UTC)  # EST, UTC-5
    assert window.until == datetime(2026, 3, 11, 4, tzinfo=UTC)  # EDT, UTC-4
