"""Login lock-out, counted from the record log itself so that it survives restarts.

A username is locked while it has ``max_failures`` counted failed logins within the last
``window`` and after its last successful login. Attempts refused because of the lock are
recorded too, but are not counted, so a lock ends ``window`` after the failures that caused it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func
from sqlmodel import Session, col, select

from gateway.records import RecordKind
from gateway.storage.models import Record


class LoginFailure(StrEnum):
    """Why a login failed: the ``reason`` of its LOGIN_FAILED record (never sent to clients)."""

    UNKNOWN_ACCOUNT = "unknown_account"
    BAD_PASSWORD = "bad_password"  # noqa: S105  (a reason code, not a password)
    ACCOUNT_DISABLED = "account_disabled"
    INVALID_USERNAME = "invalid_username"  # not even a possible username
    LOCKED_OUT = "locked_out"  # refused because of earlier failures; not counted


COUNTED = (
    LoginFailure.UNKNOWN_ACCOUNT,
    LoginFailure.BAD_PASSWORD,
    LoginFailure.ACCOUNT_DISABLED,
    LoginFailure.INVALID_USERNAME,
)


def is_locked(
    session: Session,
    site_id: str,
    actor: str,
    *,
    now: datetime,
    max_failures: int,
    window: timedelta,
) -> bool:
    """True when ``actor`` (a username as recorded) may not log in now."""
    last_success = session.exec(
        select(func.max(Record.seq)).where(
            Record.site_id == site_id,
            Record.kind == RecordKind.LOGIN.value,
            Record.actor == actor,
        )
    ).one()
    stmt = select(func.count()).where(
        Record.site_id == site_id,
        Record.kind == RecordKind.LOGIN_FAILED.value,
        Record.actor == actor,
        col(Record.reason).in_([r.value for r in COUNTED]),
        Record.ts >= now - window,
    )
    if last_success is not None:
        stmt = stmt.where(Record.seq > last_success)
    return session.exec(stmt).one() >= max_failures
