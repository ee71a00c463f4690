"""Operator records: every change made through the API goes into the log (4-8-6(4)).

What goes in is chosen by the caller; it must never be a PIN, a password, a hash or a full
card number (use ``CardId.masked``). ``scrub`` makes the values JSON-safe.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from enum import Enum

from api.core_bridge import CoreBridge
from gateway.records import NewRecord, RecordKind

logger = logging.getLogger(__name__)

Json = str | int | float | bool | None | list["Json"] | dict[str, "Json"]


def scrub(value: object) -> Json:
    """A JSON-safe copy: datetimes as ISO 8601 UTC, enums as their values."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat()
    if isinstance(value, Enum):
        return scrub(value.value)
    if isinstance(value, dict):
        return {str(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def record_action(
    core: CoreBridge,
    *,
    actor: str,
    action: str,
    target: str,
    changes: dict[str, object],
    person_id: str | None = None,
    person_kind: str | None = None,
    zone_id: str | None = None,
    credential: str | None = None,
) -> int:
    """Write an OPERATOR record for ``action`` on ``target``; returns its seq."""
    rec = NewRecord(
        kind=RecordKind.OPERATOR,
        ts=datetime.now(UTC),
        actor=actor,
        person_id=person_id,
        person_kind=person_kind,
        zone_id=zone_id,
        credential=credential,
        detail={"action": action, "target": target, "changes": scrub(changes)},
    )
    seq = core.record(rec)
    logger.info("%s on %s by %s: record %d", action, target, actor, seq)
    return seq
