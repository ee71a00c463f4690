"""Evidence files go when the records that carry them are purged (4-8-6(3), personal data).

Retention is issue 4's: a chief-approved ``audit.purge`` record names, per record kind, the
cutoff before which records lose their personal fields. A picture is personal data, so its file
follows its record: a file of kind K stamped before K's cutoff is deleted once its record (same
kind, same ``ts``) has been purged, or when no record names it at all (written, then the
gateway stopped before the record was). Nothing else deletes evidence. Each sweep that deletes
files is itself recorded (``camera.evidence_purged``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select

from gateway.cameras.store import EvidenceStore
from gateway.records import RecordKind
from gateway.storage.models import RECORD_TABLE

_R = RECORD_TABLE


@dataclass(frozen=True, slots=True)
class EvidencePurge:
    """What a sweep removed."""

    files: int
    per_kind: dict[str, int]
    purge_seq: int | None  # the newest audit.purge record it acted on


def purge_cutoffs(engine: Engine, site_id: str) -> tuple[dict[str, datetime], int | None]:
    """Per kind, the latest cutoff any retention purge applied; and that purge's seq."""
    stmt = (
        select(_R.c.seq, _R.c.detail)
        .where(_R.c.site_id == site_id, _R.c.kind == RecordKind.AUDIT_PURGE.value)
        .order_by(_R.c.seq)
    )
    cutoffs: dict[str, datetime] = {}
    newest: int | None = None
    with engine.connect() as conn:
        for seq, detail in conn.execute(stmt):
            raw = detail.get("cutoffs") if isinstance(detail, dict) else None
            if not isinstance(raw, dict):
                continue
            newest = int(seq)
            for kind, text in raw.items():
                try:
                    cut = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
                except ValueError:
                    continue
                if kind not in cutoffs or cut > cutoffs[kind]:
                    cutoffs[kind] = cut
    return cutoffs, newest


def _purged_times(
    engine: Engine, site_id: str, kind: str, first: datetime, last: datetime
) -> dict[datetime, bool]:
    """For records of ``kind`` stamped in [first, last]: ts → purged already."""
    stmt = select(_R.c.ts, _R.c.purged_by).where(
        _R.c.site_id == site_id, _R.c.kind == kind, _R.c.ts >= first, _R.c.ts <= last
    )
    out: dict[datetime, bool] = {}
    with engine.connect() as conn:
        for ts, purged_by in conn.execute(stmt):
            out[ts] = out.get(ts, True) and purged_by is not None
    return out


def purge_evidence(engine: Engine, site_id: str, store: EvidenceStore) -> EvidencePurge:
    """Delete the files whose records retention has purged; blocking (a worker thread)."""
    cutoffs, purge_seq = purge_cutoffs(engine, site_id)
    per_kind: dict[str, int] = defaultdict(int)
    for kind in store.kinds():
        cutoff = cutoffs.get(kind)
        if cutoff is None:
            continue
        files = store.files(kind, cutoff)
        if not files:
            continue
        purged = _purged_times(engine, site_id, kind, files[0][1].ts, files[-1][1].ts)
        for rel, name in files:
            if purged.get(name.ts, True) and store.delete(rel):
                per_kind[kind] += 1
    return EvidencePurge(sum(per_kind.values()), dict(per_kind), purge_seq)
