"""Recertification of access (4-8-7(3)): what falls due, and the job that records each lapse.

A zone with ``recertify_days`` in the site file wants every authorization to it reviewed by the
zone's manager that often. An authorization is certified when granted and again at each
recertification; ``recertify_days`` after that it lapses, and the decision denies it with
``AuthorizationNotRecertified`` (``gateway.decision``) until the manager recertifies it.

The job writes one ``authorization.recertification_lapsed`` record for each lapse, once: a
lapse is the pair (authorization, the instant it lapsed), and the records already written are
read back at start, so a restart writes none twice. A revoked authorization no longer lapses,
nor does one that ends before it would lapse.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, and_, func, or_, select

from gateway.config.site import SiteConfig
from gateway.domain import Reason
from gateway.recorder import Recorder
from gateway.records import NewRecord, RecordKind
from gateway.storage.models import AUTHORIZATION_TABLE, PERSON_TABLE, RECORD_TABLE

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 300.0  # lapses are counted in days; the decision itself denies at once

_A = AUTHORIZATION_TABLE.c


@dataclass(frozen=True, slots=True)
class DueAuthorization:
    """An authorization of a zone with a recertification period, and when it lapses."""

    authorization_id: str
    person_id: str
    zone_id: str
    granted_by: str
    granted_at: datetime
    recertified_by: str | None
    recertified_at: datetime | None
    valid_to: datetime | None
    recertify_days: int

    @property
    def certified_at(self) -> datetime:
        """When it was granted or last recertified."""
        return self.recertified_at or self.granted_at

    @property
    def certified_by(self) -> str:
        """Who granted or last recertified it."""
        return self.recertified_by or self.granted_by

    @property
    def due_at(self) -> datetime:
        """The instant it lapses unless recertified before."""
        return lapses_at(self.certified_at, self.recertify_days)

    def lapsed(self, now: datetime) -> bool:
        """True once ``now`` has reached the lapse (the decision's rule, gateway.decision)."""
        return now >= self.due_at


def lapses_at(certified_at: datetime, recertify_days: int) -> datetime:
    """When an authorization certified at ``certified_at`` lapses."""
    return certified_at + timedelta(days=recertify_days)


def recertify_periods(site: SiteConfig, zones: Iterable[str] | None = None) -> dict[str, int]:
    """Zone id → ``recertify_days`` for the zones that have one (only ``zones``, if given)."""
    wanted = None if zones is None else set(zones)
    return {
        z.id: z.recertify_days
        for z in site.zones
        if z.recertify_days is not None and (wanted is None or z.id in wanted)
    }


def falling_due(
    conn: Connection, site_id: str, periods: dict[str, int], until: datetime
) -> list[DueAuthorization]:
    """Unrevoked authorizations of the zones in ``periods`` that lapse at or before ``until``.

    Earliest lapse first; those whose validity ends before they would lapse are left out.
    """
    if not periods:
        return []
    certified = func.coalesce(_A.recertified_at, _A.granted_at)
    per_zone = [
        and_(_A.zone_id == zone, certified <= until - timedelta(days=days))
        for zone, days in periods.items()
    ]
    stmt = select(
        _A.id,
        _A.person_id,
        _A.zone_id,
        _A.granted_by,
        _A.granted_at,
        _A.recertified_by,
        _A.recertified_at,
        _A.valid_to,
    ).where(_A.site_id == site_id, _A.revoked_at.is_(None), or_(*per_zone))
    out = [
        DueAuthorization(*row, recertify_days=periods[row.zone_id]) for row in conn.execute(stmt)
    ]
    out = [d for d in out if d.valid_to is None or d.valid_to > d.due_at]
    out.sort(key=lambda d: (d.due_at, d.authorization_id))
    return out


class RecertificationJob:
    """Periodically records every authorization that lapsed for want of recertification."""

    def __init__(
        self,
        site: SiteConfig,
        engine: Engine,
        recorder: Recorder,
        *,
        clock: Callable[[], datetime],
        interval_s: float = CHECK_INTERVAL_S,
    ) -> None:
        """Watch the zones of ``site`` that have ``recertify_days``; ``clock`` gives UTC now."""
        self._site_id = site.site.id
        self._periods = recertify_periods(site)
        self._engine = engine
        self._recorder = recorder
        self._clock = clock
        self._interval_s = interval_s
        self._recorded: set[tuple[str, str]] | None = None  # (authorization, lapse) written
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Check now and then every ``interval_s`` (nothing to do when no zone recertifies)."""
        if self._periods and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop checking."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def check(self) -> list[int]:
        """Write a record for each lapse not recorded yet; returns their seqs, in lapse order."""
        async with self._lock:
            now = self._clock()
            loop = asyncio.get_running_loop()
            found = await loop.run_in_executor(None, self._unrecorded, now)
            seqs = []
            for due, person_kind in found:
                seq = await self._recorder.append(_lapse_record(due, person_kind, now))
                assert self._recorded is not None  # loaded by _unrecorded
                self._recorded.add(_key(due.authorization_id, due.due_at))
                seqs.append(seq)
            if seqs:
                log.info("%d authorizations lapsed for want of recertification", len(seqs))
            return seqs

    async def _run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:  # storage trouble: the next round tries again
                log.exception("recertification check failed")
            await asyncio.sleep(self._interval_s)

    def _unrecorded(self, now: datetime) -> list[tuple[DueAuthorization, str | None]]:
        """Lapses not recorded yet, with the holder's person kind (runs in a worker thread)."""
        with self._engine.connect() as conn:
            if self._recorded is None:
                self._recorded = self._load_recorded(conn)
            due = [
                d
                for d in falling_due(conn, self._site_id, self._periods, now)
                if _key(d.authorization_id, d.due_at) not in self._recorded
            ]
            if not due:
                return []
            p = PERSON_TABLE.c
            ids = sorted({d.person_id for d in due})
            rows = conn.execute(select(p.id, p.kind).where(p.id.in_(ids)))
            kinds: dict[str, object] = {row.id: row.kind for row in rows}
        return [(d, _kind_value(kinds.get(d.person_id))) for d in due]

    def _load_recorded(self, conn: Connection) -> set[tuple[str, str]]:
        """The lapses the log already holds."""
        r = RECORD_TABLE.c
        stmt = select(r.detail).where(
            r.site_id == self._site_id, r.kind == RecordKind.AUTHORIZATION_LAPSED.value
        )
        out: set[tuple[str, str]] = set()
        for (detail,) in conn.execute(stmt):
            if isinstance(detail, dict):
                auth, lapsed = detail.get("authorization_id"), detail.get("lapsed_at")
                if isinstance(auth, str) and isinstance(lapsed, str):
                    out.add((auth, lapsed))
        return out


def _key(authorization_id: str, due_at: datetime) -> tuple[str, str]:
    """What identifies one lapse (as the record's detail holds it)."""
    return authorization_id, due_at.isoformat()


def _kind_value(kind: object) -> str | None:
    """A person kind as the records hold it (the column may come back as the enum or text)."""
    if kind is None:
        return None
    return str(getattr(kind, "value", kind))


def _lapse_record(due: DueAuthorization, person_kind: str | None, now: datetime) -> NewRecord:
    """The record of one lapse."""
    return NewRecord(
        RecordKind.AUTHORIZATION_LAPSED,
        now,
        zone_id=due.zone_id,
        person_id=due.person_id,
        person_kind=person_kind,
        reason=Reason.AUTHORIZATION_NOT_RECERTIFIED.value,
        detail={
            "authorization_id": due.authorization_id,
            "lapsed_at": due.due_at.isoformat(),
            "certified_at": due.certified_at.isoformat(),
            "certified_by": due.certified_by,
            "recertify_days": due.recertify_days,
        },
    )
