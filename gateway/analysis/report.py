"""One periodic analysis report: counts and the records behind them (4-8-6(3), 4-8-12(1)).

Findings: after-hours entries, denials by reason, forced and held doors, anti-passback and
escort breaches, tailgating suspicions, unreturned media, lapsed recertifications and
unacknowledged alarms. Each is ``{"count": n, "seqs": [...]}`` (the first ``seq_limit``
seqs, ``"truncated": true`` beyond). Kinds that later issues write are counted from the
record kinds those issues use; until such records exist their count is 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Engine, select

from gateway.audit.entry import ts_text
from gateway.config.site import Schedule, SiteConfig
from gateway.records import NewRecord, RecordKind
from gateway.schedule import CompiledSchedule, SiteCalendar
from gateway.storage.models import RECORD_TABLE

_R: Final = RECORD_TABLE
K = RecordKind
BUSINESS_HOURS: Final = Schedule(
    id="business-hours",
    name="Mon-Fri 08:00-18:00 (default business hours)",
    week={d: ["08:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
    holidays="closed",
)
NOT_RECERTIFIED_REASON: Final = "AuthorizationNotRecertified"  # issue 3's denial reason

_SIMPLE: Final = {
    "forced_doors": K.DOOR_FORCED.value,
    "held_doors": K.DOOR_HELD.value,
    "anti_passback": K.ACCESS_ANTI_PASSBACK.value,
    "escort_breaches": K.ESCORT_ASTRAY.value,
    "tailgating": K.ACCESS_TAILGATING.value,
}


def _finding(seqs: Sequence[int], limit: int) -> dict[str, Any]:
    """A finding: its count and (up to ``limit``) the seqs behind it."""
    out: dict[str, Any] = {"count": len(seqs), "seqs": list(seqs[:limit])}
    if len(seqs) > limit:
        out["truncated"] = True
    return out


def _rows(
    engine: Engine, site_id: str, kinds: Iterable[str], start: datetime | None, end: datetime
) -> list[Any]:
    """Records of ``kinds`` with ``start <= ts < end`` (no lower bound when start is None)."""
    where = [_R.c.site_id == site_id, _R.c.kind.in_(list(kinds)), _R.c.ts < end]
    if start is not None:
        where.append(_R.c.ts >= start)
    stmt = (
        select(_R.c.seq, _R.c.ts, _R.c.kind, _R.c.outcome, _R.c.reason, _R.c.direction, _R.c.detail)
        .where(*where)
        .order_by(_R.c.seq)
    )
    with engine.connect() as conn:
        return list(conn.execute(stmt).all())


def analyse(
    engine: Engine, site: SiteConfig, period: str, *, start: datetime, end: datetime, now: datetime
) -> dict[str, Any]:
    """The findings of ``period`` [start, end), as stored in the report record's detail."""
    site_id = site.site.id
    limit = site.audit.analysis.seq_limit
    hours_id = site.audit.analysis.business_hours
    hours = CompiledSchedule.compile(site.schedule(hours_id) if hours_id else BUSINESS_HOURS)
    calendar = SiteCalendar.of(site.site.timezone, site.holidays)
    kinds = {K.ACCESS.value, K.AUTHORIZATION_LAPSED.value, *_SIMPLE.values()}
    rows = _rows(engine, site_id, kinds, start, end)
    after_hours: list[int] = []
    denials: dict[str, list[int]] = {}
    lapsed: list[int] = []
    simple: dict[str, list[int]] = {name: [] for name in _SIMPLE}
    by_kind = {kind: name for name, kind in _SIMPLE.items()}
    for seq, ts, kind, outcome, reason, direction, _detail in rows:
        if kind == K.ACCESS.value:
            if (
                outcome == "granted"
                and direction in (None, "in")
                and not calendar.admits(hours, ts)
            ):
                after_hours.append(seq)
            elif outcome == "denied":
                denials.setdefault(reason or "unknown", []).append(seq)
                if reason == NOT_RECERTIFIED_REASON:
                    lapsed.append(seq)
        elif kind == K.AUTHORIZATION_LAPSED.value:
            lapsed.append(seq)
        else:
            simple[by_kind[kind]].append(seq)
    findings: dict[str, Any] = {
        "after_hours_entries": _finding(after_hours, limit),
        "denials": {
            "count": sum(len(v) for v in denials.values()),
            "by_reason": {r: _finding(v, limit) for r, v in sorted(denials.items())},
        },
        **{name: _finding(seqs, limit) for name, seqs in simple.items()},
        "lapsed_recertifications": _finding(sorted(lapsed), limit),
        "unreturned_media": _finding(
            _unclosed(
                engine,
                site_id,
                K.MEDIA_OVERDUE.value,
                K.MEDIA_RETURNED.value,
                ("item_id", "item"),
                start,
                end,
                now,
            ),
            limit,
        ),
        "unacknowledged_alarms": _finding(
            _unclosed(
                engine,
                site_id,
                K.ALARM_RAISED.value,
                K.ALARM_ACKNOWLEDGED.value,
                ("alarm_id",),
                start,
                end,
                now,
            ),
            limit,
        ),
    }
    return {
        "period": period,
        "from": ts_text(start),
        "to": ts_text(end),
        "timezone": site.site.timezone,
        "business_hours": hours_id or BUSINESS_HOURS.id,
        "records_examined": len(rows),
        "findings": findings,
    }


def _unclosed(  # noqa: PLR0917  (one query pattern, two uses)
    engine: Engine,
    site_id: str,
    opened: str,
    closed: str,
    keys: Sequence[str],
    start: datetime,
    end: datetime,
    now: datetime,
) -> list[int]:
    """Seqs of ``opened`` records in [start, end) with no later ``closed`` record (by ``now``)."""

    def key_of(detail: object) -> object:
        if isinstance(detail, dict):
            for key in keys:
                if detail.get(key) is not None:
                    return detail[key]
        return None

    opens = _rows(engine, site_id, [opened], start, end)
    if not opens:
        return []
    closes = _rows(engine, site_id, [closed], start, now)
    closed_at: dict[object, int] = {}
    for seq, *_, detail in closes:
        closed_at[key_of(detail)] = max(seq, closed_at.get(key_of(detail), 0))
    return [
        seq
        for seq, *_, detail in opens
        if key_of(detail) is None or closed_at.get(key_of(detail), 0) < seq
    ]


def report_record(detail: dict[str, Any], now: datetime) -> NewRecord:
    """The audit.analysis record of a report."""
    return NewRecord(RecordKind.AUDIT_ANALYSIS, now, actor=None, detail=detail)
