"""Retention (4-8-6(3)): when a record's period ends, its personal fields and salt go; proofs stay.

A purge is planned per record kind from the site file's policy (default three years), written
as an ``audit.purge`` record naming the policy, its cutoffs and the approving chief account,
and only then carried out: each purged row keeps its seq, time, kind, door, zone, reader,
direction, outcome, reason and commitment, loses person, credential, actor, detail and salt,
and names the purge record in ``purged_by`` — exactly the one UPDATE the storage guard lets
through. On PostgreSQL the rows are blanked by ``record_purge()`` (SECURITY DEFINER), so the
application role needs no UPDATE right on the log. The log's own audit kinds are never purged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, func, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session
from sqlmodel import select as sm_select

from gateway.audit.config import RetentionConfig
from gateway.audit.entry import ts_text
from gateway.records import NEVER_PURGED, NewRecord, RecordKind
from gateway.storage.errors import StorageError
from gateway.storage.models import RECORD_TABLE, Account

POLICY_NAME = "site file audit.retention"
CHUNK = 500  # rows per purge transaction: short enough never to hold up the badge path
APPROVER_ROLE = "chief"  # 総括保護管理者 approves how long records are kept

_R = RECORD_TABLE


class PurgeRefused(ValueError):
    """The purge cannot run as asked (no approver, approver not a chief, ...)."""


@dataclass(frozen=True, slots=True)
class PurgePlan:
    """What a purge at ``now`` would do: per kind, its cutoff and how many records it blanks."""

    now: datetime
    cutoffs: dict[str, datetime]  # kind -> records before this instant are due
    counts: dict[str, int]  # kind -> records due and not yet purged

    @property
    def total(self) -> int:
        """Records the purge would blank."""
        return sum(self.counts.values())

    def record(self, approver: str) -> NewRecord:
        """The ``audit.purge`` record that must be written before the rows are blanked."""
        return NewRecord(
            RecordKind.AUDIT_PURGE,
            self.now,
            actor=approver,
            detail={
                "policy": POLICY_NAME,
                "approved_by": approver,
                "cutoffs": {k: ts_text(v) for k, v in sorted(self.cutoffs.items())},
                "records": self.total,
                "per_kind": {k: n for k, n in sorted(self.counts.items()) if n},
            },
        )


def purgeable_kinds(policy: RetentionConfig) -> list[str]:
    """Every kind the policy applies to: all known kinds and any it names, audit kinds never."""
    kinds = {k.value for k in RecordKind} | set(policy.kinds)
    return sorted(kinds - NEVER_PURGED)


def plan_purge(engine: Engine, site_id: str, policy: RetentionConfig, now: datetime) -> PurgePlan:
    """Count, per kind, the records past their retention that still hold personal fields."""
    cutoffs = {k: now - timedelta(days=policy.days_for(k)) for k in purgeable_kinds(policy)}
    counts: dict[str, int] = {}
    try:
        with engine.connect() as conn:
            for kind, cutoff in cutoffs.items():
                counts[kind] = int(
                    conn.execute(
                        select(func.count())
                        .select_from(_R)
                        .where(
                            _R.c.site_id == site_id,
                            _R.c.kind == kind,
                            _R.c.ts < cutoff,
                            _R.c.salt.is_not(None),
                        )
                    ).scalar_one()
                )
    except SQLAlchemyError as exc:
        raise StorageError(f"planning the purge failed: {exc}") from None
    return PurgePlan(now, cutoffs, counts)


def check_approver(engine: Engine, site_id: str, username: str | None) -> str:
    """The approver's username if it is an enabled chief account of the site; else refuse."""
    if not username:
        raise PurgeRefused(
            "a purge needs an approver: set audit.retention.approved_by to a chief account"
        )
    with Session(engine) as session:
        account = session.exec(
            sm_select(Account).where(Account.site_id == site_id, Account.username == username)
        ).first()
    if account is None or not account.enabled or account.role != APPROVER_ROLE:
        raise PurgeRefused(f"{username!r} is not an enabled {APPROVER_ROLE} account of {site_id}")
    return username


def carry_out(engine: Engine, site_id: str, plan: PurgePlan, purge_seq: int) -> int:
    """Blank the planned records, naming the purge record ``purge_seq``; returns how many."""
    done = 0
    postgres = engine.dialect.name == "postgresql"
    try:
        with engine.connect() as conn:
            for kind, cutoff in plan.cutoffs.items():
                if not plan.counts.get(kind):
                    continue
                while True:
                    seqs = _due(conn, site_id, kind, cutoff, purge_seq)
                    if not seqs:
                        break
                    done += _blank(conn, site_id, seqs, purge_seq, postgres=postgres)
                    conn.commit()
    except SQLAlchemyError as exc:
        raise StorageError(f"purge stopped after {done} records: {exc}") from None
    return done


def _due(conn: Connection, site_id: str, kind: str, cutoff: datetime, purge_seq: int) -> list[int]:
    """The next chunk of seqs of ``kind`` due for purging."""
    rows = conn.execute(
        select(_R.c.seq)
        .where(
            _R.c.site_id == site_id,
            _R.c.kind == kind,
            _R.c.ts < cutoff,
            _R.c.salt.is_not(None),
            _R.c.seq < purge_seq,
        )
        .order_by(_R.c.seq)
        .limit(CHUNK)
    ).all()
    return [int(r[0]) for r in rows]


def _blank(
    conn: Connection, site_id: str, seqs: list[int], purge_seq: int, *, postgres: bool
) -> int:
    """Blank the personal fields and salt of ``seqs``."""
    if postgres:
        result = conn.execute(
            text("SELECT record_purge(:site, :purge, :seqs)"),
            {"site": site_id, "purge": purge_seq, "seqs": seqs},
        ).scalar_one()
        return int(result)
    result = conn.execute(
        update(_R)
        .where(_R.c.site_id == site_id, _R.c.seq.in_(seqs), _R.c.salt.is_not(None))
        .values(
            person_id=None, credential=None, actor=None, detail={}, salt=None, purged_by=purge_seq
        )
    )
    return int(result.rowcount)


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """What a purge did."""

    purge_seq: int | None  # the audit.purge record, None when nothing was due
    purged: int
    plan: PurgePlan


def purge_blocking(
    engine: Engine,
    site_id: str,
    policy: RetentionConfig,
    *,
    approver: str | None,
    now: datetime,
    append: Callable[[NewRecord], int],
) -> PurgeResult:
    """Plan, record and carry out a purge from a thread that may block (the CLI)."""
    who = check_approver(engine, site_id, approver or policy.approved_by)
    plan = plan_purge(engine, site_id, policy, now)
    if plan.total == 0:
        return PurgeResult(None, 0, plan)
    purge_seq = append(plan.record(who))
    return PurgeResult(purge_seq, carry_out(engine, site_id, plan, purge_seq), plan)


async def purge(
    engine: Engine,
    site_id: str,
    policy: RetentionConfig,
    *,
    approver: str | None,
    now: datetime,
    append: Callable[[NewRecord], Awaitable[int]],
) -> PurgeResult:
    """Plan, record and carry out a purge from the event loop (the gateway's schedule)."""
    who = await asyncio.to_thread(check_approver, engine, site_id, approver or policy.approved_by)
    plan = await asyncio.to_thread(plan_purge, engine, site_id, policy, now)
    if plan.total == 0:
        return PurgeResult(None, 0, plan)
    purge_seq = await append(plan.record(who))
    purged = await asyncio.to_thread(carry_out, engine, site_id, plan, purge_seq)
    return PurgeResult(purge_seq, purged, plan)
