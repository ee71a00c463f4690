"""What a record's leaf commits to: its RFC 8785 canonical JSON, salted and hashed.

The canonical JSON holds every field of the record (site id, seq, ts as RFC 3339 UTC with
microseconds, kind, door, zone, reader, person, person kind, masked credential, direction,
outcome, reason, actor, detail), nulls included. The Merkle leaf's entry is the *commitment*

    commitment = SHA-256(salt || canonical JSON)        salt: 16 random bytes per record

so that once retention ends, the personal fields and the salt can be deleted while the
commitment — and with it every proof — stays; without the salt, the commitment gives nothing
of the deleted fields away.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from json.encoder import encode_basestring  # C-accelerated, no ASCII escaping
from typing import Any, Final

from gateway.audit.jcs import MAX_SAFE_INTEGER, NotCanonicalizable, canonical

SALT_SIZE: Final = 16

# Text fields of the record in the order of the canonical JSON (RFC 8785 sorts member names).
ENTRY_FIELDS: Final = (
    "actor",
    "credential",
    "detail",
    "direction",
    "door_id",
    "kind",
    "outcome",
    "person_id",
    "person_kind",
    "reader_id",
    "reason",
    "seq",
    "site_id",
    "ts",
    "zone_id",
)
# Columns blanked by a retention purge: who, with which card, and whatever the detail said.
PERSONAL_FIELDS: Final = ("person_id", "credential", "actor", "detail")


def new_salt() -> bytes:
    """A fresh random salt for one record."""
    return os.urandom(SALT_SIZE)


def ts_text(ts: datetime) -> str:
    """``ts`` as RFC 3339 UTC with microseconds, e.g. ``2026-11-26T00:30:15.123456Z``."""
    if ts.utcoffset() is None:
        raise ValueError(f"record ts must be timezone-aware, got {ts!r}")
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sqlite_ts_text(stored: str) -> str:
    """The canonical ts of a SQLite DATETIME text (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC)."""
    if len(stored) == 26 and stored[10] == " " and stored[19] == ".":
        return f"{stored[:10]}T{stored[11:]}Z"
    return ts_text(datetime.fromisoformat(stored).replace(tzinfo=UTC))


def detail_text(detail: object) -> str:
    """Canonical JSON of a record's detail (a JSON object)."""
    if not isinstance(detail, dict):
        raise NotCanonicalizable(f"record detail must be an object, got {type(detail).__name__}")
    if not detail:
        return "{}"
    return _flat_text(detail) or canonical(detail)


def _flat_text(detail: dict[object, object]) -> str | None:
    """The common case fast: ASCII names, values text, safe integers, booleans or null.

    ASCII names sort the same by code point as by UTF-16 code unit (RFC 8785); anything else
    returns None and takes the general path.
    """
    names = []
    for key in detail:
        if not isinstance(key, str) or not key.isascii():
            return None
        names.append(key)
    parts = []
    for key in sorted(names):
        value = detail[key]
        if isinstance(value, str):
            text = encode_basestring(value)
        elif value is None:
            text = "null"
        elif value is True:
            text = "true"
        elif value is False:
            text = "false"
        elif isinstance(value, int) and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            text = str(value)
        else:
            return None
        parts.append(f"{encode_basestring(key)}:{text}")
    return "{" + ",".join(parts) + "}"


def _s(value: object) -> str:
    """A nullable text field as canonical JSON."""
    if value is None:
        return "null"
    if not isinstance(value, str):
        raise NotCanonicalizable(f"record field holds {type(value).__name__}, not text")
    return str(encode_basestring(value))


def canonical_entry(
    site_id: str, seq: int, ts: str, fields: Mapping[str, Any], detail: str
) -> bytes:
    """The canonical JSON bytes of one record; ``ts`` and ``detail`` already canonical text."""
    f = fields
    return entry_bytes(
        f["actor"],
        f["credential"],
        detail,
        f["direction"],
        f["door_id"],
        f["kind"],
        f["outcome"],
        f["person_id"],
        f["person_kind"],
        f["reader_id"],
        f["reason"],
        seq,
        site_id,
        ts,
        f["zone_id"],
    )


def entry_bytes(  # noqa: PLR0917  (the hot path of full verification: positional on purpose)
    actor: object,
    credential: object,
    detail: str,
    direction: object,
    door_id: object,
    kind: object,
    outcome: object,
    person_id: object,
    person_kind: object,
    reader_id: object,
    reason: object,
    seq: int,
    site_id: object,
    ts: str,
    zone_id: object,
) -> bytes:
    """Canonical JSON bytes from the record's values in member-name order."""
    text = (
        f'{{"actor":{_s(actor)},"credential":{_s(credential)},"detail":{detail},'
        f'"direction":{_s(direction)},"door_id":{_s(door_id)},"kind":{_s(kind)},'
        f'"outcome":{_s(outcome)},"person_id":{_s(person_id)},'
        f'"person_kind":{_s(person_kind)},"reader_id":{_s(reader_id)},'
        f'"reason":{_s(reason)},"seq":{int(seq)},"site_id":{_s(site_id)},"ts":"{ts}",'
        f'"zone_id":{_s(zone_id)}}}'
    )
    try:
        return text.encode()
    except UnicodeEncodeError:
        raise NotCanonicalizable("record text holds a lone surrogate") from None


def commitment(salt: bytes, entry: bytes) -> bytes:
    """SHA-256(salt || canonical JSON): the entry the record's Merkle leaf hashes."""
    return hashlib.sha256(salt + entry).digest()


def record_commitment(params: Mapping[str, Any], salt: bytes) -> bytes:
    """The commitment of a record given as insert parameters (site_id, seq, ts, ... detail)."""
    entry = canonical_entry(
        params["site_id"],
        params["seq"],
        ts_text(params["ts"]),
        params,
        detail_text(params["detail"]),
    )
    return commitment(salt, entry)
