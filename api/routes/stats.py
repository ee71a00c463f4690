"""Aggregations of the record log for the dashboard's charts (4-8-6(3) analysis of records).

Counted by the database (GROUP BY), never by reading every record into Python. Days are the
site's days: a window runs from local midnight to local midnight in ``site.timezone``, so an
hour bucket is an hour of local time (23 of them on a spring-forward day, 25 on a fall-back).
Open to the roles with events:read; the admin has no right to records (4-8-6(6)).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Annotated, Any, Final
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Select, and_, case, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from api.deps import CoreDep, SessionDep, require
from api.errors import invalid
from api.roles import Permission
from api.schemas import error_responses
from gateway.domain import Direction, Outcome
from gateway.records import RecordKind
from gateway.storage.errors import QueryFailed
from gateway.storage.models import RECORD_TABLE, Account

router = APIRouter(prefix="/stats", tags=["stats"])

Reader = Annotated[Account, require(Permission.EVENTS_READ)]
MAX_DAYS: Final = 31
FIRST_DAY: Final = date(2000, 1, 1)
LAST_DAY: Final = date(2999, 12, 31)
DayQuery = Annotated[
    date | None,
    Query(ge=FIRST_DAY, le=LAST_DAY, description="the site-local day (default: today there)"),
]
DaysQuery = Annotated[int, Query(ge=1, le=MAX_DAYS, description="days ending with `day`")]
ALARM_KINDS: Final = (RecordKind.DOOR_FORCED, RecordKind.DOOR_HELD)

_T: Final = RECORD_TABLE


# ---------------------------------------------------------------- response bodies


class HourCount(BaseModel):
    """Entries in one hour of the site's local time."""

    hour: int = Field(ge=0, le=23, description="local hour of day")
    start: datetime = Field(description="the hour's start, in the site's offset")
    count: int


class EntriesPerHour(BaseModel):
    """Granted entries (direction in) per local hour of one site-local day."""

    day: date
    timezone: str
    total: int
    hours: list[HourCount]


class ReasonCount(BaseModel):
    """Denials for one reason."""

    reason: str
    count: int


class DenialsByReason(BaseModel):
    """Denied access decisions by reason over a window of site-local days, most first."""

    day: date = Field(description="the window's last day")
    days: int
    since: datetime
    until: datetime
    timezone: str
    total: int
    reasons: list[ReasonCount]


class TypeCount(BaseModel):
    """Alarms raised of one type."""

    type: str = Field(description="an alarm catalogue type, e.g. door.forced, env.smoke")
    count: int


class AlarmsByType(BaseModel):
    """Alarms raised (``alarm.raised``) by type over a window of site-local days, most first."""

    day: date = Field(description="the window's last day")
    days: int
    since: datetime
    until: datetime
    timezone: str
    total: int
    types: list[TypeCount]


class DoorAlarmCount(BaseModel):
    """Forced-open and held-open alarms of one door."""

    door_id: str
    name: str | None = Field(description="from the site file; None for a door no longer in it")
    forced: int
    held: int


class DoorAlarms(BaseModel):
    """Door alarms by door over a window of site-local days; every door of the site is listed."""

    day: date = Field(description="the window's last day")
    days: int
    since: datetime
    until: datetime
    timezone: str
    total: int
    doors: list[DoorAlarmCount]


# ---------------------------------------------------------------- local days


@dataclass(frozen=True, slots=True)
class Window:
    """Site-local days ``[first, last]`` as a UTC interval ``[since, until)``."""

    last: date
    days: int
    since: datetime
    until: datetime


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant at which ``day`` begins in ``tz``."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def day_window(day: date, days: int, tz: ZoneInfo) -> Window:
    """The ``days`` site-local days ending with ``day``."""
    since = local_midnight(day - timedelta(days=days - 1), tz)
    until = local_midnight(day + timedelta(days=1), tz)
    return Window(day, days, since, until)


def hour_edges(day: date, tz: ZoneInfo) -> list[datetime]:
    """UTC instants of every local hour start in ``day``, then the next day's midnight."""
    start, end = local_midnight(day, tz), local_midnight(day + timedelta(days=1), tz)
    edges = []
    at = start
    while at < end:
        edges.append(at)
        at += timedelta(hours=1)
    edges.append(end)
    return edges


def _today(tz: ZoneInfo) -> date:
    """Today in the site's time zone."""
    return datetime.now(tz).date()


def _site_zone(core: CoreDep) -> tuple[str, ZoneInfo]:
    """The site's time zone name and zone."""
    name = core.site().site.timezone
    return name, ZoneInfo(name)


def _window(day: date | None, days: int, tz: ZoneInfo) -> Window:
    """The requested window; 422 when it reaches beyond the dates a datetime can hold."""
    try:
        return day_window(day or _today(tz), days, tz)
    except (OverflowError, ValueError):
        raise invalid(("query", "day"), "day is out of range") from None


# ---------------------------------------------------------------- counting


def _rows(session: Session, stmt: Select[Any]) -> list[Any]:
    """Run an aggregate; a database failure becomes QueryFailed (503)."""
    try:
        return list(session.execute(stmt).all())
    except SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None)
        raise QueryFailed(f"counting records failed: {orig if orig is not None else exc}") from None


def _in_window(site_id: str, since: datetime, until: datetime) -> list[ColumnElement[bool]]:
    """The site's records with ``since <= ts < until``."""
    return [_T.c.site_id == site_id, _T.c.ts >= since, _T.c.ts < until]


def count_by_bucket(
    session: Session, site_id: str, edges: list[datetime], *where: ColumnElement[bool]
) -> list[int]:
    """Counts of matching records in each ``[edges[i], edges[i+1])``, in one query.

    The buckets are computed in a subquery and grouped outside it: grouping by a CASE with
    bound parameters directly fails on PostgreSQL (the two copies get different parameters).
    """
    buckets = case(
        *[
            (and_(_T.c.ts >= lo, _T.c.ts < hi), index)
            for index, (lo, hi) in enumerate(pairwise(edges))
        ],
        else_=None,
    ).label("bucket")
    inner = select(buckets).where(*_in_window(site_id, edges[0], edges[-1]), *where).subquery()
    stmt = select(inner.c.bucket, func.count()).group_by(inner.c.bucket)
    counts = [0] * (len(edges) - 1)
    for bucket, count in _rows(session, stmt):
        if bucket is not None:
            counts[int(bucket)] = int(count)
    return counts


# ---------------------------------------------------------------- routes


@router.get("/entries-per-hour", response_model=EntriesPerHour, responses=error_responses(401, 403))
def entries_per_hour(
    caller: Reader, session: SessionDep, core: CoreDep, day: DayQuery = None
) -> EntriesPerHour:
    """Granted access decisions with direction in, per local hour of ``day`` (4-8-7(1))."""
    tz_name, tz = _site_zone(core)
    window = _window(day, 1, tz)
    edges = hour_edges(window.last, tz)
    counts = count_by_bucket(
        session,
        caller.site_id,
        edges,
        _T.c.kind == RecordKind.ACCESS.value,
        _T.c.outcome == Outcome.GRANTED.value,
        _T.c.direction == Direction.IN.value,
    )
    hours = [
        HourCount(hour=start.astimezone(tz).hour, start=start.astimezone(tz), count=count)
        for start, count in zip(edges, counts, strict=False)
    ]
    return EntriesPerHour(day=window.last, timezone=tz_name, total=sum(counts), hours=hours)


@router.get("/denials", response_model=DenialsByReason, responses=error_responses(401, 403))
def denials_by_reason(
    caller: Reader, session: SessionDep, core: CoreDep, day: DayQuery = None, days: DaysQuery = 1
) -> DenialsByReason:
    """Denied access decisions by reason over ``days`` local days ending with ``day``."""
    tz_name, tz = _site_zone(core)
    window = _window(day, days, tz)
    stmt = (
        select(_T.c.reason, func.count())
        .where(
            *_in_window(caller.site_id, window.since, window.until),
            _T.c.kind == RecordKind.ACCESS.value,
            _T.c.outcome == Outcome.DENIED.value,
        )
        .group_by(_T.c.reason)
    )
    reasons = [ReasonCount(reason=r or "", count=int(n)) for r, n in _rows(session, stmt)]
    reasons.sort(key=lambda rc: (-rc.count, rc.reason))
    return DenialsByReason(
        day=window.last,
        days=days,
        since=window.since,
        until=window.until,
        timezone=tz_name,
        total=sum(rc.count for rc in reasons),
        reasons=reasons,
    )


@router.get("/door-alarms", response_model=DoorAlarms, responses=error_responses(401, 403))
def door_alarms(
    caller: Reader, session: SessionDep, core: CoreDep, day: DayQuery = None, days: DaysQuery = 7
) -> DoorAlarms:
    """Forced-open and held-open alarms per door over ``days`` local days ending with ``day``.

    Doors of the site come first in site-file order (with zeros); doors that have records but
    are no longer in the site file follow, by id (4-8-7(4)).
    """
    site = core.site()
    tz_name, tz = site.site.timezone, ZoneInfo(site.site.timezone)
    window = _window(day, days, tz)
    stmt = (
        select(_T.c.door_id, _T.c.kind, func.count())
        .where(
            *_in_window(caller.site_id, window.since, window.until),
            _T.c.kind.in_([k.value for k in ALARM_KINDS]),
            _T.c.door_id.is_not(None),
        )
        .group_by(_T.c.door_id, _T.c.kind)
    )
    counts: dict[str, dict[str, int]] = {}
    for door_id, kind, n in _rows(session, stmt):
        counts.setdefault(str(door_id), {})[str(kind)] = int(n)
    names = {d.id: d.name for d in site.doors}
    order = [d.id for d in site.doors] + sorted(set(counts) - set(names))
    doors = [
        DoorAlarmCount(
            door_id=door_id,
            name=names.get(door_id),
            forced=counts.get(door_id, {}).get(RecordKind.DOOR_FORCED.value, 0),
            held=counts.get(door_id, {}).get(RecordKind.DOOR_HELD.value, 0),
        )
        for door_id in order
    ]
    return DoorAlarms(
        day=window.last,
        days=days,
        since=window.since,
        until=window.until,
        timezone=tz_name,
        total=sum(d.forced + d.held for d in doors),
        doors=doors,
    )


@router.get("/alarms-by-type", response_model=AlarmsByType, responses=error_responses(401, 403))
def alarms_by_type(
    caller: Reader, session: SessionDep, core: CoreDep, day: DayQuery = None, days: DaysQuery = 7
) -> AlarmsByType:
    """Alarms raised per catalogue type over ``days`` local days ending with ``day``.

    Counted from the ``alarm.raised`` records (their ``detail.type``), so a repeat counted on an
    open alarm is not a new alarm (4-8-7(4)(5)). Most first, ties by type. The type is taken in a
    subquery and grouped outside it: on PostgreSQL a JSON path with a bound parameter cannot be
    grouped by directly (the select and the GROUP BY get different parameters).
    """
    tz_name, tz = _site_zone(core)
    window = _window(day, days, tz)
    inner = (
        select(_T.c.detail["type"].as_string().label("type"))
        .where(
            *_in_window(caller.site_id, window.since, window.until),
            _T.c.kind == RecordKind.ALARM_RAISED.value,
        )
        .subquery()
    )
    stmt = select(inner.c.type, func.count()).group_by(inner.c.type)
    # A purged record keeps no detail: its alarm still counts, as an unknown type ("").
    types = [TypeCount(type=t or "", count=int(n)) for t, n in _rows(session, stmt)]
    types.sort(key=lambda tc: (-tc.count, tc.type))
    return AlarmsByType(
        day=window.last,
        days=days,
        since=window.since,
        until=window.until,
        timezone=tz_name,
        total=sum(tc.count for tc in types),
        types=types,
    )
