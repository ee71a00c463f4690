"""The visitor log's passages, derived from the access records (NIST SP 800-53 PE-8).

Entry and exit times and the escort of each entry are not typed in by anyone: they are read
from the records the doors wrote (``door.access_taken`` with its ``escorted_by``, and exits by
request-to-exit attributed to the visitor, ``zone.exit_attributed``), so the log cannot say
other than the doors did (4-8-7(1) 入退の記録).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from gateway.records import RecordKind
from gateway.storage.queries import StoredRecord
from gateway.visits.model import Passage

PASSAGE_KINDS = (RecordKind.ACCESS_TAKEN.value, RecordKind.ZONE_EXIT_ATTRIBUTED.value)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def escort_of(r: StoredRecord) -> str | None:
    """The escort an access record names, if any."""
    escort = r.detail.get("escorted_by")
    return escort if isinstance(escort, str) else None


def escorts_in(records: Iterable[StoredRecord]) -> set[str]:
    """Every escort the records name (to look their names up)."""
    return {e for r in records if (e := escort_of(r)) is not None}


def passages(records: Sequence[StoredRecord], names: Mapping[str, str]) -> tuple[Passage, ...]:
    """A person's stays in zones in time order; ``records`` are theirs, oldest first.

    An entry with no exit yet stays open (exit None); an exit with no recorded entry (the
    person tailgated in, or went in before the log's window) has no entry time.
    """
    done: list[Passage] = []
    open_: dict[str, Passage] = {}
    for r in records:
        zone = r.zone_id or ""
        if r.kind == RecordKind.ACCESS_TAKEN.value and r.direction == "in":
            if zone in open_:
                done.append(open_.pop(zone))  # in again without a recorded exit
            escort = escort_of(r)
            open_[zone] = Passage(
                zone, r.ts, r.door_id, escort, names.get(escort) if escort else None
            )
            continue
        if r.kind == RecordKind.ACCESS_TAKEN.value and r.direction != "out":
            continue
        by = "rex" if r.kind == RecordKind.ZONE_EXIT_ATTRIBUTED.value else "badge"
        entry = open_.pop(zone, None) or Passage(zone, None, None, None, None)
        done.append(
            Passage(
                entry.zone_id,
                entry.entered_at,
                entry.entry_door,
                entry.escort_id,
                entry.escort_name,
                r.ts,
                r.door_id,
                by,
            )
        )
    done.extend(open_.values())
    return tuple(sorted(done, key=lambda p: p.entered_at or p.exited_at or _EPOCH))
