"""Reading evidence back for the API: the record vouches for the picture (4-8-6(4)(10)).

A picture is served only through the record that names it: the record's ``detail`` holds the
file and its SHA-256, the file must open with the site's key under its own name, and the
decrypted bytes must hash to what the log says. A record whose personal fields retention has
purged names no picture any more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from gateway.cameras import clip
from gateway.cameras.store import EvidenceStore
from gateway.records import RecordKind
from gateway.storage.models import RECORD_TABLE
from gateway.storage.queries import get_record

_R = RECORD_TABLE
ITEMS = ("snapshot", "clip")
_CONTENT = {"snapshot": "image/jpeg", "clip": clip.CONTENT_TYPE}
_EVIDENCE_KINDS = (RecordKind.CAMERA_SNAPSHOT.value, RecordKind.CAMERA_CLIP.value)
_WINDOW = timedelta(hours=1)  # evidence of a record is taken within seconds of it


class NoEvidence(LookupError):
    """The record does not exist, or names no picture of that kind."""


class EvidencePurged(LookupError):
    """The record's personal fields were purged by retention: its picture is gone with them."""


@dataclass(frozen=True, slots=True)
class EvidenceRef:
    """A picture a record names, as the API lists it."""

    seq: int  # the record naming the picture
    kind: str  # that record's kind
    item: str  # "snapshot" or "clip"
    camera_id: str | None
    for_seq: int | None  # the record it is evidence of (None: the record itself is the event)
    ts: datetime
    sha256: str | None
    bytes: int | None
    missing: str | None  # why there is no picture, when there is none

    def as_dict(self) -> dict[str, object]:
        """Plain JSON."""
        return {
            "seq": self.seq,
            "kind": self.kind,
            "item": self.item,
            "camera_id": self.camera_id,
            "for_seq": self.for_seq,
            "ts": self.ts.isoformat(),
            "sha256": self.sha256,
            "bytes": self.bytes,
            "missing": self.missing,
        }


@dataclass(frozen=True, slots=True)
class Picture:
    """A decrypted, verified picture and what it is."""

    ref: EvidenceRef
    content_type: str
    data: bytes


def _refs(seq: int, kind: str, ts: datetime, d: dict[str, object]) -> list[EvidenceRef]:
    """The pictures (or the missing ones) a record names."""
    camera = d.get("camera")
    for_seq = d.get("for_seq")
    out = []
    for item in ITEMS:
        found = d.get(item)
        if isinstance(found, dict):
            sha = found.get("sha256")
            size = found.get("bytes")
            out.append(
                EvidenceRef(
                    seq,
                    kind,
                    item,
                    camera if isinstance(camera, str) else None,
                    for_seq if isinstance(for_seq, int) else None,
                    ts,
                    sha if isinstance(sha, str) else None,
                    size if isinstance(size, int) else None,
                    None,
                )
            )
    missing = d.get("missing")
    if not out and isinstance(missing, str):
        item = "clip" if kind == RecordKind.CAMERA_CLIP.value else "snapshot"
        out.append(
            EvidenceRef(
                seq,
                kind,
                item,
                camera if isinstance(camera, str) else None,
                for_seq if isinstance(for_seq, int) else None,
                ts,
                None,
                None,
                missing,
            )
        )
    return out


def _purged(engine: Engine, site_id: str, seq: int) -> bool:
    """True when retention has purged record ``seq``."""
    stmt = select(_R.c.purged_by).where(_R.c.site_id == site_id, _R.c.seq == seq)
    with engine.connect() as conn:
        return conn.execute(stmt).scalar() is not None


def read_picture(
    engine: Engine, store: EvidenceStore, site_id: str, seq: int, item: str
) -> Picture:
    """The picture record ``seq`` names, decrypted and checked; blocking.

    Raises NoEvidence, EvidencePurged, ``store.EvidenceMissing`` (the file is gone) or
    ``crypto.EvidenceTampered`` (it does not open, or does not match the record's SHA-256).
    """
    if item not in ITEMS:
        raise NoEvidence(f"no such picture kind {item!r}")
    with engine.connect() as conn:
        rec = get_record(conn, site_id, seq)
    if rec is None:
        raise NoEvidence(f"no record {seq}")
    found = rec.detail.get(item)
    if not isinstance(found, dict):
        if _purged(engine, site_id, seq):
            raise EvidencePurged(f"record {seq} was purged by retention")
        raise NoEvidence(f"record {seq} names no {item}")
    ref = next(r for r in _refs(rec.seq, rec.kind, rec.ts, rec.detail) if r.item == item)
    file, sha = found.get("file"), found.get("sha256")
    if not isinstance(file, str) or not isinstance(sha, str):
        raise NoEvidence(f"record {seq} names no {item} file")
    return Picture(ref, _CONTENT[item], store.load(file, sha))


def evidence_of(engine: Engine, site_id: str, seq: int) -> list[EvidenceRef]:
    """Every picture taken for record ``seq`` (and any it carries itself); blocking."""
    with engine.connect() as conn:
        rec = get_record(conn, site_id, seq)
        if rec is None:
            raise NoEvidence(f"no record {seq}")
        stmt = (
            select(_R.c.seq, _R.c.kind, _R.c.ts, _R.c.detail)
            .where(
                _R.c.site_id == site_id,
                _R.c.kind.in_(_EVIDENCE_KINDS),
                _R.c.ts >= rec.ts,
                _R.c.ts <= rec.ts + _WINDOW,
                _R.c.seq > seq,
            )
            .order_by(_R.c.seq)
        )
        out = _refs(rec.seq, rec.kind, rec.ts, rec.detail)
        for s, kind, ts, detail in conn.execute(stmt):
            if isinstance(detail, dict) and detail.get("for_seq") == seq:
                out.extend(_refs(int(s), str(kind), ts, detail))
    return out
