"""Operator records: every change made through the API goes into the log (4-8-6(4)).

A route stages the record of its change before committing (:func:`stage_action`), so that
change and record commit together, and writes it after the commit (:func:`write_staged`)::

    stage_action(session, site_id=caller.site_id, actor=..., action=..., target=..., ...)
    session.commit()
    write_staged(session, core)

What goes in is chosen by the caller; it must never be a PIN, a password, a hash or a full
card number (use ``CardId.masked``). ``scrub`` makes the values JSON-safe.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from enum import Enum
from typing import TypedDict, Unpack

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from api.core_bridge import CoreBridge
from gateway.intents import forget, stage, take_staged
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


class ActionFields(TypedDict, total=False):
    """The optional columns of an operator record."""

    person_id: str | None
    person_kind: str | None
    zone_id: str | None
    credential: str | None


def _action(
    *,
    actor: str,
    action: str,
    target: str,
    changes: dict[str, object],
    **fields: Unpack[ActionFields],
) -> NewRecord:
    """The OPERATOR record of ``action`` on ``target``, timed now (``fields``: its columns)."""
    return NewRecord(
        kind=RecordKind.OPERATOR,
        ts=datetime.now(UTC),
        actor=actor,
        detail={"action": action, "target": target, "changes": scrub(changes)},
        **fields,
    )


def stage_action(
    session: Session,
    *,
    site_id: str,
    actor: str,
    action: str,
    target: str,
    changes: dict[str, object],
    **fields: Unpack[ActionFields],
) -> None:
    """Stage the OPERATOR record of a change in the change's session (before its commit)."""
    stage(
        session,
        site_id,
        _action(actor=actor, action=action, target=target, changes=changes, **fields),
    )


def write_staged(session: Session, core: CoreBridge) -> list[int]:
    """After the commit: append the staged records (awaited), delete their rows; the seqs.

    A record the log cannot take now is held by the core and retried; its row stays.
    """
    seqs: list[int] = []
    done: list[int] = []
    for intent, rec in take_staged(session):
        seq = core.record_intent(rec)
        what = (rec.detail.get("action"), rec.detail.get("target"), rec.actor)
        if seq is None:
            logger.error("%s on %s by %s: record held for retry (intent %d)", *what, intent)
            continue
        logger.info("%s on %s by %s: record %d", *what, seq)
        seqs.append(seq)
        done.append(intent)
    if done:
        try:
            forget(session, done)
            session.commit()
        except SQLAlchemyError as exc:
            session.rollback()
            logger.warning("pending records %s not deleted (%s); the next start does", done, exc)
    return seqs


def record_action(
    core: CoreBridge,
    *,
    actor: str,
    action: str,
    target: str,
    changes: dict[str, object],
    **fields: Unpack[ActionFields],
) -> int:
    """Write the OPERATOR record of an action that changes no data (an export); its seq."""
    seq = core.record(_action(actor=actor, action=action, target=target, changes=changes, **fields))
    logger.info("%s on %s by %s: record %d", action, target, actor, seq)
    return seq
