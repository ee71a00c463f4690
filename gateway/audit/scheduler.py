"""The gateway's audit chores: the daily retention purge and the periodic analysis reports.

Started by the composition root next to the gateway (``sekisho.app``). Reports of the periods
that ended while the gateway was down are made when it starts (catch-up); a failed chore is
logged and tried again at its next time, never taking the gateway down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from gateway.analysis.periods import last_complete, next_local
from gateway.analysis.report import analyse, report_record
from gateway.audit.entry import ts_text
from gateway.audit.retention import PurgeRefused, PurgeResult, purge
from gateway.clock import utcnow
from gateway.config.site import SiteConfig
from gateway.records import NewRecord, RecordKind
from gateway.storage.errors import StorageError
from gateway.storage.models import RECORD_TABLE

log = logging.getLogger(__name__)

Append = Callable[[NewRecord], Awaitable[int]]


def report_exists(engine: Engine, site_id: str, period: str, start: datetime) -> bool:
    """True when the report of ``period`` starting at ``start`` has been written."""
    r = RECORD_TABLE
    stmt = select(r.c.detail).where(
        r.c.site_id == site_id, r.c.kind == RecordKind.AUDIT_ANALYSIS.value, r.c.ts >= start
    )
    wanted = ts_text(start)
    with engine.connect() as conn:
        return any(
            isinstance(d, dict) and d.get("period") == period and d.get("from") == wanted
            for (d,) in conn.execute(stmt)
        )


class AuditSchedule:
    """Runs the purge at ``audit.retention.purge_at`` and the reports at ``analysis.run_at``."""

    def __init__(
        self,
        site: SiteConfig,
        engine: Engine,
        append: Append,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """Chores for ``site``; records are written through ``append`` (the gateway's log)."""
        self._site = site
        self._engine = engine
        self._append = append
        self._clock = clock
        self._tz = ZoneInfo(site.site.timezone)

    async def run_analyses(self) -> list[int]:
        """Make every report whose period has ended and is not written yet; their seqs."""
        site_id = self._site.site.id
        written = []
        for period in self._site.audit.analysis.periods:
            now = self._clock()
            start, end = last_complete(period, now, self._tz)
            if await asyncio.to_thread(report_exists, self._engine, site_id, period, start):
                continue
            detail = await asyncio.to_thread(
                partial(analyse, self._engine, self._site, period, start=start, end=end, now=now)
            )
            written.append(await self._append(report_record(detail, self._clock())))
            log.info("%s analysis of %s written (record %d)", period, ts_text(start), written[-1])
        return written

    async def run_purge(self) -> PurgeResult | None:
        """The retention purge under the site's policy; None when it may not run."""
        retention = self._site.audit.retention
        try:
            result = await purge(
                self._engine,
                self._site.site.id,
                retention,
                approver=retention.approved_by,
                now=self._clock(),
                append=self._append,
            )
        except PurgeRefused as exc:
            log.warning("scheduled retention purge not run: %s", exc)
            return None
        if result.purge_seq is not None:
            log.info("retention purge %d blanked %d records", result.purge_seq, result.purged)
        return result

    async def run(self) -> None:
        """Catch up, then run each chore at its local time, until cancelled."""
        await self._guarded(self.run_analyses)
        audit = self._site.audit
        while True:
            now = self._clock()
            analysis_at = next_local(audit.analysis.run_at, now, self._tz)
            purge_at = next_local(audit.retention.purge_at, now, self._tz)
            due = min(analysis_at, purge_at)
            await asyncio.sleep(max(0.0, (due - now).total_seconds()))
            if due == analysis_at:
                await self._guarded(self.run_analyses)
            if due == purge_at:
                await self._guarded(self.run_purge)

    async def _guarded(self, chore: Callable[[], Awaitable[object]]) -> None:
        """Run a chore; a storage failure is logged, not raised."""
        try:
            await chore()
        except (StorageError, OSError) as exc:
            log.error("audit chore %s failed: %s", chore.__name__, exc)  # noqa: TRY400  (expected failure: no traceback)
        except Exception:  # a bug must not stop the gateway: log it whole
            log.exception("audit chore %s failed", chore.__name__)
